// The `openapi` self-descriptions (contract version 1, docs/architecture.md) of the perimeter
// middleware that answers errors itself, from which @bulwark/openapi documents those answers.

interface Problem {
  status: number;
  code: string;
  title: string;
  headers?: Readonly<Record<string, { description: string; schema: { type: string } }>>;
}

/** Attaches a frozen description as `fn.openapi`. */
export function withOpenApi<F extends object>(description: object, fn: F): F {
  return Object.assign(fn, { openapi: Object.freeze(description) });
}

const problem = (
  status: number,
  code: string,
  title: string,
  headers?: Problem['headers'],
): Problem => Object.freeze({ status, code, title, ...(headers ? { headers } : {}) });

const INVALID_HOST = problem(
  400,
  'invalid_host',
  'the request is addressed to a host the API does not serve.',
);

/** `trustedHosts()`: its 400 for a host that is not listed. */
export function trustedHostsDescription() {
  return { version: 1, kind: 'trusted-hosts', problems: Object.freeze([INVALID_HOST]) };
}

const RETRY_AFTER = Object.freeze({
  'Retry-After': Object.freeze({
    description: 'Seconds until the client may try again.',
    schema: Object.freeze({ type: 'integer' }),
  }),
});

/** `requestTimeout()`: its 503, with `Retry-After` when `retryAfter` is set. */
export function requestTimeoutDescription(ms: number, retryAfter: boolean) {
  return {
    version: 1,
    kind: 'request-timeout',
    ms,
    problems: Object.freeze([
      problem(
        503,
        'request_timeout',
        'the handler did not answer within the deadline.',
        retryAfter ? RETRY_AFTER : undefined,
      ),
    ]),
  };
}

const NOT_FOUND = problem(
  404,
  'not_found',
  'no such route, the same answer as for a path that does not exist.',
);
const IP_NOT_ALLOWED = problem(
  403,
  'ip_not_allowed',
  'the client’s address is outside every allowed range.',
);

/** `ipAllowlist()`: its 404 (the default, hiding the route) or 403. */
export function ipAllowlistDescription(status: 403 | 404) {
  return {
    version: 1,
    kind: 'ip-allowlist',
    problems: Object.freeze([status === 404 ? NOT_FOUND : IP_NOT_ALLOWED]),
  };
}

const CSRF_REJECTED = problem(
  403,
  'csrf_rejected',
  'an unsafe request (POST, PUT, PATCH, DELETE, ...) came from another site.',
);

/** `csrfProtection()`: its 403 for a cross-site request with an unsafe method. */
export function csrfProtectionDescription(safeMethods: ReadonlySet<string>) {
  return {
    version: 1,
    kind: 'csrf-protection',
    safeMethods: Object.freeze([...safeMethods]),
    problems: Object.freeze([CSRF_REJECTED]),
  };
}

/** `overloadGuard()`: its 503 while the process is past a limit, always with `Retry-After`. */
export function overloadGuardDescription() {
  return {
    version: 1,
    kind: 'overload-guard',
    problems: Object.freeze([
      problem(503, 'overloaded', 'the server is past its load limits; retry later.', RETRY_AFTER),
    ]),
  };
}

/** `reportCollector()`: the answers it gives to report bodies it refuses. */
export function reportCollectorDescription() {
  return {
    version: 1,
    kind: 'report-collector',
    problems: Object.freeze([
      problem(400, 'invalid_report', 'the body is not JSON, or not a report.'),
      problem(413, 'report_too_large', 'the body is larger than the collector takes.'),
      problem(413, 'too_many_reports', 'the body holds more reports than the collector takes.'),
      problem(415, 'unsupported_media_type', 'the body is not a report media type.'),
      problem(
        429,
        'report_rate_limited',
        'this client sent more reports than its window allows.',
        RETRY_AFTER,
      ),
    ]),
  };
}
