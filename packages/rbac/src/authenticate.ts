// The `authenticate` middleware: a Bearer JWT, a session cookie and/or an API key header, to `req.auth`.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import createError from 'http-errors';
import {
  checkOptionNames,
  checkOptionsObject,
  checkRealm,
  defined,
  RbacConfigError,
  show,
} from './errors.js';
import {
  type AuditSink,
  authFailure,
  authSuccess,
  type RequestState,
  warn,
  warnThrottled,
} from './events.js';
import {
  claimsIdentityProblem,
  type IdentityProblem,
  identityFix,
  identityProblemText,
  keyIdentityProblem,
  received,
} from './identity-check.js';
import { createJwtVerifier, type JwtOptions, type JwtResult, type JwtVerified } from './jwt.js';
import { authenticateDescription, withOpenApi } from './openapi.js';
import { CACHED_PERMISSIONS } from './permission-store.js';
import { isGrant } from './permissions.js';
import { checkCookieName, readCookie } from './session-cookie.js';
import { VERIFY_NOW } from './static-keys.js';
import type { ApiKeyIdentity, ApiKeyVerifier, AuthContext, Logger } from './types.js';

/**
 * Loads a subject's grants, e.g. `createPermissionStore()`. An operator's grants are asked for
 * with `tenantId` `null` (grants for every tenant only), whatever tenant the token names.
 */
export interface PermissionSource {
  permissionsFor(subject: string, tenantId: string | null): Promise<readonly string[]>;
}

/** What `mapClaims` returns: the parts of `req.auth` taken from a verified token. */
export interface ClaimsIdentity {
  tenantId?: string | null;
  scope?: 'customer' | 'operator';
  permissions?: readonly string[];
}

export interface AuthenticateOptions {
  /** Accept `Authorization: Bearer <jwt>`. See `JwtOptions`; `algorithms`, `issuer`, `audience` are required. */
  jwt?: JwtOptions;
  /** Accept an API key in `apiKeyHeader`: `createApiKeys()` or `staticApiKeys()`. */
  apiKeys?: ApiKeyVerifier;
  /** Header carrying the API key. Default `'x-api-key'`. */
  apiKeyHeader?: string;
  /**
   * Name of a cookie carrying the JWT, for browser pages: read only when a request has neither an
   * `Authorization` nor an API key header, verified like a Bearer token (`via: 'cookie'`). Needs
   * `jwt`, and CSRF protection in front of unsafe methods. Prefer a `__Host-` name. Default: none.
   */
  sessionCookie?: string;
  /**
   * Maps verified claims to tenant, scope and permissions. Default: `tenant_id` is the tenant,
   * `scope_type: 'operator'` makes an operator (anything else absent means customer), and a
   * `permissions` array of strings is taken as the grants.
   *
   * Its result is remembered with the token in the verified-token cache (a static `jwt` key):
   * a token sent again is not mapped again until it expires or is evicted. It should therefore
   * depend on the claims alone; a check of changing state in it (a suspended tenant, a
   * deny-list) is not made again for a token already seen. Put revocable grants in a
   * `permissions` store, which is asked on every request, or set `jwt.verifiedCacheSize: 0` to
   * map every request.
   */
  mapClaims?: (claims: Readonly<Record<string, unknown>>) => ClaimsIdentity;
  /**
   * Loads permissions on first use by a guard; overrides permissions carried by a token. An
   * operator gets only the grants that apply in every tenant (`tenantId: null`), never a tenant's.
   */
  permissions?: PermissionSource;
  /** Let requests without any credentials through without `req.auth`. Bad credentials still get 401. Default `false`. */
  optional?: boolean;
  /** Audit log to record authentication failures and denials in. */
  audit?: AuditSink;
  /** winston-shaped logger for failures (info) and outages (warn). */
  logger?: Logger;
  /** Name the missing permissions in the 403 body's `details`. Default `false`. */
  exposeMissingPermissions?: boolean;
  /**
   * `realm` parameter of the `WWW-Authenticate` challenge: 1 to 128 printable ASCII characters
   * (`"` and `\` are dropped). Default: none.
   */
  realm?: string;
}

