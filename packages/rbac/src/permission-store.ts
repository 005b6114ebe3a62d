// Loads a subject's permissions from PostgreSQL with a TTL cache that LISTEN/NOTIFY clears across instances.
import { LRUCache } from 'lru-cache';
import { checkOptionNames, checkOptionsObject, defined, RbacConfigError, show } from './errors.js';
import { warn } from './events.js';
import { isGrant } from './permissions.js';
import type { ListeningClient, Logger, PoolLike, Queryable } from './types.js';

/** The NOTIFY channel the migration's triggers publish grant changes on. */
export const GRANTS_CHANNEL = 'bulwark_rbac_grants';

export interface PermissionStoreOptions {
  /** A `pg.Pool` (or anything with `query` and `connect`). */
  db: Queryable | PoolLike;
  /** How long a subject's permissions are cached, in ms. Default `30_000`. */
  ttlMs?: number;
  /** Most subjects cached at once. Default `10_000`. */
  maxEntries?: number;
  /**
   * LISTEN for grant changes so every instance drops stale entries at once. Default `true`,
   * which needs `db.connect()`. `false` leaves only the TTL, so a revoked grant can be honoured
   * for up to `ttlMs`.
   */
  listen?: boolean;
  /** Receives warnings when the LISTEN connection drops. Default: `process.emitWarning`. */
  logger?: Logger;
}

export interface GrantOptions {
  /** Tenant the role applies in; `null` for every tenant (platform staff). */
  tenantId: string | null;
  /** Who granted it, for the record. */
  grantedBy?: string;
}

export interface PermissionStore {
  /** The subject's grants in the tenant (plus grants for every tenant), cached. */
  permissionsFor(subject: string, tenantId: string | null): Promise<readonly string[]>;
  /** Gives `subject` a role, creating the user row if needed. Resolves `true` if it was new. */
  grant(subject: string, role: string, options: GrantOptions): Promise<boolean>;
  /** Takes a role away. Resolves `true` if there was one to take. */
  revoke(subject: string, role: string, options: GrantOptions): Promise<boolean>;
  /** Drops cached permissions for one subject, or all. Other instances learn through NOTIFY. */
  invalidate(subject?: string): void;
  /** Calls `listener` with the subject (or `'*'`) after each invalidation; returns an unsubscribe function. */
  onInvalidate(listener: (subject: string) => void): () => void;
  /** Resolves once LISTEN is active (at once when `listen: false`). */
  ready(): Promise<void>;
  /** True while the cache is in use (LISTEN active, or `listen: false`). */
  readonly caching: boolean;
  /** Stops listening and releases the connection. */
  close(): Promise<void>;
}

const NAMES = ['db', 'ttlMs', 'maxEntries', 'listen', 'logger'] as const;
const S = 'bulwark_rbac';
const PERMISSIONS_SQL = `SELECT DISTINCT rp.permission
  FROM ${S}.user_roles ur
  JOIN ${S}.users u ON u.subject = ur.subject AND u.disabled_at IS NULL
  JOIN ${S}.role_permissions rp ON rp.role = ur.role
  WHERE ur.subject = $1 AND (ur.tenant_id IS NULL OR ur.tenant_id = $2)
  ORDER BY 1`;

function cacheKey(subject: string, tenantId: string | null): string {
  return `${subject}\u0000${tenantId ?? ''}`;
}

/**
 * Resolves permissions from the package's tables (run `migrate(db)` first), cached per subject
 * and tenant for `ttlMs`. Triggers on the grant tables NOTIFY every instance, which drops the
 * affected entries at once; while the LISTEN connection is down nothing is cached, so a revoked
 * grant is never honoured from a stale cache.
 *
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_DB` when `db` cannot query, or cannot LISTEN while `listen` is on.
 * @example
 * const permissions = createPermissionStore({ db: pool });
 * app.use(authenticate({ jwt, permissions }));
 */
