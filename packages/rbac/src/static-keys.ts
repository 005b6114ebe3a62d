// API keys and Basic users configured as hashes, for small services without a database.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { LRUCache } from 'lru-cache';
import {
  checkOptionNames,
  checkOptionsObject,
  checkRealm,
  defined,
  RbacConfigError,
  show,
} from './errors.js';
import { type AuditSink, authFailure, authSuccess, type RequestState } from './events.js';
import { basicAuthDescription, staticKeysDescription, withOpenApi } from './openapi.js';
import { isGrant } from './permissions.js';
import { parseSecretHash, type SecretHash, verifySecret } from './secrets.js';
import type { ApiKeyIdentity, ApiKeyVerifier, Logger } from './types.js';

/** One configured principal: who it is, and what it may do. */
interface Principal {
  tenantId?: string | null;
  /** Default `'customer'`, which needs a `tenantId`. */
  scope?: 'customer' | 'operator';
  /** Grants, such as `['devices:read']` or `['*']`. Default none. */
  permissions?: string[];
}

export interface StaticApiKey extends Principal {
  /** Stable id, shown as `req.auth.apiKeyId` and in logs. */
  id: string;
  /** `$sha256$...` (for random keys) or `$scrypt$...`, from `hashSecret()`. Never the key. */
  hash: string;
}

export interface StaticApiKeysOptions {
  keys: StaticApiKey[];
  /** Header carrying the key. Default `'x-api-key'`. */
  header?: string;
  audit?: AuditSink;
  logger?: Logger;
  exposeMissingPermissions?: boolean;
}

export interface BasicUser extends Principal {
  username: string;
  /** `$scrypt$...` from `hashSecret()`. Never the password. */
  hash: string;
}

export interface BasicAuthOptions {
  users: BasicUser[];
  /**
   * `realm` of the `WWW-Authenticate: Basic` challenge: 1 to 128 printable ASCII characters
   * (`"` and `\` are dropped). Default `'api'`.
   */
  realm?: string;
  audit?: AuditSink;
  logger?: Logger;
  exposeMissingPermissions?: boolean;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: user names must not contain control characters.
const USERNAME = /^[^:\x00-\x1f\x7f]{1,128}$/;
// Keys and Basic users carry no token: every request shares this one frozen empty object.
const NO_CLAIMS: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * On `staticApiKeys()`: `(key) => identity | null | undefined`, the answer when it needs no scrypt
 * work (`undefined` when it does), so `authenticate({ apiKeys })` need not wait for it.
 */
export const VERIFY_NOW = Symbol('bulwark.rbac.verifyNow');

interface Checked {
  tenantId: string | null;
  scope: 'customer' | 'operator';
  permissions: readonly string[];
}

function checkPrincipal(where: string, label: string, p: Principal): Checked {
  const scope = p.scope ?? 'customer';
  if (scope !== 'customer' && scope !== 'operator') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_PRINCIPAL',
      `${where}: ${label} has scope ${show(scope)}. Use 'customer' or 'operator'.`,
    );
  }
  const tenantId = p.tenantId ?? null;
  if (tenantId !== null && (typeof tenantId !== 'string' || tenantId === '')) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_PRINCIPAL',
      `${where}: ${label} has tenantId ${show(tenantId)}. Use a non-empty string.`,
    );
  }
  if (scope === 'customer' && tenantId === null) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_PRINCIPAL',
      `${where}: ${label} is a customer without a tenantId. Give it a tenantId, or scope: 'operator'.`,
    );
  }
  const permissions = p.permissions ?? [];
  if (!Array.isArray(permissions) || !permissions.every(isGrant)) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_PRINCIPAL',
      `${where}: ${label} has permissions ${show(permissions)}. Use grants such as 'devices:read', 'devices:*' or '*'.`,
    );
  }
  return { tenantId, scope, permissions: Object.freeze([...permissions]) };
}

function checkHash(where: string, label: string, text: unknown, allowSha: boolean): SecretHash {
  const hash = parseSecretHash(text);
  if (!hash || (!allowSha && hash.algorithm === 'sha256')) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_HASH',
      `${where}: the hash of ${label} is not a ${allowSha ? '$sha256$ or $scrypt$' : '$scrypt$'} hash (never put the secret itself in config). Make one with hashSecret() or \`bulwark-hash-secret\`.`,
    );
  }
  return hash;
}

function fingerprint(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('base64');
}

