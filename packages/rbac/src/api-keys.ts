// Database-backed API keys: issue once, store only an HMAC, verify in constant time, rotate with grace, revoke,
// and keep a key issued for a caller within that caller's permissions and lifetime.
import {
  createHmac,
  createSecretKey,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import createError from 'http-errors';
import { LRUCache } from 'lru-cache';
import { checkOptionNames, checkOptionsObject, defined, RbacConfigError, show } from './errors.js';
import { type AuditSink, warn } from './events.js';
import { isGrant, isPermission, permits } from './permissions.js';
import type { ApiKeyIdentity, ApiKeyVerifier, AuthContext, Logger, Queryable } from './types.js';

/**
 * Who asks for a key to be issued, rotated or revoked: pass `req.auth`, with its permissions
 * loaded (a permission guard before the route does that).
 */
export type ApiKeyCaller = Pick<
  AuthContext,
  'subject' | 'tenantId' | 'scope' | 'via' | 'permissions' | 'apiKeyId'
>;

export interface ApiKeysOptions {
  /** A `pg.Pool` or anything with `query(text, values)`, after `migrate(db)`. */
  db: Queryable;
  /** Server-side secret mixed into every key's HMAC, 32 bytes or more. Keep it out of the database. */
  pepper: string | Buffer;
  /** Earlier peppers, still accepted; keys checked with one are re-hashed with `pepper`. Default none. */
  previousPeppers?: (string | Buffer)[];
  /** Records CREATE, ROTATE and DELETE of keys. */
  audit?: AuditSink;
  /** Least time between two `last_used_at` writes for one key, in seconds. Default `60`. */
  lastUsedIntervalSec?: number;
  /**
   * Let an API key, as the caller (`by`), issue, rotate and revoke keys, within its own scopes and
   * expiry. Default `false`: only users may, so a leaked key cannot mint its own successors. A key
   * in the grace period after a rotation (or otherwise revoked) never may.
   */
  keysMayManageKeys?: boolean;
  /**
   * Longest lifetime, in seconds, of a key issued or rotated for a caller (`by`); such a key given
   * no `expiresAt` expires after exactly this. Default `7_776_000` (90 days). Calls without `by`
   * (your own scripts) are not bounded.
   */
  maxLifetimeSec?: number;
  /**
   * Permissions no key may carry, such as the operator-only ones of your app: keys act for one
   * tenant. A scope that would grant one (`*`, `system:*`) is refused too. Default `[]`.
   */
  operatorPermissions?: string[];
  logger?: Logger;
}

export interface IssueOptions {
  /** Label shown in key lists. Default `''`. */
  name?: string;
  /** Grants the key carries, such as `['devices:read']`. At least one. */
  scopes: string[];
  /**
   * When the key stops working. Default: never, or with `by`, `maxLifetimeSec` from now (and never
   * after the calling key's own expiry).
   */
  expiresAt?: Date;
  /** Who issued it, for the record. Default: the subject of `by`. */
  createdBy?: string;
  /**
   * The caller, `req.auth`. The key is then refused (403) if it would carry a permission the
   * caller lacks, or (422) outlive the caller's key or `maxLifetimeSec`; an API key caller is
   * refused unless `keysMayManageKeys`, and always while it is in a rotation's grace period.
   */
  by?: ApiKeyCaller;
}

export interface RotateOptions {
  /** Seconds the replaced keys keep working, so clients can switch. Default `0` (at once). */
  graceSec?: number;
  /** Rotate only this key. Default: every active key of the tenant. */
  keyId?: string;
  /** Name of the new key. Default: the newest replaced key's name. */
  name?: string;
  /** Scopes of the new key. Default: the newest replaced key's scopes. */
  scopes?: string[];
  /**
   * When the new key stops working; `null` for never. Default: the newest replaced key's
   * `expiresAt`, so a key that expires stays one that expires (never, when rotating with
   * `scopes` and no active key). With `by`, bounded as for `issue()`; `null` is then refused.
   */
  expiresAt?: Date | null;
  /** Who rotated, for the record. Default: the subject of `by`. */
  createdBy?: string;
  /** The caller, `req.auth`, checked as for `issue()`; the new key's scopes must be its own. */
  by?: ApiKeyCaller;
}

/** Which key `revoke()` may stop: one in a named tenant, or, explicitly, in any tenant. */
export type RevokeOptions =
  | {
      /** The tenant the key must belong to; a key of another tenant is left alone. */
      tenantId: string;
      allTenants?: false;
      /** Who revoked it, for the audit row. Default: the subject of `by`. */
      actor?: string;
      /**
       * The caller, `req.auth`: an API key caller is refused unless `keysMayManageKeys`, and
       * always while it is in a rotation's grace period.
       */
      by?: ApiKeyCaller;
    }
  | {
      /** Revoke the key whatever its tenant: only for platform operators' tools. */
      allTenants: true;
      tenantId?: undefined;
      actor?: string;
      by?: undefined;
    };

/** A newly issued key: `key` is the only time the plaintext is available. */
export interface IssuedApiKey {
  id: string;
  key: string;
  prefix: string;
  tenantId: string;
  name: string;
  scopes: string[];
  createdAt: Date;
  expiresAt: Date | null;
}

/** A stored key, without anything secret. */
export interface ApiKeyInfo {
  id: string;
  tenantId: string;
  name: string;
  prefix: string;
  scopes: string[];
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  active: boolean;
}

export interface ApiKeys extends ApiKeyVerifier {
  /** Issues a key for a tenant; the plaintext is returned once and never stored. */
  issue(tenantId: string, options: IssueOptions): Promise<IssuedApiKey>;
  /** Checks a presented key; resolves its identity, or `null`. */
  verify(key: string): Promise<ApiKeyIdentity | null>;
  /** Issues a replacement and revokes the old key(s) after `graceSec`. */
  rotate(
    tenantId: string,
    options?: RotateOptions,
  ): Promise<{ key: IssuedApiKey; revoked: { id: string; revokedAt: Date }[] }>;
  /**
   * Revokes a key at once. Give `{ tenantId }` to revoke only within that tenant, or
   * `{ allTenants: true }` to revoke it wherever it is; anything else rejects with
   * `ERR_BULWARK_RBAC_ARGUMENT`. Resolves `false` when there was no active key with that id (in
   * that tenant).
   */
  revoke(id: string, options: RevokeOptions): Promise<boolean>;
  /** The tenant's keys, newest first, without secrets. */
  list(tenantId: string): Promise<ApiKeyInfo[]>;
}

const NAMES = [
  'db',
  'pepper',
  'previousPeppers',
  'audit',
  'lastUsedIntervalSec',
  'keysMayManageKeys',
  'maxLifetimeSec',
  'operatorPermissions',
  'logger',
] as const;
const S = 'bulwark_rbac';
const KEY = /^bwk_([A-Za-z0-9]{12})_([A-Za-z0-9]{32})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Uniform random base62 characters (rejection sampling, so no character is favoured). */
function base62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

function toPepper(where: string, value: unknown): KeyObject {
  const bytes =
    typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.isBuffer(value) ? value : null;
  if (!bytes || bytes.length < 32) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_PEPPER',
      `${where}: the pepper is ${bytes ? `${bytes.length} bytes` : `not a string or Buffer (${typeof value})`}; at least 32 random bytes are needed. Generate one with generateSecret() and keep it in a secret file.`,
    );
  }
  return createSecretKey(bytes);
}

