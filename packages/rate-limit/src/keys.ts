// Turns a request into the identity a policy counts: address, user, tenant, API key or custom.
import { createHash } from 'node:crypto';
import type { Request } from 'express';
import { addressKey } from './client-address.js';
import { RateLimitConfigError, show } from './errors.js';

/**
 * Whose requests a policy counts together. `user`, `tenant` and `api-key` read `req.auth`
 * (set by an authentication middleware such as `@bulwark/rbac`) and fall back to the client
 * address when it is absent. A function returns any string; an empty result falls back too.
 */
export type KeyOption =
  | 'ip'
  | 'user'
  | 'tenant'
  | 'api-key'
  | ((req: Request) => string | undefined | Promise<string | undefined>);

/** The shape of `req.auth` this package reads; it never writes it. */
interface AuthLike {
  subject?: unknown;
  tenantId?: unknown;
  apiKeyId?: unknown;
}

const identityField = { user: 'subject', tenant: 'tenantId', 'api-key': 'apiKeyId' } as const;

// The identity hashed last and its hash: a client's requests carry the same identity again and
// again, and one entry, compared by value, spares hashing it on each of them.
let lastHashed: string | undefined;
let lastHash = '';

/** Long or odd identities are hashed so a key stays short and printable in Redis and in events. */
export function identity(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string' || value.length === 0) return undefined;
  if (value.length <= 128 && /^[\x21-\x7e]+$/.test(value)) return value;
  if (value !== lastHashed) {
    lastHash = `h.${createHash('sha256').update(value).digest('base64url').slice(0, 32)}`;
    lastHashed = value;
  }
  return lastHash;
}

/** The address key of a request, `ip:<address or subnet>`. */
export { addressKey };

export type KeyGenerator = (req: Request) => Promise<string> | string;

/** Whether a value is a promise or another thenable, which `await` would wait for. */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

export function validateKey(key: unknown, where: string): asserts key is KeyOption {
  if (typeof key === 'function') return;
  if (key === 'ip' || key === 'user' || key === 'tenant' || key === 'api-key') return;
  throw new RateLimitConfigError(
    'ERR_BULWARK_RATE_LIMIT_KEY',
    `${where}: key ${show(key)} is not a known key. Use 'ip', 'user', 'tenant', 'api-key' or a function (req) => string.`,
  );
}

/** Builds the function that computes a request's counter key, e.g. `user:42` or `ip:203.0.113.7`. */
export function createKeyGenerator(key: KeyOption, ipv6Subnet: number): KeyGenerator {
  if (key === 'ip') return (req) => addressKey(req, ipv6Subnet);
  if (typeof key === 'function') {
    const keyOf = (req: Request, given: unknown) => {
      const value = identity(given);
      return value === undefined ? addressKey(req, ipv6Subnet) : `custom:${value}`;
    };
    // A function that answers at once keeps the request off the promise queue.
    return (req) => {
      const given = key(req);
      return isPromiseLike(given)
        ? Promise.resolve(given).then((value) => keyOf(req, value))
        : keyOf(req, given);
    };
  }
  const field = identityField[key];
  return (req) => {
    const auth = (req as Request & { auth?: AuthLike }).auth;
    const value = auth && typeof auth === 'object' ? identity(auth[field]) : undefined;
    return value === undefined ? addressKey(req, ipv6Subnet) : `${key}:${value}`;
  };
}

/** The kind of identity a key belongs to, for events: the text before the first colon. */
export function keyType(key: string): string {
  const colon = key.indexOf(':');
  return colon === -1 ? 'custom' : key.slice(0, colon);
}