/**
 * API keys given as hashes (from env or a secret file), for services without a database.
 * The result is a middleware that sets `req.auth`, and also an `ApiKeyVerifier` to pass to
 * `authenticate({ apiKeys })`. SHA-256 hashes are all compared, in constant time, on each
 * request; scrypt hashes are tried in turn and a success is remembered for five minutes.
 *
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_HASH` when a key is not hashed, `ERR_BULWARK_RBAC_PRINCIPAL` for bad scope or permissions.
 * @example
 * app.use(staticApiKeys({ keys: [{ id: 'ci', hash: readSecret('CI_KEY_HASH')!, tenantId: 'acme', permissions: ['devices:read'] }] }));
 */
export function staticApiKeys(input: StaticApiKeysOptions): RequestHandler & ApiKeyVerifier {
  checkOptionsObject('staticApiKeys', input);
  checkOptionNames('staticApiKeys', input, [
    'keys',
    'header',
    'audit',
    'logger',
    'exposeMissingPermissions',
  ]);
  const options = defined(input);
  if (!Array.isArray(options.keys) || options.keys.length === 0) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_PRINCIPAL',
      'staticApiKeys: `keys` is empty. Give at least one { id, hash } entry.',
    );
  }
  const seen = new Set<string>();
  const entries = options.keys.map((key, i) => {
    checkOptionNames(`staticApiKeys keys[${i}]`, key, [
      'id',
      'hash',
      'tenantId',
      'scope',
      'permissions',
    ]);
    if (typeof key.id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(key.id) || seen.has(key.id)) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_PRINCIPAL',
        `staticApiKeys: keys[${i}].id ${show(key.id)} is missing, repeated or not [A-Za-z0-9._-]{1,64}.`,
      );
    }
    seen.add(key.id);
    const checked = checkPrincipal('staticApiKeys', `key ${show(key.id)}`, key);
    const identity: ApiKeyIdentity = {
      id: key.id,
      tenantId: checked.tenantId,
      scope: checked.scope,
      scopes: checked.permissions,
    };
    return { hash: checkHash('staticApiKeys', `key ${show(key.id)}`, key.hash, true), identity };
  });
  const header = (options.header ?? 'x-api-key').toLowerCase();
  if (
    !/^[a-z0-9][a-z0-9-]{0,63}$/.test(header) ||
    header === 'authorization' ||
    header === 'cookie'
  ) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_API_KEY_HEADER',
      `staticApiKeys: header ${show(options.header)} is not usable. Use a name such as 'x-api-key'.`,
    );
  }
  const shaEntries = entries.filter((e) => e.hash.algorithm === 'sha256');
  const scryptEntries = entries.filter((e) => e.hash.algorithm === 'scrypt');
  const remembered = new LRUCache<string, ApiKeyIdentity>({ max: 1000, ttl: 300_000 });

  /** The answer when no scrypt work is needed for it: the identity or `null`; else `undefined`. */
  const verifyNow = (key: string): ApiKeyIdentity | null | undefined => {
    if (typeof key !== 'string' || key.length === 0 || key.length > 512) return null;
    const digest = createHash('sha256').update(key).digest();
    let found: ApiKeyIdentity | null = null;
    // Every hash is compared, so the time taken does not say which key came close.
    for (const entry of shaEntries) {
      if (timingSafeEqual(digest, entry.hash.hash)) found = entry.identity;
    }
    if (found || scryptEntries.length === 0) return found;
    return remembered.get(digest.toString('base64'));
  };

  const verify = async (key: string): Promise<ApiKeyIdentity | null> => {
    const now = verifyNow(key);
    if (now !== undefined) return now;
    const mark = createHash('sha256').update(key).digest('base64');
    for (const entry of scryptEntries) {
      if (await verifySecret(key, entry.hash)) {
        remembered.set(mark, entry.identity);
        return entry.identity;
      }
    }
    return null;
  };

  const state: RequestState = {
    logger: options.logger,
    audit: options.audit,
    exposeMissing: options.exposeMissingPermissions === true,
  };
  const challenge = `ApiKey header="${header}"`;
  const middleware = function staticApiKey(req: Request, _res: Response, next: NextFunction) {
    const raw = req.headers[header];
    if (raw === undefined) return next(authFailure(req, state, 'none', 'missing', challenge));
    if (typeof raw !== 'string' || !/^[\x21-\x7e]{8,512}$/.test(raw)) {
      return next(authFailure(req, state, 'api-key', 'malformed', challenge));
    }
    const settle = (identity: ApiKeyIdentity | null) => {
      if (!identity) return next(authFailure(req, state, 'api-key', 'invalid', challenge));
      authSuccess(req, state, {
        subject: `api-key:${identity.id}`,
        tenantId: identity.tenantId,
        scope: identity.scope ?? 'customer',
        via: 'api-key',
        claims: NO_CLAIMS,
        permissions: identity.scopes,
        apiKeyId: identity.id,
      });
      next();
    };
    const refuse = () => next(authFailure(req, state, 'api-key', 'invalid', challenge));
    let now: ApiKeyIdentity | null | undefined;
    try {
      now = verifyNow(raw);
    } catch {
      return refuse();
    }
    // Only an scrypt hash not checked lately needs to wait.
    if (now !== undefined) return settle(now);
    verify(raw).then(settle, refuse);
  };
  const verifier = Object.assign(withOpenApi(staticKeysDescription(header), middleware), {
    verify,
  });
  // For authenticate({ apiKeys }) only; not enumerable, not part of the public shape.
  Object.defineProperty(verifier, VERIFY_NOW, { value: verifyNow });
  return verifier;
}