/** A 16-bit fingerprint of a pepper, stored with each key so the right pepper is known. */
function pepperId(pepper: KeyObject): number {
  return createHmac('sha256', pepper).update('bulwark-rbac-pepper-id').digest().readInt16BE(0);
}

function checkScopes(where: string, scopes: unknown): string[] {
  if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every(isGrant)) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_ARGUMENT',
      `${where}: scopes ${show(scopes)} must be a non-empty list of grants such as 'devices:read'.`,
    );
  }
  return [...new Set(scopes as string[])];
}

function checkTenant(where: string, tenantId: unknown): asserts tenantId is string {
  if (typeof tenantId !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(tenantId)) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_ARGUMENT',
      `${where}: tenantId ${show(tenantId)} is not a tenant id.`,
    );
  }
}

function toInfo(row: Record<string, unknown>): ApiKeyInfo {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    name: String(row.name),
    prefix: String(row.prefix),
    scopes: (row.scopes as string[]) ?? [],
    createdAt: row.created_at as Date,
    expiresAt: (row.expires_at as Date | null) ?? null,
    revokedAt: (row.revoked_at as Date | null) ?? null,
    lastUsedAt: (row.last_used_at as Date | null) ?? null,
    active: row.active === true,
  };
}

const ACTIVE =
  '(revoked_at IS NULL OR revoked_at > now()) AND (expires_at IS NULL OR expires_at > now())';