export function createPermissionStore(input: PermissionStoreOptions): PermissionStore {
  checkOptionsObject('createPermissionStore', input);
  checkOptionNames('createPermissionStore', input, NAMES);
  const options = defined(input);
  const db = options.db;
  if (!db || typeof db.query !== 'function') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_DB',
      `createPermissionStore: db ${show(db)} has no query(text, values) method. Pass a pg Pool.`,
    );
  }
  const listen = options.listen ?? true;
  if (typeof listen !== 'boolean') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `createPermissionStore: listen ${show(listen)} must be true or false.`,
    );
  }
  if (listen && typeof (db as PoolLike).connect !== 'function') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_DB',
      'createPermissionStore: db has no connect() method, so it cannot LISTEN for grant changes. Pass a pg Pool, or set listen: false to rely on the TTL alone.',
    );
  }
  const ttlMs = options.ttlMs ?? 30_000;
  const maxEntries = options.maxEntries ?? 10_000;
  for (const [name, value] of [
    ['ttlMs', ttlMs],
    ['maxEntries', maxEntries],
  ] as const) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_OPTIONS',
        `createPermissionStore: ${name} ${show(value)} is not valid. Use a positive integer.`,
      );
    }
  }
  const logger = options.logger;
  const cache = new LRUCache<string, readonly string[]>({ max: maxEntries, ttl: ttlMs });
  const inFlight = new Map<string, Promise<readonly string[]>>();
  const listeners = new Set<(subject: string) => void>();
  let epoch = 0;
  let listening = !listen;
  let closed = false;
  let client: ListeningClient | undefined;
  let retryMs = 250;
  let retryTimer: NodeJS.Timeout | undefined;
  let markReady: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  if (!listen) markReady();

  const invalidate = (subject = '*'): void => {
    epoch++;
    inFlight.clear();
    if (subject === '*') cache.clear();
    else {
      const prefix = `${subject}\u0000`;
      for (const key of [...cache.keys()]) if (key.startsWith(prefix)) cache.delete(key);
    }
    for (const listener of listeners) listener(subject);
  };

  const onNotification = (message: { channel: string; payload?: string }) => {
    if (message.channel !== GRANTS_CHANNEL) return;
    let subject = '*';
    try {
      const parsed =
        message.payload && message.payload !== '*'
          ? (JSON.parse(message.payload) as { subject?: unknown })
          : null;
      if (parsed && typeof parsed.subject === 'string') subject = parsed.subject;
    } catch {
      // An unreadable payload clears everything, which is always safe.
    }
    invalidate(subject);
  };

  const dropConnection = (err?: Error) => {
    const lost = client;
    client = undefined;
    if (!lost) return;
    lost.removeAllListeners?.('notification');
    lost.removeAllListeners?.('error');
    lost.removeAllListeners?.('end');
    lost.on('error', () => {});
    try {
      lost.release?.(err ?? true);
    } catch {
      // Already released by the pool.
    }
  };

  const connect = async (): Promise<void> => {
    if (closed) return;
    try {
      const next = await (db as PoolLike).connect();
      if (closed) {
        next.release?.(true);
        return;
      }
      client = next;
      next.on('notification', onNotification);
      const onLost = (err?: Error) => {
        if (client !== next) return;
        listening = false;
        invalidate();
        warn(
          logger,
          'ERR_BULWARK_RBAC_LISTEN',
          'the LISTEN connection for grant changes was lost; caching is off until it is back',
          {
            error: err?.message ?? 'connection ended',
          },
        );
        dropConnection(err);
        schedule();
      };
      next.on('error', onLost);
      next.on('end', onLost);
      await next.query(`LISTEN ${GRANTS_CHANNEL}`);
      // Anything cached before LISTEN was active may have missed a change.
      invalidate();
      listening = true;
      retryMs = 250;
      markReady();
    } catch (err) {
      if (closed) return;
      warn(
        logger,
        'ERR_BULWARK_RBAC_LISTEN',
        'could not LISTEN for grant changes; retrying, caching is off meanwhile',
        {
          error: err instanceof Error ? err.message : String(err),
        },
      );
      dropConnection(err instanceof Error ? err : undefined);
      schedule();
    }
  };

  const schedule = () => {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, retryMs);
    retryTimer.unref();
    retryMs = Math.min(retryMs * 2, 30_000);
  };

  if (listen) void connect();

  const load = async (
    subject: string,
    tenantId: string | null,
    key: string,
  ): Promise<readonly string[]> => {
    const startEpoch = epoch;
    const { rows } = await db.query(PERMISSIONS_SQL, [subject, tenantId]);
    const grants = Object.freeze(rows.map((row) => String(row.permission)).filter(isGrant));
    if (listening && startEpoch === epoch) cache.set(key, grants);
    return grants;
  };

  const checkArgs = (
    where: string,
    subject: unknown,
    role: unknown,
    o: GrantOptions | undefined,
  ) => {
    if (typeof subject !== 'string' || subject === '' || subject.length > 256) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_ARGUMENT',
        `${where}: subject ${show(subject)} must be a non-empty string.`,
      );
    }
    if (typeof role !== 'string' || !/^[a-z][a-z0-9_-]{0,63}$/.test(role)) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_ARGUMENT',
        `${where}: role ${show(role)} is not a role name such as 'viewer'.`,
      );
    }
    if (!o || (o.tenantId !== null && (typeof o.tenantId !== 'string' || o.tenantId === ''))) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_ARGUMENT',
        `${where}: options.tenantId ${show(o?.tenantId)} must be a tenant id, or null for every tenant.`,
      );
    }
  };

  return {
    permissionsFor(subject, tenantId) {
      const key = cacheKey(subject, tenantId);
      const cached = listening ? cache.get(key) : undefined;
      if (cached) return Promise.resolve(cached);
      let pending = inFlight.get(key);
      if (!pending) {
        pending = load(subject, tenantId, key).finally(() => {
          if (inFlight.get(key) === pending) inFlight.delete(key);
        });
        inFlight.set(key, pending);
      }
      return pending;
    },
    async grant(subject, role, o) {
      checkArgs('grant', subject, role, o);
      await db.query(
        `INSERT INTO ${S}.users (subject, tenant_id) VALUES ($1, $2) ON CONFLICT (subject) DO NOTHING`,
        [subject, o.tenantId],
      );
      const result = await db.query(
        `INSERT INTO ${S}.user_roles (subject, role, tenant_id, granted_by) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
        [subject, role, o.tenantId, o.grantedBy ?? null],
      );
      invalidate(subject);
      return (result.rowCount ?? 0) > 0;
    },
    async revoke(subject, role, o) {
      checkArgs('revoke', subject, role, o);
      const result = await db.query(
        `DELETE FROM ${S}.user_roles WHERE subject = $1 AND role = $2 AND tenant_id IS NOT DISTINCT FROM $3`,
        [subject, role, o.tenantId],
      );
      invalidate(subject);
      return (result.rowCount ?? 0) > 0;
    },
    invalidate,
    onInvalidate(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    ready: () => readyPromise,
    get caching() {
      return listening;
    },
    async close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      const current = client;
      if (current) {
        try {
          await current.query(`UNLISTEN ${GRANTS_CHANNEL}`);
        } catch {
          // The connection is going away regardless.
        }
      }
      dropConnection();
      listening = false;
      cache.clear();
      markReady();
    },
  };
}
