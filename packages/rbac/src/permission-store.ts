// Loads a subject's permissions from PostgreSQL with a TTL cache that LISTEN/NOTIFY clears across instances.
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { checkOptionNames, checkOptionsObject, defined, RbacConfigError, show } from './errors.js';
import { channels, warn } from './events.js';
import { isGrant } from './permissions.js';
import type { ListeningClient, Logger, PoolLike, Queryable } from './types.js';

/** The NOTIFY channel the migration's triggers publish grant changes on. */
export const GRANTS_CHANNEL = 'bulwark_rbac_grants';

/**
 * A store's synchronous look into its cache, `(subject, tenantId) => grants | undefined`, under
 * the same rules as `permissionsFor`, so that a guard answers at once when the grants are cached.
 */
export const CACHED_PERMISSIONS = Symbol('bulwark.rbac.cachedPermissions');

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
  /**
   * Where the LISTEN connection comes from. Default: `db`. When `db` goes through PgBouncer in
   * transaction mode, where LISTEN cannot work (the store refuses it with
   * `ERR_BULWARK_RBAC_LISTEN_POOLED`), give a pool that reaches PostgreSQL directly or through
   * session pooling; the store holds one connection of it.
   */
  listenDb?: Queryable & { connect(): Promise<unknown> };
  /**
   * How often the LISTEN connection proves it is alive, in ms: it sends itself a NOTIFY and must
   * hear it back. Default `5_000`. A connection that stops answering without closing (a
   * half-open TCP connection) is found within `heartbeatIntervalMs + heartbeatTimeoutMs`.
   */
  heartbeatIntervalMs?: number;
  /**
   * How long a heartbeat (and connecting, and LISTEN) may take, in ms, before the LISTEN
   * connection is declared dead: caching stops and the store reconnects. Default `5_000`.
   */
  heartbeatTimeoutMs?: number;
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
  /**
   * Resolves once LISTEN is active and has answered a heartbeat (at once when `listen: false`).
   * Rejects with `ERR_BULWARK_RBAC_LISTEN_POOLED` when the LISTEN connection goes through
   * transaction pooling; the store then caches nothing.
   */
  ready(): Promise<void>;
  /** True while the cache is in use (LISTEN active and its last heartbeat answered, or `listen: false`). */
  readonly caching: boolean;
  /** Stops listening and releases the connection. */
  close(): Promise<void>;
}

const NAMES = [
  'db',
  'ttlMs',
  'maxEntries',
  'listen',
  'listenDb',
  'heartbeatIntervalMs',
  'heartbeatTimeoutMs',
  'logger',
] as const;

const { listenerLost, listenerRestored } = channels;

/** Why the LISTEN connection was given up, as published on `bulwark:rbac:listener-lost`. */
type ListenerLossReason = 'heartbeat_timeout' | 'error' | 'ended';

/**
 * A pool that reports clients held too long (`@bulwark/db-safety`'s `createPool()`) gives each
 * client a function under this well-known key; calling it declares the checkout long-lived on
 * purpose. Looked up by name, since this package does not depend on that one.
 */
const HELD = Symbol.for('bulwark.db.held');

/** Tells `client`'s pool, when it asks to be told, that this connection is held for the store's life. */
function declareHeld(client: ListeningClient): void {
  const held = (client as { [HELD]?: unknown })[HELD];
  if (typeof held === 'function') held.call(client);
}

/** The longest a Node.js timer can wait. */
const MAX_TIMER_MS = 2_147_483_647;

/** What `pg.Client` keeps of its socket; read structurally, since other clients may lack it. */
interface SocketHolder {
  connection?: {
    stream?: { setKeepAlive?(enable: boolean, delayMs: number): unknown; destroy?(): unknown };
  };
}
const S = 'bulwark_rbac';
const PERMISSIONS_SQL = `SELECT DISTINCT rp.permission
  FROM ${S}.user_roles ur
  JOIN ${S}.users u ON u.subject = ur.subject AND u.disabled_at IS NULL
  JOIN ${S}.role_permissions rp ON rp.role = ur.role
  WHERE ur.subject = $1 AND (ur.tenant_id IS NULL OR ur.tenant_id = $2)
  ORDER BY 1`;