/** What a caller may hand on to a key: its permissions, and the time its own key expires. */
interface CallerBounds {
  subject: string;
  scopes: readonly string[];
  expiresAt: Date | null;
}

const cannotManageKeys = (message: string) =>
  createError(403, message, { code: 'api_key_cannot_manage_keys', expose: true });

function checkCaller(where: string, by: unknown): asserts by is ApiKeyCaller {
  const caller = by as Partial<ApiKeyCaller> | null;
  if (
    typeof caller !== 'object' ||
    caller === null ||
    typeof caller.subject !== 'string' ||
    !['jwt', 'cookie', 'api-key', 'basic'].includes(caller.via as string)
  ) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_ARGUMENT',
      `${where}: by ${show(by)} is not an authenticated caller. Pass req.auth.`,
    );
  }
}

/**
 * API keys in PostgreSQL. Keys look like `bwk_<prefix>_<secret>`: the public prefix finds the
 * row, and only an HMAC-SHA-256 of the whole key under a server-side pepper is stored.
 *
 * Give `issue`, `rotate` and `revoke` the caller (`by: req.auth`) on request paths: a key is then
 * never wider than its issuer's permissions, never outlives the issuer's own key or
 * `maxLifetimeSec`, never carries an `operatorPermissions` name, and an API key may manage keys
 * only with `keysMayManageKeys` (never while in a rotation's grace period).
 *
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_PEPPER` for a pepper under 32 bytes, `ERR_BULWARK_RBAC_DB` without `db.query`,
 *   `ERR_BULWARK_RBAC_OPTIONS` for a bad `keysMayManageKeys`, `maxLifetimeSec` or `operatorPermissions`.
 * @example
 * const apiKeys = createApiKeys({ db: pool, pepper: readSecret('API_KEY_PEPPER')! });
 * const { key } = await apiKeys.issue('acme', { name: 'ingest', scopes: ['telemetry:write'] });
 */