const NAMES = [
  'jwt',
  'apiKeys',
  'apiKeyHeader',
  'sessionCookie',
  'mapClaims',
  'permissions',
  'optional',
  'audit',
  'logger',
  'exposeMissingPermissions',
  'realm',
] as const;

/** How a request carried its JWT. */
type TokenVia = 'jwt' | 'cookie';

/** What a verified token gives `req.auth`, whichever way the token came. */
interface TokenIdentity {
  subject: string;
  tenantId: string | null;
  scope: 'customer' | 'operator';
  claims: Readonly<Record<string, unknown>>;
  permissions: readonly string[] | undefined;
}

const HEADER_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
const API_KEY_VALUE = /^[\x21-\x7e]{8,512}$/;
const BEARER = [0x62, 0x65, 0x61, 0x72, 0x65, 0x72]; // "bearer"

/** True when `value` is the scheme `Bearer` (any case) alone or followed by a space. */
function isBearer(value: string): boolean {
  if (value.length < 6 || (value.length > 6 && value.charCodeAt(6) !== 0x20)) return false;
  // Setting bit 0x20 lowers an ASCII capital; only the two cases of each letter map onto it.
  for (let i = 0; i < 6; i++) if ((value.charCodeAt(i) | 0x20) !== BEARER[i]) return false;
  return true;
}

/**
 * The credential after `Bearer` and one or more spaces, without trailing spaces; `undefined`
 * when there is none. Anything else it holds, such as inner whitespace, is not a token's
 * alphabet and is refused by the verifier as malformed.
 */
function bearerToken(value: string): string | undefined {
  let start = 6;
  while (start < value.length && value.charCodeAt(start) === 0x20) start++;
  let end = value.length;
  while (end > start && value.charCodeAt(end - 1) === 0x20) end--;
  return start === 6 || end === start ? undefined : value.slice(start, end);
}

// Keys carry no token: every request shares this one frozen empty object.
const NO_CLAIMS: Readonly<Record<string, unknown>> = Object.freeze({});

// A key's grants, for each frozen scope list a verifier hands out again and again (a static
// key's), worked out once; a list that is not frozen may change, and is read afresh each time.
const keyGrants = new WeakMap<readonly string[], readonly string[]>();
function grantsOfKey(scopes: readonly string[]): readonly string[] {
  if (!Object.isFrozen(scopes)) return Object.freeze(scopes.filter(isGrant));
  let grants = keyGrants.get(scopes);
  if (grants === undefined) {
    grants = Object.freeze(scopes.filter(isGrant));
    keyGrants.set(scopes, grants);
  }
  return grants;
}

/** The default claim mapping; see `AuthenticateOptions.mapClaims`. */
export function defaultMapClaims(claims: Readonly<Record<string, unknown>>): ClaimsIdentity {
  const tenant = claims.tenant_id;
  const scopeType = claims.scope_type ?? 'customer';
  const identity: ClaimsIdentity = {
    tenantId: typeof tenant === 'string' && tenant !== '' ? tenant : null,
  };
  // An unrecognised scope_type leaves scope unset, which authenticate refuses.
  if (scopeType === 'customer' || scopeType === 'operator') identity.scope = scopeType;
  if (Array.isArray(claims.permissions)) identity.permissions = claims.permissions as string[];
  return identity;
}

/**
 * Authenticates each request from a Bearer JWT, a session cookie holding a JWT and/or an API key
 * header and sets `req.auth`.
 * Failures answer 401 `unauthorized` with `WWW-Authenticate: Bearer` (no credentials) or
 * `Bearer error="invalid_token"`, a minimal message, and the reason only in logs, the
 * `bulwark:rbac:auth-failed` event and the audit log. Key-resolver failures are 401 too.
 *
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_*` for missing or unsafe options, each explained at
 * https://github.com/bulwark-js/bulwark/blob/main/docs/errors/rbac.md
 * @example
 * app.use(authenticate({
 *   jwt: { algorithms: ['RS256'], publicKey, issuer: 'https://auth.example.com/', audience: 'api' },
 *   apiKeys: createApiKeys({ db: pool, pepper }),
 *   permissions: createPermissionStore({ db: pool }),
 * }));
 */
