// Configuration errors thrown at construction, and the HTTP errors sent at request time.
import createError, { type HttpError } from 'http-errors';
import { closestName } from '../../../internal/suggest.js';

/** Thrown when a factory is given options it cannot run safely with. */
export class RbacConfigError extends Error {
  readonly code: `ERR_BULWARK_RBAC_${string}`;

  constructor(code: `ERR_BULWARK_RBAC_${string}`, message: string) {
    super(message);
    this.name = 'RbacConfigError';
    this.code = code;
  }
}

/** Quotes a configuration value for an error message, shortening long ones. */
export function show(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  if (value === null || typeof value !== 'object') return String(value);
  return `an object with keys ${Object.keys(value).join(', ') || '(none)'}`;
}

/**
 * Refuses option names the factory does not know, suggesting the closest known one, so a typo
 * such as `audiance` cannot silently turn a check off.
 */
export function checkOptionNames(where: string, options: object, known: readonly string[]): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const best = closestName(name, known);
    const hint = best ? ` Did you mean \`${best}\`?` : ` Known options: ${known.join(', ')}.`;
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_UNKNOWN_OPTION',
      `${where}: unknown option \`${name}\`.${hint}`,
    );
  }
}

/** Refuses a missing or non-object options argument, including `app.use(factory)` without the call. */
export function checkOptionsObject(where: string, options: unknown): asserts options is object {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `${where}: expected an options object, received ${show(options)}. Call it as ${where}({ ... }).`,
    );
  }
}

/** Copies an options object without its `undefined` fields, so defaults apply to them. */
export function defined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as T;
}

const REALM = /^[\x20-\x7e]{1,128}$/;

/**
 * Checks a `realm` once, at construction: Node refuses a header value outside Latin-1 or with
 * CR/LF only when the first challenge is sent, which would crash the process on the first 401.
 * Returns it without `"` and `\`, ready to quote.
 */
export function checkRealm(where: string, realm: unknown): string {
  if (typeof realm !== 'string' || !REALM.test(realm)) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `${where}: realm ${show(realm)} is not valid in a WWW-Authenticate header. Use 1 to 128 printable ASCII characters, such as 'api' or 'API - prod' (no line breaks, no characters such as '–' or 'é').`,
    );
  }
  return realm.replace(/["\\]/g, '');
}

export const AUTH_FAILED_MESSAGE =
  'Authentication required: the credentials are missing, invalid or expired.';

/** The one 401 every authenticator sends: the reason stays in logs and events, never the body. */
export function unauthorized(challenge: string): HttpError {
  return createError(401, AUTH_FAILED_MESSAGE, {
    code: 'unauthorized',
    expose: true,
    headers: { 'WWW-Authenticate': challenge },
  });
}

/** The 403 sent when an authenticated caller lacks a permission or the right scope. */
export function forbidden(missing?: readonly string[]): HttpError {
  return createError(403, 'You do not have permission to perform this action.', {
    code: 'forbidden',
    expose: true,
    headers: { 'WWW-Authenticate': 'Bearer error="insufficient_scope"' },
    ...(missing ? { details: { missing: [...missing] } } : {}),
  });
}

/** The 503 sent when permissions cannot be loaded: the caller may retry, nothing was decided. */
export function permissionsUnavailable(): HttpError {
  return createError(503, 'Permissions are temporarily unavailable. Try again shortly.', {
    code: 'permissions_unavailable',
    expose: true,
    headers: { 'Retry-After': '5' },
  });
}