export function createApiKeys(input: ApiKeysOptions): ApiKeys {
  checkOptionsObject('createApiKeys', input);
  checkOptionNames('createApiKeys', input, NAMES);
  const options = defined(input);
  const db = options.db;
  if (!db || typeof db.query !== 'function') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_DB',
      `createApiKeys: db ${show(db)} has no query(text, values) method. Pass a pg Pool.`,
    );
  }
  const pepper = toPepper('createApiKeys', options.pepper);
  const currentId = pepperId(pepper);
  const peppers = new Map<number, KeyObject>([[currentId, pepper]]);
  for (const previous of options.previousPeppers ?? []) {
    const key = toPepper('createApiKeys previousPeppers', previous);
    if (!peppers.has(pepperId(key))) peppers.set(pepperId(key), key);
  }
  const interval = options.lastUsedIntervalSec ?? 60;
  if (typeof interval !== 'number' || !Number.isFinite(interval) || interval < 0) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `createApiKeys: lastUsedIntervalSec ${show(interval)} is not valid. Use 0 or more seconds.`,
    );
  }
  const keysMayManageKeys = options.keysMayManageKeys ?? false;
  if (typeof keysMayManageKeys !== 'boolean') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `createApiKeys: keysMayManageKeys ${show(keysMayManageKeys)} must be true or false.`,
    );
  }
  const maxLifetimeSec = options.maxLifetimeSec ?? 90 * 86_400;
  if (
    typeof maxLifetimeSec !== 'number' ||
    !Number.isFinite(maxLifetimeSec) ||
    maxLifetimeSec <= 0
  ) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `createApiKeys: maxLifetimeSec ${show(maxLifetimeSec)} is not valid. Use a positive number of seconds, such as 7776000 (90 days).`,
    );
  }
  const operatorPermissions = options.operatorPermissions ?? [];
  if (!Array.isArray(operatorPermissions) || !operatorPermissions.every(isPermission)) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `createApiKeys: operatorPermissions ${show(operatorPermissions)} must be a list of permissions such as 'system:read'.`,
    );
  }
  const audit = options.audit;
  const logger = options.logger;
  const touched = new LRUCache<string, number>({ max: 10_000 });
  const decoy = Buffer.alloc(32);

  const hmac = (key: string, with_: KeyObject = pepper) =>
    createHmac('sha256', with_).update(key).digest();

  const background = (promise: Promise<unknown>, what: string) => {
    promise.catch((err: unknown) =>
      warn(logger, 'ERR_BULWARK_RBAC_API_KEY_WRITE', `could not ${what}`, {
        error: err instanceof Error ? err.message : String(err),
      }),
    );
  };

  const insert = async (
    tenantId: string,
    o: { name: string; scopes: string[]; expiresAt: Date | null; createdBy: string | null },
  ) => {
    for (let attempt = 0; ; attempt++) {
      const prefix = base62(12);
      const key = `bwk_${prefix}_${base62(32)}`;
      try {
        const { rows } = await db.query(
          `INSERT INTO ${S}.api_keys (tenant_id, name, prefix, key_hash, pepper_id, scopes, expires_at, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id, created_at`,
          [tenantId, o.name, prefix, hmac(key), currentId, o.scopes, o.expiresAt, o.createdBy],
        );
        const row = rows[0]!;
        const issued: IssuedApiKey = {
          id: String(row.id),
          key,
          prefix,
          tenantId,
          name: o.name,
          scopes: o.scopes,
          createdAt: row.created_at as Date,
          expiresAt: o.expiresAt,
        };
        return issued;
      } catch (err) {
        const e = err as { code?: unknown; constraint?: unknown };
        if (e.code === '23505' && e.constraint === 'api_keys_prefix_key' && attempt < 3) continue;
        if (e.code === '23503' && e.constraint === 'api_keys_tenant_id_fkey') {
          throw createError(404, 'Tenant not found.', { code: 'tenant_not_found', expose: true });
        }
        throw err;
      }
    }
  };

  const checkIssue = (
    where: string,
    o: { name?: unknown; expiresAt?: unknown; createdBy?: unknown },
  ) => {
    const name = o.name ?? '';
    if (typeof name !== 'string' || name.length > 200) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_ARGUMENT',
        `${where}: name must be a string of at most 200 characters.`,
      );
    }
    const expiresAt = o.expiresAt ?? null;
    if (
      expiresAt !== null &&
      !(expiresAt instanceof Date && Number.isFinite(expiresAt.getTime()))
    ) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_ARGUMENT',
        `${where}: expiresAt ${show(expiresAt)} must be a valid Date.`,
      );
    }
    const createdBy = o.createdBy ?? null;
    if (createdBy !== null && typeof createdBy !== 'string') {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_ARGUMENT',
        `${where}: createdBy must be a string.`,
      );
    }
    return { name, expiresAt: expiresAt as Date | null, createdBy: createdBy as string | null };
  };

  /** The caller's permissions and key expiry, or a 403 when it may not manage this tenant's keys. */
  const boundsOf = async (
    where: string,
    tenantId: string,
    by: ApiKeyCaller,
  ): Promise<CallerBounds> => {
    checkCaller(where, by);
    if (by.scope !== 'operator' && by.tenantId !== tenantId) {
      throw cannotManageKeys('A caller can manage the API keys of its own tenant only.');
    }
    if (by.via !== 'api-key') {
      if (!Array.isArray(by.permissions)) {
        throw new RbacConfigError(
          'ERR_BULWARK_RBAC_ARGUMENT',
          `${where}: the permissions of by (${by.subject}) are not loaded, so nothing could be granted. Put requirePermission() before the route, or call loadPermissions(req) first.`,
        );
      }
      return { subject: by.subject, scopes: by.permissions, expiresAt: null };
    }
    if (!keysMayManageKeys) {
      throw cannotManageKeys(
        "An API key cannot issue, rotate or revoke API keys. Use a user's token.",
      );
    }
    const { rows } =
      typeof by.apiKeyId === 'string' && UUID.test(by.apiKeyId)
        ? await db.query(
            `SELECT scopes, expires_at, revoked_at, ${ACTIVE} AS active FROM ${S}.api_keys
              WHERE id = $1 AND tenant_id = $2`,
            [by.apiKeyId, tenantId],
          )
        : { rows: [] };
    const row = rows[0];
    // A key in the grace period of a rotation still authenticates, but its holder may be the one
    // the rotation evicts: it must not mint the keys that would outlive it.
    if (row?.active !== true || row.revoked_at != null) {
      throw cannotManageKeys(
        'This API key has been rotated or revoked, so it cannot issue, rotate or revoke API keys.',
      );
    }
    return {
      subject: by.subject,
      scopes: (row.scopes as string[]) ?? [],
      expiresAt: (row.expires_at as Date | null) ?? null,
    };
  };

  /** Refuses scopes beyond the caller's permissions, and any that would grant an operator permission. */
  const checkGrants = (scopes: readonly string[], bounds: CallerBounds | undefined) => {
    if (scopes.some((scope) => operatorPermissions.some((name) => permits([scope], name)))) {
      throw createError(403, 'A key cannot carry operator permissions.', {
        code: 'api_key_scope_reserved',
        expose: true,
      });
    }
    if (bounds && scopes.some((scope) => !permits(bounds.scopes, scope))) {
      throw createError(403, 'A key cannot carry permissions its issuer does not hold.', {
        code: 'api_key_scope_exceeds_issuer',
        expose: true,
      });
    }
  };

  /**
   * The expiry of a key made for a caller: `wanted` when it is within the caller's own expiry and
   * `maxLifetimeSec`, the latest allowed time when nothing was asked for, else a 422.
   */
  const boundedExpiry = (
    bounds: CallerBounds,
    wanted: Date | null | undefined,
    inherited: Date | null,
  ): Date => {
    const ceiling = Date.now() + maxLifetimeSec * 1000;
    const latest = new Date(Math.min(ceiling, bounds.expiresAt?.getTime() ?? ceiling));
    if (wanted === undefined) {
      return inherited && inherited.getTime() < latest.getTime() ? inherited : latest;
    }
    if (wanted === null || wanted.getTime() > latest.getTime()) {
      throw createError(
        422,
        `A key issued by this caller must expire by ${latest.toISOString()}.`,
        {
          code: 'api_key_lifetime_exceeded',
          expose: true,
          details: { latest: latest.toISOString() },
        },
      );
    }
    return wanted;
  };

  return {
    async issue(tenantId, o) {
      checkTenant('issue', tenantId);
      const checked = { ...checkIssue('issue', o ?? {}), scopes: checkScopes('issue', o?.scopes) };
      const bounds = o?.by === undefined ? undefined : await boundsOf('issue', tenantId, o.by);
      checkGrants(checked.scopes, bounds);
      if (bounds) {
        checked.expiresAt = boundedExpiry(bounds, o?.expiresAt, null);
        checked.createdBy ??= bounds.subject;
      }
      const issued = await insert(tenantId, checked);
      audit?.record({
        action: 'CREATE',
        resourceType: 'api_key',
        resourceId: issued.id,
        actor: checked.createdBy,
        tenantId,
        status: 'success',
        details: { name: issued.name, prefix: issued.prefix, scopes: issued.scopes },
      });
      return issued;
    },

    async verify(key) {
      const match = typeof key === 'string' ? KEY.exec(key) : null;
      if (!match) return null;
      const { rows } = await db.query(
        `SELECT id, tenant_id, name, scopes, key_hash, pepper_id, ${ACTIVE} AS active FROM ${S}.api_keys WHERE prefix = $1`,
        [match[1]],
      );
      const row = rows[0];
      const usedPepper = row ? peppers.get(Number(row.pepper_id)) : undefined;
      const expected = row && usedPepper ? (row.key_hash as Buffer) : decoy;
      const actual = hmac(key, usedPepper ?? pepper);
      // Compared even when no row matched, so a miss takes as long as a wrong secret.
      const equal = expected.length === actual.length && timingSafeEqual(expected, actual);
      if (!row || !usedPepper || !equal || row.active !== true) return null;
      const id = String(row.id);
      if (Number(row.pepper_id) !== currentId) {
        background(
          db.query(`UPDATE ${S}.api_keys SET key_hash = $2, pepper_id = $3 WHERE id = $1`, [
            id,
            hmac(key),
            currentId,
          ]),
          'move an API key to the current pepper',
        );
      }
      const now = Date.now();
      if (now - (touched.get(id) ?? 0) >= interval * 1000) {
        touched.set(id, now);
        background(
          db.query(
            `UPDATE ${S}.api_keys SET last_used_at = now() WHERE id = $1
             AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))`,
            [id, interval],
          ),
          'record when an API key was last used',
        );
      }
      return {
        id,
        tenantId: String(row.tenant_id),
        scope: 'customer',
        scopes: Object.freeze([...((row.scopes as string[]) ?? [])]),
        name: String(row.name),
      };
    },

    async rotate(tenantId, o = {}) {
      checkTenant('rotate', tenantId);
      const graceSec = o.graceSec ?? 0;
      if (
        typeof graceSec !== 'number' ||
        !Number.isFinite(graceSec) ||
        graceSec < 0 ||
        graceSec > 30 * 86_400
      ) {
        throw new RbacConfigError(
          'ERR_BULWARK_RBAC_ARGUMENT',
          `rotate: graceSec ${show(graceSec)} is not valid. Use 0 to 2592000 seconds (30 days).`,
        );
      }
      if (o.keyId !== undefined && (typeof o.keyId !== 'string' || !UUID.test(o.keyId))) {
        throw createError(404, 'API key not found.', { code: 'api_key_not_found', expose: true });
      }
      const { rows: current } = await db.query(
        `SELECT id, name, scopes, expires_at FROM ${S}.api_keys WHERE tenant_id = $1 AND ${ACTIVE}
         AND ($2::uuid IS NULL OR id = $2::uuid) ORDER BY created_at DESC`,
        [tenantId, o.keyId ?? null],
      );
      const newest = current[0];
      if ((o.keyId !== undefined && !newest) || (!newest && o.scopes === undefined)) {
        throw createError(404, 'API key not found.', { code: 'api_key_not_found', expose: true });
      }
      const inherited = (newest?.expires_at as Date | null | undefined) ?? null;
      const checked = checkIssue('rotate', {
        name: o.name ?? newest?.name,
        // Rotation replaces the secret, not the policy: a 7-day key must not come back as a
        // key that never expires.
        expiresAt: o.expiresAt === undefined ? inherited : o.expiresAt,
        createdBy: o.createdBy,
      });
      const scopes = checkScopes('rotate', o.scopes ?? newest?.scopes);
      const bounds = o.by === undefined ? undefined : await boundsOf('rotate', tenantId, o.by);
      checkGrants(scopes, bounds);
      if (bounds) {
        checked.expiresAt = boundedExpiry(bounds, o.expiresAt, inherited);
        checked.createdBy ??= bounds.subject;
      }
      const issued = await insert(tenantId, { ...checked, scopes });
      const ids = current.map((row) => String(row.id));
      const { rows: revoked } = await db.query(
        `UPDATE ${S}.api_keys
            SET revoked_at = LEAST(coalesce(revoked_at, 'infinity'), now() + make_interval(secs => $2)),
                replaced_by = $3
          WHERE id = ANY($1::uuid[]) RETURNING id, revoked_at`,
        [ids, graceSec, issued.id],
      );
      const result = revoked.map((row) => ({
        id: String(row.id),
        revokedAt: row.revoked_at as Date,
      }));
      audit?.record({
        action: 'ROTATE',
        resourceType: 'api_key',
        resourceId: issued.id,
        actor: checked.createdBy,
        tenantId,
        status: 'success',
        details: { replaced: ids, graceSec, prefix: issued.prefix, scopes },
      });
      return { key: issued, revoked: result };
    },

    async revoke(id, o) {
      // A missing or null tenant must not quietly mean "any tenant": that is opted into by name.
      const allTenants = (o as { allTenants?: unknown } | undefined)?.allTenants === true;
      if (allTenants ? o.tenantId !== undefined : typeof o?.tenantId !== 'string') {
        throw new RbacConfigError(
          'ERR_BULWARK_RBAC_ARGUMENT',
          allTenants
            ? 'revoke: give either tenantId or allTenants: true, not both.'
            : `revoke: tenantId ${show(o?.tenantId)} names no tenant, which would revoke the key in any tenant. Pass { tenantId: 'acme' } to revoke a key of that tenant only, or { allTenants: true } to revoke it wherever it is.`,
        );
      }
      if (!allTenants) checkTenant('revoke', o.tenantId);
      const bounds =
        !allTenants && o.by !== undefined ? await boundsOf('revoke', o.tenantId, o.by) : undefined;
      if (typeof id !== 'string' || !UUID.test(id)) return false;
      const { rows } = await db.query(
        `UPDATE ${S}.api_keys SET revoked_at = now()
          WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2) AND (revoked_at IS NULL OR revoked_at > now())
          RETURNING tenant_id`,
        [id, allTenants ? null : o.tenantId],
      );
      const row = rows[0];
      if (row) {
        audit?.record({
          action: 'DELETE',
          resourceType: 'api_key',
          resourceId: id,
          actor: o.actor ?? bounds?.subject ?? null,
          tenantId: String(row.tenant_id),
          status: 'success',
          details: allTenants ? { revoked: true, allTenants: true } : { revoked: true },
        });
      }
      return !!row;
    },

    async list(tenantId) {
      checkTenant('list', tenantId);
      const { rows } = await db.query(
        `SELECT id, tenant_id, name, prefix, scopes, created_at, expires_at, revoked_at, last_used_at, ${ACTIVE} AS active
           FROM ${S}.api_keys WHERE tenant_id = $1 ORDER BY created_at DESC`,
        [tenantId],
      );
      return rows.map(toInfo);
    },
  };
}