export function authenticate(input: AuthenticateOptions): RequestHandler {
  checkOptionsObject('authenticate', input);
  checkOptionNames('authenticate', input, NAMES);
  const options = defined(input);
  if (options.jwt === undefined && options.apiKeys === undefined) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_NO_METHOD',
      'authenticate: neither `jwt` nor `apiKeys` is set, so nothing could ever authenticate. Give at least one.',
    );
  }
  const verifyJwt = options.jwt === undefined ? undefined : createJwtVerifier(options.jwt);
  const apiKeys = options.apiKeys;
  if (apiKeys !== undefined && typeof apiKeys?.verify !== 'function') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_API_KEYS',
      `authenticate: apiKeys must have a verify(key) method, received ${show(apiKeys)}. Pass createApiKeys() or staticApiKeys().`,
    );
  }
  const verifyKeyNow = (apiKeys as { [VERIFY_NOW]?: unknown } | undefined)?.[VERIFY_NOW] as
    | ((key: string) => ApiKeyIdentity | null | undefined)
    | undefined;
  const apiKeyHeader = (options.apiKeyHeader ?? 'x-api-key').toLowerCase();
  if (
    !HEADER_NAME.test(apiKeyHeader) ||
    apiKeyHeader === 'authorization' ||
    apiKeyHeader === 'cookie'
  ) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_API_KEY_HEADER',
      `authenticate: apiKeyHeader ${show(options.apiKeyHeader)} is not usable. Use a plain header name such as 'x-api-key'.`,
    );
  }
  const cookieName =
    options.sessionCookie === undefined
      ? undefined
      : checkCookieName('authenticate', options.sessionCookie);
  if (cookieName !== undefined && verifyJwt === undefined) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_SESSION_COOKIE',
      `authenticate: sessionCookie ${show(cookieName)} carries a JWT, but \`jwt\` is not set, so no cookie could ever be verified. Give the \`jwt\` options the tokens are signed for.`,
    );
  }
  for (const name of ['mapClaims'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_OPTIONS',
        `authenticate: ${name} must be a function, received ${show(options[name])}.`,
      );
    }
  }
  if (
    options.permissions !== undefined &&
    typeof options.permissions?.permissionsFor !== 'function'
  ) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `authenticate: permissions must have a permissionsFor(subject, tenantId) method, received ${show(options.permissions)}. Pass createPermissionStore().`,
    );
  }
  if (options.audit !== undefined && typeof options.audit?.record !== 'function') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `authenticate: audit must have a record(entry) method, received ${show(options.audit)}. Pass createAuditLog().`,
    );
  }
  const mapClaims = options.mapClaims ?? defaultMapClaims;
  const store = options.permissions;
  const realm =
    options.realm === undefined ? '' : ` realm="${checkRealm('authenticate', options.realm)}"`;
  const bare = verifyJwt ? `Bearer${realm}` : `ApiKey${realm}`.trimEnd();
  const invalidJwt = `Bearer${realm}${realm ? ',' : ''} error="invalid_token"`;
  const invalidKey = `ApiKey${realm}`;
  // A tenant grant is for work inside that tenant. An operator carrying a tenant id would
  // otherwise pass operator checks on that tenant's grants, such as a tenant admin's `*`.
  const grantTenant = (auth: AuthContext) => (auth.scope === 'operator' ? null : auth.tenantId);
  // createPermissionStore() can also answer from its cache synchronously; another source cannot.
  const cachedIn = (store as { [CACHED_PERMISSIONS]?: unknown } | undefined)?.[
    CACHED_PERMISSIONS
  ] as ((subject: string, tenantId: string | null) => readonly string[] | undefined) | undefined;
  const state: RequestState = {
    logger: options.logger,
    audit: options.audit,
    exposeMissing: options.exposeMissingPermissions === true,
    loadPermissions: store
      ? (auth) => store.permissionsFor(auth.subject, grantTenant(auth))
      : undefined,
    cachedPermissions:
      typeof cachedIn === 'function'
        ? (auth) => cachedIn(auth.subject, grantTenant(auth))
        : undefined,
  };
  const optional = options.optional === true;

  const fromJwt = (
    req: Request,
    token: string,
    via: TokenVia,
  ): Error | undefined | Promise<Error | undefined> => {
    const result = verifyJwt!(token);
    return result instanceof Promise
      ? result.then((r) => settleJwt(req, r, via))
      : settleJwt(req, result, via);
  };

  // Each kind of problem is warned about once: a mapping that cannot work fails every token.
  const warned = new Set<string>();
  const identityFailure = (
    req: Request,
    via: TokenVia | 'api-key',
    found: IdentityProblem,
    challenge: string,
    error?: unknown,
  ): Error => {
    const kind = `${found.source} ${found.field} ${found.problem}`;
    if (!warned.has(kind)) {
      warned.add(kind);
      warn(
        state.logger,
        'ERR_BULWARK_RBAC_CLAIMS',
        `authenticate: ${identityProblemText(found)}, so ${via === 'api-key' ? 'the key' : 'the token'} was refused with 401 (reason 'claims', field '${found.field}'). ${identityFix(found)}`,
        {
          field: found.field,
          problem: found.problem,
          expected: found.expected,
          received: found.received,
          source: found.source,
          ...(error === undefined
            ? {}
            : {
                error:
                  error instanceof Error
                    ? `${error.name}: ${error.message}`.slice(0, 200)
                    : received(error),
              }),
        },
      );
    }
    return authFailure(req, state, via, 'claims', challenge, {
      field: found.field,
      problem: found.problem,
      expected: found.expected,
      received: found.received,
    });
  };

  const settleJwt = (req: Request, result: JwtResult, via: TokenVia): Error | undefined => {
    if (!result.ok) {
      return authFailure(
        req,
        state,
        via,
        result.reason,
        invalidJwt,
        result.field === undefined ? {} : { field: result.field },
      );
    }
    let known = result.memo as TokenIdentity | undefined;
    if (known === undefined) {
      const made = identityOf(req, result, via);
      if (made instanceof Error) return made;
      // Remembered with the verified token, so a token seen again skips the mapping and checks.
      result.memo = known = made;
    }
    const auth: AuthContext = {
      subject: known.subject,
      tenantId: known.tenantId,
      scope: known.scope,
      via,
      claims: known.claims,
    };
    if (known.permissions !== undefined) auth.permissions = known.permissions;
    authSuccess(req, state, auth);
    return undefined;
  };

  /** The parts of `req.auth` a verified token maps to, or the 401 when it maps to none. */
  const identityOf = (req: Request, result: JwtVerified, via: TokenVia): TokenIdentity | Error => {
    let identity: ClaimsIdentity;
    try {
      identity = mapClaims(result.claims);
    } catch (err) {
      const threw: IdentityProblem = {
        field: 'mapClaims',
        problem: 'threw',
        expected:
          'an object such as { scope, tenantId, permissions }, for every token the issuer signs',
        received: err instanceof Error ? err.name : received(err),
        source: 'mapClaims',
      };
      return identityFailure(req, via, threw, invalidJwt, err);
    }
    const found = claimsIdentityProblem(identity, result.claims, {
      defaultMapping: mapClaims === defaultMapClaims,
      checkPermissions: !store,
    });
    if (found) return identityFailure(req, via, found, invalidJwt);
    return {
      subject: result.claims.sub as string,
      tenantId: identity.tenantId ?? null,
      scope: identity.scope as 'customer' | 'operator',
      // Either a fresh object jsonwebtoken parsed for this request, or remembered claims the
      // verifier froze deeply before sharing them; freezing in place is safe for both.
      claims: Object.freeze(result.claims),
      permissions:
        !store && identity.permissions !== undefined
          ? Object.freeze(identity.permissions.filter(isGrant))
          : undefined,
    };
  };

  const keyStoreFailed = (err: unknown): Error => {
    warnThrottled(
      state.logger,
      'ERR_BULWARK_RBAC_API_KEY_STORE',
      'API keys could not be checked; answering 503',
      {
        error: err instanceof Error ? err.message : String(err),
      },
    );
    return createError(503, 'Authentication is temporarily unavailable. Try again shortly.', {
      code: 'auth_unavailable',
      expose: true,
      headers: { 'Retry-After': '5' },
    });
  };

  const fromApiKey = (
    req: Request,
    key: string,
  ): Error | undefined | Promise<Error | undefined> => {
    if (!API_KEY_VALUE.test(key))
      return authFailure(req, state, 'api-key', 'malformed', invalidKey);
    let answer: ReturnType<ApiKeyVerifier['verify']> | undefined;
    try {
      answer = verifyKeyNow?.(key);
      if (answer === undefined) answer = apiKeys!.verify(key);
    } catch (err) {
      return keyStoreFailed(err);
    }
    // A verifier that answers at once (staticApiKeys() with SHA-256 hashes) is not waited for.
    if (typeof (answer as PromiseLike<unknown> | null)?.then === 'function') {
      return Promise.resolve(answer).then((identity) => settleKey(req, identity), keyStoreFailed);
    }
    return settleKey(req, answer as ApiKeyIdentity | null);
  };

  const settleKey = (req: Request, identity: ApiKeyIdentity | null): Error | undefined => {
    if (!identity) return authFailure(req, state, 'api-key', 'invalid', invalidKey);
    // A custom verifier is held to the same rules as a token: a known scope, and a tenant for
    // every customer, so a verifier bug cannot let a tenant-less customer through.
    const found =
      typeof identity === 'object'
        ? keyIdentityProblem(identity as unknown as Record<string, unknown>)
        : undefined;
    if (found || typeof identity !== 'object') {
      return identityFailure(
        req,
        'api-key',
        found ?? {
          field: 'verify',
          problem: 'invalid',
          expected: 'an identity object or null',
          received: received(identity),
          source: 'apiKeys.verify',
        },
        invalidKey,
      );
    }
    const scope = identity.scope ?? 'customer';
    const tenantId = identity.tenantId ?? null;
    authSuccess(req, state, {
      subject: `api-key:${identity.id}`,
      tenantId,
      scope,
      via: 'api-key',
      claims: NO_CLAIMS,
      permissions: grantsOfKey(identity.scopes),
      apiKeyId: identity.id,
    });
    return undefined;
  };

  const middleware = function authenticateRequest(
    req: Request,
    _res: Response,
    next: NextFunction,
  ) {
    const authorization = req.headers.authorization;
    const rawKey = apiKeys ? req.headers[apiKeyHeader] : undefined;
    const bearer = verifyJwt && typeof authorization === 'string' && isBearer(authorization);
    const hasKey = rawKey !== undefined;
    if (bearer && hasKey) return next(authFailure(req, state, 'none', 'ambiguous', bare));
    // The cookie is read only when no header names a credential: a header always wins.
    const cookie =
      !bearer && !hasKey && cookieName !== undefined && authorization === undefined
        ? readCookie(req.headers.cookie, cookieName)
        : undefined;
    if (!bearer && !hasKey && cookie === undefined) {
      return next(optional ? undefined : authFailure(req, state, 'none', 'missing', bare));
    }
    const via = bearer ? 'jwt' : hasKey ? 'api-key' : 'cookie';
    const challenge = via === 'api-key' ? invalidKey : invalidJwt;
    let work: Error | undefined | Promise<Error | undefined>;
    try {
      if (via === 'jwt') {
        const token = bearerToken(authorization as string);
        work =
          token !== undefined
            ? fromJwt(req, token, via)
            : authFailure(req, state, via, 'malformed', challenge);
      } else if (via === 'cookie') {
        work =
          typeof cookie === 'string'
            ? fromJwt(req, cookie, via)
            : authFailure(req, state, via, 'malformed', challenge);
      } else {
        work =
          typeof rawKey === 'string'
            ? fromApiKey(req, rawKey)
            : authFailure(req, state, via, 'ambiguous', challenge);
      }
    } catch {
      work = authFailure(req, state, via, 'invalid', challenge);
    }
    if (!(work instanceof Promise)) return next(work);
    work.then(
      (err) => next(err),
      () => next(authFailure(req, state, via, 'invalid', challenge)),
    );
  };
  return withOpenApi(
    authenticateDescription(
      verifyJwt !== undefined,
      apiKeys ? apiKeyHeader : undefined,
      optional,
      cookieName,
    ),
    middleware,
  );
}
