// The `openapi` self-descriptions (contract version 1, docs/architecture.md) of this package's
// authenticators and guards, from which @bulwark/openapi builds security schemes and requirements.

/** Attaches a frozen description as `fn.openapi`. */
export function withOpenApi<F extends object>(description: object, fn: F): F {
  return Object.assign(fn, { openapi: Object.freeze(description) });
}

const challenge = (text: string) => ({
  'WWW-Authenticate': { description: text, schema: { type: 'string' } },
});

const UNAUTHORIZED = Object.freeze({
  status: 401,
  code: 'unauthorized',
  title: 'the credentials are missing, invalid or expired.',
  headers: challenge('The authentication scheme to use, or why the token was refused.'),
});

const FORBIDDEN = Object.freeze({
  status: 403,
  code: 'forbidden',
  title: 'the caller lacks the permission or the scope the route requires.',
  headers: challenge('`Bearer error="insufficient_scope"`.'),
});

const retryAfter = {
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' } },
};

const BEARER = Object.freeze({
  name: 'bearer',
  scheme: Object.freeze({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }),
});

const apiKeyScheme = (header: string) =>
  Object.freeze({
    name: 'apiKey',
    scheme: Object.freeze({ type: 'apiKey', in: 'header', name: header }),
  });

const cookieScheme = (cookie: string) =>
  Object.freeze({
    name: 'sessionCookie',
    scheme: Object.freeze({ type: 'apiKey', in: 'cookie', name: cookie }),
  });

/** `authenticate()`: a Bearer JWT, a session cookie holding a JWT and/or an API key header. */
export function authenticateDescription(
  jwt: boolean,
  apiKeyHeader: string | undefined,
  optional: boolean,
  sessionCookie?: string,
) {
  const schemes = [
    ...(jwt ? [BEARER] : []),
    ...(sessionCookie ? [cookieScheme(sessionCookie)] : []),
    ...(apiKeyHeader ? [apiKeyScheme(apiKeyHeader)] : []),
  ];
  return {
    version: 1,
    kind: 'authenticate',
    schemes: Object.freeze(schemes),
    optional,
    problems: Object.freeze([
      UNAUTHORIZED,
      ...(apiKeyHeader
        ? [
            {
              status: 503,
              code: 'auth_unavailable',
              title: 'API keys cannot be checked right now.',
              headers: retryAfter,
            },
          ]
        : []),
    ]),
  };
}

/** `staticApiKeys()`: an API key header. */
export function staticKeysDescription(header: string) {
  return {
    version: 1,
    kind: 'authenticate',
    schemes: Object.freeze([apiKeyScheme(header)]),
    optional: false,
    problems: Object.freeze([UNAUTHORIZED]),
  };
}

/** `basicAuth()`: HTTP Basic. */
export function basicAuthDescription() {
  return {
    version: 1,
    kind: 'authenticate',
    schemes: Object.freeze([
      { name: 'basic', scheme: Object.freeze({ type: 'http', scheme: 'basic' }) },
    ]),
    optional: false,
    problems: Object.freeze([UNAUTHORIZED]),
  };
}

const PERMISSION_PROBLEMS = Object.freeze([
  UNAUTHORIZED,
  FORBIDDEN,
  {
    status: 503,
    code: 'permissions_unavailable',
    title: 'the caller’s permissions cannot be loaded right now.',
    headers: retryAfter,
  },
]);

/** `requirePermission()` (`all`) and `requireAnyPermission()` (`any`). */
export function permissionDescription(permissions: readonly string[], mode: 'all' | 'any') {
  return {
    version: 1,
    kind: 'permission',
    permissions: Object.freeze([...permissions]),
    mode,
    problems: PERMISSION_PROBLEMS,
  };
}

/** `requireCustomer()` and `requireOperator()`, from the scope they require (`scope:customer`). */
export function scopeDescription(required: string) {
  return {
    version: 1,
    kind: 'scope',
    scope: required === 'scope:operator' ? 'operator' : 'customer',
    problems: Object.freeze([UNAUTHORIZED, FORBIDDEN]),
  };
}