/**
 * HTTP Basic authentication against scrypt hashes (from env or a secret file). Unknown users
 * cost the same scrypt work as known ones; a success is remembered for a minute so a client
 * sending credentials on every request does not pay scrypt each time. Put a rate limit in front.
 *
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_HASH` when a password is not an scrypt hash, `ERR_BULWARK_RBAC_OPTIONS` for a `realm` that is not printable ASCII.
 * @example
 * app.use(basicAuth({ users: [{ username: 'ops', hash: readSecret('OPS_PASSWORD_HASH')!, scope: 'operator', permissions: ['*'] }] }));
 */
export function basicAuth(input: BasicAuthOptions): RequestHandler {
  checkOptionsObject('basicAuth', input);
  checkOptionNames('basicAuth', input, [
    'users',
    'realm',
    'audit',
    'logger',
    'exposeMissingPermissions',
  ]);
  const options = defined(input);
  if (!Array.isArray(options.users) || options.users.length === 0) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_PRINCIPAL',
      'basicAuth: `users` is empty. Give at least one { username, hash } entry.',
    );
  }
  const users = new Map<string, { hash: SecretHash; checked: Checked }>();
  options.users.forEach((user, i) => {
    checkOptionNames(`basicAuth users[${i}]`, user, [
      'username',
      'hash',
      'tenantId',
      'scope',
      'permissions',
    ]);
    if (
      typeof user.username !== 'string' ||
      !USERNAME.test(user.username) ||
      users.has(user.username)
    ) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_PRINCIPAL',
        `basicAuth: users[${i}].username ${show(user.username)} is missing, repeated, or contains ':' or control characters.`,
      );
    }
    const label = `user ${show(user.username)}`;
    users.set(user.username, {
      hash: checkHash('basicAuth', label, user.hash, false),
      checked: checkPrincipal('basicAuth', label, user),
    });
  });
  const first = users.values().next().value!.hash as Extract<SecretHash, { algorithm: 'scrypt' }>;
  // Unknown users are checked against this, so their requests take as long as known users'.
  const decoy: SecretHash = { ...first, hash: Buffer.alloc(first.hash.length) };
  const realm = checkRealm('basicAuth', options.realm ?? 'api');
  const challenge = `Basic realm="${realm}", charset="UTF-8"`;
  const remembered = new LRUCache<string, true>({ max: 1000, ttl: 60_000 });
  const state: RequestState = {
    logger: options.logger,
    audit: options.audit,
    exposeMissing: options.exposeMissingPermissions === true,
  };

  const middleware = function basicAuthentication(
    req: Request,
    _res: Response,
    next: NextFunction,
  ) {
    const header = req.headers.authorization;
    if (typeof header !== 'string' || !/^basic(?: |$)/i.test(header)) {
      return next(authFailure(req, state, 'none', 'missing', challenge));
    }
    const match = /^basic +([A-Za-z0-9+/]{4,2048}={0,2}) *$/i.exec(header);
    const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    if (colon < 1 || decoded.length - colon > 1025)
      return next(authFailure(req, state, 'basic', 'malformed', challenge));
    const username = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const user = users.get(username);
    const mark = fingerprint(username, password);
    const settle = (ok: boolean) => {
      if (!ok || !user) return next(authFailure(req, state, 'basic', 'invalid', challenge));
      remembered.set(mark, true);
      authSuccess(req, state, {
        subject: username,
        tenantId: user.checked.tenantId,
        scope: user.checked.scope,
        via: 'basic',
        claims: NO_CLAIMS,
        permissions: user.checked.permissions,
      });
      next();
    };
    // Credentials checked within the last minute need no scrypt work, and no wait.
    if (user && remembered.has(mark)) return settle(true);
    verifySecret(password, user ? user.hash : decoy).then(settle, () =>
      next(authFailure(req, state, 'basic', 'invalid', challenge)),
    );
  };
  return withOpenApi(basicAuthDescription(), middleware);
}