/** Resolves true when `work` settles within `ms`, false when it has not by then; rejects with its error. */
function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(false), ms);
    timer.unref();
    work.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

// The subject's length first, so no subject (which may hold any character) can reach into the
// tenant part, and a marker telling no tenant from an empty one: two pairs never share a key.
function subjectPrefix(subject: string): string {
  return `${subject.length}:${subject}\u0000`;
}

function cacheKey(subject: string, tenantId: string | null): string {
  return `${subjectPrefix(subject)}${tenantId === null ? '-' : `+${tenantId}`}`;
}

/**
 * Resolves permissions from the package's tables (run `migrate(db)` first), cached per subject
 * and tenant for `ttlMs`. Triggers on the grant tables NOTIFY every instance, which drops the
 * affected entries at once; while the LISTEN connection is down nothing is cached, so a revoked
 * grant is never honoured from a stale cache. The LISTEN connection sends itself a NOTIFY every
 * `heartbeatIntervalMs`; one not heard back within `heartbeatTimeoutMs` ends caching until a new
 * connection has answered one (`bulwark:rbac:listener-lost`, then `listener-restored`).
 *
 * A LISTEN connection that goes through transaction pooling (PgBouncer's `pool_mode =
 * transaction`) would never hear a change: the store finds that out when it connects, refuses it
 * (`ready()` rejects with `ERR_BULWARK_RBAC_LISTEN_POOLED`, naming `listenDb` as the fix) and
 * caches nothing.
 *
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_DB` when `db` cannot query, or `db` (or `listenDb`)
 * cannot LISTEN while `listen` is on; `ERR_BULWARK_RBAC_OPTIONS` for a bad `ttlMs`, `maxEntries`
 * or heartbeat option, or `listenDb` with `listen: false`.
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
  const listenDb = options.listenDb;
  if (listenDb !== undefined) {
    if (!listen) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_OPTIONS',
        'createPermissionStore: listenDb is set but listen is false, so nothing would use it. Remove listenDb, or listen: false.',
      );
    }
    if (
      typeof listenDb !== 'object' ||
      listenDb === null ||
      typeof listenDb.connect !== 'function'
    ) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_DB',
        `createPermissionStore: listenDb ${show(listenDb)} has no connect() method. Pass a pg Pool that reaches PostgreSQL directly.`,
      );
    }
  } else if (listen && typeof (db as PoolLike).connect !== 'function') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_DB',
      'createPermissionStore: db has no connect() method, so it cannot LISTEN for grant changes. Pass a pg Pool, or set listen: false to rely on the TTL alone.',
    );
  }
  const listenSource = (listenDb ?? db) as PoolLike;
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
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 5_000;
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 5_000;
  for (const [name, value] of [
    ['heartbeatIntervalMs', heartbeatIntervalMs],
    ['heartbeatTimeoutMs', heartbeatTimeoutMs],
  ] as const) {
    if (
      typeof value !== 'number' ||
      !Number.isInteger(value) ||
      value < 1 ||
      value > MAX_TIMER_MS
    ) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_OPTIONS',
        `createPermissionStore: ${name} ${show(value)} is not valid. Use a whole number of milliseconds from 1 to ${MAX_TIMER_MS}, such as 5_000.`,
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
  let heartbeatTimer: NodeJS.Timeout | undefined;
  // When an established listener was lost, so that its return is published once, with the gap.
  let lostAt: number | undefined;
  // A channel of this store's own: heartbeats never reach another instance, nor clear its cache.
  const heartbeatChannel = `bulwark_rbac_heartbeat_${randomBytes(8).toString('hex')}`;
  let beats = 0;
  let echo: { payload: string; heard: () => void } | undefined;
  let markReady: () => void = () => {};
  let markRefused: (err: Error) => void = () => {};
  const readyPromise = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markRefused = reject;
  });
  // A refusal reaches whoever awaits ready(); nobody awaiting it is no crash.
  readyPromise.catch(() => {});
  if (!listen) markReady();

  const invalidate = (subject = '*'): void => {
    epoch++;
    inFlight.clear();
    if (subject === '*') cache.clear();
    else {
      const prefix = subjectPrefix(subject);
      for (const key of [...cache.keys()]) if (key.startsWith(prefix)) cache.delete(key);
    }
    for (const listener of listeners) listener(subject);
  };

  const onNotification = (message: { channel: string; payload?: string }) => {
    if (message.channel === heartbeatChannel) {
      if (echo && message.payload === echo.payload) echo.heard();
      return;
    }
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

  /** Resolves true once `through` hears its own NOTIFY, false when `heartbeatTimeoutMs` passes first. */
  const heartbeat = (through: ListeningClient): Promise<boolean> =>
    new Promise((resolve, reject) => {
      const payload = String(++beats);
      const timer = setTimeout(() => {
        if (echo?.payload === payload) echo = undefined;
        resolve(false);
      }, heartbeatTimeoutMs);
      timer.unref();
      echo = {
        payload,
        heard: () => {
          clearTimeout(timer);
          echo = undefined;
          resolve(true);
        },
      };
      through.query('SELECT pg_notify($1, $2)', [heartbeatChannel, payload]).catch((err) => {
        clearTimeout(timer);
        if (echo?.payload === payload) echo = undefined;
        reject(err);
      });
    });

  const dropConnection = (err?: Error, destroy = false) => {
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
    // A connection given up for silence may never answer a goodbye: close its socket outright.
    if (destroy) (lost as SocketHolder).connection?.stream?.destroy?.();
  };

  const lose = (lost: ListeningClient, reason: ListenerLossReason, err?: Error) => {
    if (client !== lost || closed) return;
    const wasListening = listening;
    listening = false;
    invalidate();
    if (heartbeatTimer) clearTimeout(heartbeatTimer);
    heartbeatTimer = undefined;
    const error =
      reason === 'heartbeat_timeout'
        ? `no heartbeat within ${heartbeatTimeoutMs} ms`
        : (err?.message ?? 'connection ended');
    warn(
      logger,
      'ERR_BULWARK_RBAC_LISTEN',
      'the LISTEN connection for grant changes was lost; caching is off until it is back',
      { reason, error },
    );
    if (wasListening) {
      lostAt = Date.now();
      if (listenerLost.hasSubscribers) listenerLost.publish({ reason, error });
    }
    dropConnection(err, true);
    schedule();
  };

  const scheduleHeartbeat = (current: ListeningClient) => {
    heartbeatTimer = setTimeout(() => {
      heartbeatTimer = undefined;
      heartbeat(current).then(
        (heard) => {
          if (client !== current) return;
          if (heard) scheduleHeartbeat(current);
          else lose(current, 'heartbeat_timeout');
        },
        (err: unknown) => lose(current, 'error', err instanceof Error ? err : undefined),
      );
    }, heartbeatIntervalMs);
    heartbeatTimer.unref();
  };

  // One db.connect() at a time, each wait bounded: an attempt that hangs (a connection into a
  // network that swallows packets) is waited for by the next retry, not joined by another one
  // holding a further slot of the pool.
  let connecting = false;
  let waiting: { resolve(c: ListeningClient): void; reject(err: unknown): void } | undefined;
  const acquire = (): Promise<ListeningClient> =>
    new Promise((resolve, reject) => {
      const waiter = {
        resolve: (c: ListeningClient) => {
          clearTimeout(timer);
          resolve(c);
        },
        reject: (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        if (waiting === waiter) waiting = undefined;
        reject(new Error(`no connection within ${heartbeatTimeoutMs} ms`));
      }, heartbeatTimeoutMs);
      timer.unref();
      waiting = waiter;
      if (connecting) return;
      connecting = true;
      listenSource.connect().then(
        (c) => {
          connecting = false;
          const w = waiting;
          waiting = undefined;
          // Late, with nobody waiting: it works, so it goes back to the pool.
          if (w && !closed) w.resolve(c);
          else c.release?.();
        },
        (err: unknown) => {
          connecting = false;
          const w = waiting;
          waiting = undefined;
          w?.reject(err);
        },
      );
    });

  /** `SELECT pg_backend_pid()` on `through`, or undefined when it takes longer than `heartbeatTimeoutMs`. */
  const backendPid = async (through: Queryable): Promise<number | undefined> => {
    let pid: number | undefined;
    const answered = await within(
      through.query('SELECT pg_backend_pid() AS pid').then(({ rows }) => {
        pid = Number(rows[0]?.pid);
      }),
      heartbeatTimeoutMs,
    );
    return answered ? pid : undefined;
  };

  /**
   * Sends a NOTIFY on the heartbeat channel from `db`, another connection, and resolves whether
   * `current` hears it within `heartbeatTimeoutMs` of its commit; undefined when the NOTIFY itself
   * took longer than that.
   */
  const hearsOthers = (current: ListeningClient): Promise<boolean | undefined> =>
    new Promise((resolve, reject) => {
      const payload = String(++beats);
      const forget = () => {
        if (echo?.payload === payload) echo = undefined;
      };
      let timer: NodeJS.Timeout | undefined;
      echo = {
        payload,
        heard: () => {
          clearTimeout(timer);
          echo = undefined;
          resolve(true);
        },
      };
      within(db.query('SELECT pg_notify($1, $2)', [heartbeatChannel, payload]), heartbeatTimeoutMs)
        .then((sent) => {
          if (echo?.payload !== payload) return;
          if (!sent || client !== current) {
            forget();
            resolve(undefined);
            return;
          }
          timer = setTimeout(() => {
            forget();
            resolve(false);
          }, heartbeatTimeoutMs);
          timer.unref();
        })
        .catch((err: unknown) => {
          forget();
          reject(err);
        });
    });

  /**
   * True when `current` goes through transaction (or statement) pooling. A pooler answers the
   * login with a process id of its own; a direct connection or a TCP proxy does not, and is not
   * probed further. Behind a pooler, the server process `current`'s statements run on also runs a
   * statement of `db` while `current` stays connected (the pooler hands the server connection a
   * client has just left to the next one that asks, unless someone else took it first, so a few
   * turns make a shared one show up); or else a NOTIFY sent from `db` does not reach `current`,
   * which is what the LISTEN is for.
   */
  const transactionPooled = async (current: ListeningClient): Promise<boolean> => {
    const announced = (current as { processID?: unknown }).processID;
    if (typeof announced !== 'number') return false;
    let mine = await backendPid(current);
    if (mine === undefined || mine === announced) return false;
    for (let turn = 0; turn < 3; turn++) {
      if ((await backendPid(db)) === mine) return true;
      mine = await backendPid(current);
      if (mine === undefined) break;
    }
    const heard = await hearsOthers(current);
    if (heard === undefined) throw new Error(`a NOTIFY took longer than ${heartbeatTimeoutMs} ms`);
    return !heard;
  };

  const refuse = async (current: ListeningClient): Promise<void> => {
    const refusal = new RbacConfigError(
      'ERR_BULWARK_RBAC_LISTEN_POOLED',
      'createPermissionStore: the LISTEN connection for grant changes goes through a pooler that hands out server connections per transaction (PgBouncer with pool_mode = transaction), so its LISTEN stays on a server connection other clients use and grant changes would never arrive. Give the store a direct connection for notifications: listenDb: new pg.Pool({ connectionString: <direct PostgreSQL URL>, max: 1 }), or a PgBouncer pool in session mode. Until then nothing is cached.',
    );
    warn(logger, refusal.code, refusal.message, { reason: 'transaction_pooling' });
    // The LISTEN outlives this client on the server connection it ran on: undo it there.
    await within(current.query('UNLISTEN *'), heartbeatTimeoutMs).catch(() => false);
    dropConnection(undefined, false);
    markRefused(refusal);
  };

  const connect = async (): Promise<void> => {
    if (closed) return;
    let next: ListeningClient | undefined;
    try {
      next = await acquire();
      if (closed) {
        next.release?.(true);
        return;
      }
      const current = next;
      client = current;
      // Held until close() or a loss, through every reconnect: not a leak to the pool's detector.
      declareHeld(current);
      current.on('notification', onNotification);
      current.on('error', (err?: Error) => lose(current, 'error', err));
      current.on('end', () => lose(current, 'ended'));
      // Lets the kernel notice a peer that is gone, between and beyond heartbeats; TCP counts
      // the idle time in whole seconds.
      (current as SocketHolder).connection?.stream?.setKeepAlive?.(
        true,
        Math.max(1000, heartbeatIntervalMs),
      );
      const listened = await within(
        current.query(`LISTEN ${GRANTS_CHANNEL}; LISTEN ${heartbeatChannel}`),
        heartbeatTimeoutMs,
      );
      if (client !== current) return;
      if (!listened) throw new Error(`LISTEN did not complete within ${heartbeatTimeoutMs} ms`);
      const pooled = await transactionPooled(current);
      if (client !== current) return;
      if (pooled) {
        await refuse(current);
        return;
      }
      const heard = await heartbeat(current);
      if (client !== current) return;
      if (!heard) throw new Error(`no heartbeat within ${heartbeatTimeoutMs} ms`);
      // Anything cached before this connection answered may have missed a change.
      invalidate();
      listening = true;
      retryMs = 250;
      if (lostAt !== undefined) {
        if (listenerRestored.hasSubscribers) {
          listenerRestored.publish({ downMs: Date.now() - lostAt });
        }
        lostAt = undefined;
      }
      markReady();
      scheduleHeartbeat(current);
    } catch (err) {
      // A loss already handled by lose() needs nothing more here.
      if (closed || (next !== undefined && client !== next)) return;
      warn(
        logger,
        'ERR_BULWARK_RBAC_LISTEN',
        'could not LISTEN for grant changes; retrying, caching is off meanwhile',
        {
          error: err instanceof Error ? err.message : String(err),
        },
      );
      dropConnection(err instanceof Error ? err : undefined, true);
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

  // The key of the subject and tenant asked about last: a client's requests ask about the same
  // pair again and again, and one string, made once, is looked up without being built and hashed
  // anew. Both are strings (or a null tenant) compared by value, so any other pair gets its own
  // key; anything else a caller passes is keyed afresh, as before.
  let lastSubject: string | undefined;
  let lastTenant: string | null = null;
  let lastKey = '';
  const keyFor = (subject: string, tenantId: string | null): string => {
    if (subject === lastSubject && tenantId === lastTenant) return lastKey;
    const key = cacheKey(subject, tenantId);
    if (typeof subject === 'string' && (tenantId === null || typeof tenantId === 'string')) {
      lastSubject = subject;
      lastTenant = tenantId;
      lastKey = key;
    }
    return key;
  };

  const cached = (subject: string, tenantId: string | null): readonly string[] | undefined =>
    listening ? cache.get(keyFor(subject, tenantId)) : undefined;

  const store: PermissionStore = {
    permissionsFor(subject, tenantId) {
      const hit = cached(subject, tenantId);
      if (hit) return Promise.resolve(hit);
      const key = keyFor(subject, tenantId);
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
      if (heartbeatTimer) clearTimeout(heartbeatTimer);
      // Released with an error, the connection is closed, and its LISTENs end with its session;
      // an UNLISTEN first could wait for ever on a connection that went silent.
      dropConnection();
      listening = false;
      cache.clear();
      markReady();
    },
  };
  // Not enumerable and keyed by a symbol: for authenticate() only, not part of the store's API.
  Object.defineProperty(store, CACHED_PERMISSIONS, { value: cached });
  return store;
}
