// Permissions from PostgreSQL through the guards: Viewer vs Full Admin, and NOTIFY invalidation across instances.
import { createHmac } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import {
  createTestDatabase,
  type Listening,
  type RunningPgBouncer,
  requireService,
  startPgBouncer,
  type TestDatabase,
} from '@bulwark/test-utils';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate } from './authenticate.js';
import { RbacConfigError } from './errors.js';
import { migrate } from './migrate.js';
import {
  CACHED_PERMISSIONS,
  createPermissionStore,
  type PermissionStore,
} from './permission-store.js';
import { requireCustomer, requireOperator, requirePermission } from './permissions.js';
import { appWith, capture, serve } from './test-support.js';
import type { ListeningClient, PoolLike } from './types.js';

const hasPg = await requireService('postgres');
const hasPgBouncer = hasPg && (await requireService('pgbouncer'));
const SECRET = Buffer.alloc(32, 9);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
function tokenFor(
  sub: string,
  tenant: string | null = 'acme',
  extra: Record<string, unknown> = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, tenant_id: tenant, iss: 'test', aud: 'api', iat: now, exp: now + 300, ...extra })}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}
const jwt = { algorithms: ['HS256' as const], secret: SECRET, issuer: 'test', audience: 'api' };
const quiet = { error: () => {}, warn: () => {}, info: () => {} };

/** Collects the messages published on one diagnostics channel until `stop()`. */
function collect(name: string) {
  const messages: Record<string, unknown>[] = [];
  const onMessage = (message: unknown) => messages.push(message as Record<string, unknown>);
  subscribe(name, onMessage);
  return { messages, stop: () => unsubscribe(name, onMessage) };
}

/** Polls `check` every 25 ms until it holds, or fails once `timeoutMs` has passed. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await delay(25);
  }
}

/** Resolves when `store` drops its cached permissions for `subject`. */
function invalidated(store: PermissionStore, subject: string): Promise<void> {
  return new Promise((resolve) => {
    const off = store.onInvalidate((s) => {
      if (s === subject) {
        off();
        resolve();
      }
    });
  });
}

/**
 * A loopback TCP proxy that can stop forwarding without closing anything, the way a connection
 * through a failed NAT or firewall goes half-open: both ends keep their sockets and hear nothing.
 * What arrives while frozen, closes included, is held and delivered in order on `heal()`.
 */
async function startFreezableProxy(target: URL) {
  let frozen = false;
  const held: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const forward = (from: Socket, to: Socket) => {
    from.on('data', (chunk) => (frozen ? held.push(() => to.write(chunk)) : to.write(chunk)));
    from.on('close', () => (frozen ? held.push(() => to.destroy()) : to.destroy()));
    from.on('error', () => {});
  };
  const server = createServer((downstream) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(downstream).add(upstream);
    forward(downstream, upstream);
    forward(upstream, downstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    freeze() {
      frozen = true;
    },
    heal() {
      frozen = false;
      for (const deliver of held.splice(0)) deliver();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe.runIf(hasPg)('createPermissionStore with requirePermission', () => {
  let db: TestDatabase;
  let poolA: pg.Pool;
  let poolB: pg.Pool;
  let storeA: PermissionStore;
  let storeB: PermissionStore;
  let serverA: Listening;
  let serverB: Listening;

  beforeAll(async () => {
    db = await createTestDatabase('rbac_store');
    poolA = new pg.Pool({ connectionString: db.url, max: 4 });
    poolB = new pg.Pool({ connectionString: db.url, max: 4 });
    await migrate(poolA);
    await poolA.query(
      `INSERT INTO bulwark_rbac.tenants (id, name) VALUES ('acme', 'Acme'), ('globex', 'Globex')`,
    );
    storeA = createPermissionStore({ db: poolA, logger: quiet });
    storeB = createPermissionStore({ db: poolB, logger: quiet });
    await Promise.all([storeA.ready(), storeB.ready()]);
    await storeA.grant('vera-viewer', 'viewer', { tenantId: 'acme' });
    await storeA.grant('ada-admin', 'admin', { tenantId: 'acme' });
    await storeA.grant('otto-operator', 'operator', { tenantId: 'acme' });
    const chain = (store: PermissionStore) =>
      appWith(
        authenticate({ jwt, permissions: store }),
        requireCustomer(),
        requirePermission('devices:write'),
      );
    serverA = await serve(chain(storeA));
    serverB = await serve(chain(storeB));
  });

  afterAll(async () => {
    await Promise.all([serverA?.close(), serverB?.close()]);
    await Promise.all([storeA?.close(), storeB?.close()]);
    await Promise.all([poolA?.end(), poolB?.end()]);
    await db?.drop();
  });

  const post = (
    server: Listening,
    sub: string,
    tenant?: string | null,
    extra?: Record<string, unknown>,
  ) =>
    fetch(`${server.url}/thing`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tokenFor(sub, tenant, extra)}`,
        'content-type': 'application/json',
      },
      body: '{"name":"sensor-1"}',
    });

  it('answers a Viewer POST with 403 and a Full Admin POST with 201', async () => {
    const denied = capture('denied');
    try {
      const viewer = await post(serverA, 'vera-viewer');
      expect(viewer.status).toBe(403);
      expect(viewer.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope"');
      const body = await viewer.json();
      expect(body).toMatchObject({ code: 'forbidden' });
      expect(JSON.stringify(body)).not.toContain('devices:write');
      expect(denied.messages.at(-1)).toMatchObject({
        subject: 'vera-viewer',
        missing: ['devices:write'],
      });
      expect((await post(serverA, 'ada-admin')).status).toBe(201);
      expect((await post(serverA, 'otto-operator')).status).toBe(201);
    } finally {
      denied.stop();
    }
  });

  it('applies a grant only in its own tenant', async () => {
    await poolA.query(
      `INSERT INTO bulwark_rbac.users (subject) VALUES ('gil') ON CONFLICT DO NOTHING`,
    );
    await storeA.grant('gil', 'admin', { tenantId: 'globex' });
    expect((await post(serverA, 'gil', 'acme')).status).toBe(403);
    expect((await post(serverA, 'gil', 'globex')).status).toBe(201);
  });

  it('stops access on another instance within one NOTIFY round trip after a revoke', async () => {
    await storeA.grant('rita', 'operator', { tenantId: 'acme' });
    // Both instances have the grant cached.
    expect((await post(serverA, 'rita')).status).toBe(201);
    expect((await post(serverB, 'rita')).status).toBe(201);
    expect(await storeB.permissionsFor('rita', 'acme')).toContain('devices:write');
    const seenByB = new Promise<string>((resolve) => {
      const off = storeB.onInvalidate((subject) => {
        if (subject === 'rita') {
          off();
          resolve(subject);
        }
      });
    });
    expect(await storeA.revoke('rita', 'operator', { tenantId: 'acme' })).toBe(true);
    await seenByB;
    expect((await post(serverB, 'rita')).status).toBe(403);
    expect((await post(serverA, 'rita')).status).toBe(403);
  });

  it('denies a token seen before as soon as its grant is revoked, and allows it again once granted', async () => {
    await storeA.grant('remy', 'operator', { tenantId: 'acme' });
    const remy = tokenFor('remy');
    const same = () =>
      fetch(`${serverA.url}/thing`, {
        method: 'POST',
        headers: { authorization: `Bearer ${remy}`, 'content-type': 'application/json' },
        body: '{"name":"sensor-1"}',
      });
    expect((await same()).status).toBe(201);
    expect((await same()).status).toBe(201);
    await storeA.revoke('remy', 'operator', { tenantId: 'acme' });
    expect((await same()).status).toBe(403);
    await storeA.grant('remy', 'operator', { tenantId: 'acme' });
    expect((await same()).status).toBe(201);
  });

  it('invalidates every instance when a role loses a permission, whoever changes it', async () => {
    await storeA.grant('vic', 'viewer', { tenantId: 'acme' });
    expect(await storeB.permissionsFor('vic', 'acme')).toContain('devices:read');
    const cleared = new Promise<void>((resolve) => {
      const off = storeB.onInvalidate((subject) => {
        if (subject === '*') {
          off();
          resolve();
        }
      });
    });
    const outside = new pg.Client({ connectionString: db.url });
    await outside.connect();
    await outside.query(`INSERT INTO bulwark_rbac.roles (name) VALUES ('auditor')`);
    await outside.query(
      `INSERT INTO bulwark_rbac.role_permissions (role, permission) VALUES ('auditor', 'audit:read')`,
    );
    await outside.end();
    await cleared;
    await storeA.grant('vic', 'auditor', { tenantId: 'acme' });
    expect(await storeB.permissionsFor('vic', 'acme')).toContain('audit:read');
  });

  it('gives a disabled user no permissions', async () => {
    await storeA.grant('dora', 'admin', { tenantId: 'acme' });
    expect((await post(serverB, 'dora')).status).toBe(201);
    const seen = new Promise<void>((resolve) => {
      const off = storeB.onInvalidate((s) => {
        if (s === 'dora') {
          off();
          resolve();
        }
      });
    });
    await poolA.query(`UPDATE bulwark_rbac.users SET disabled_at = now() WHERE subject = 'dora'`);
    await seen;
    expect((await post(serverB, 'dora')).status).toBe(403);
  });

  it('stops caching when the LISTEN connection dies, and resumes once it is back', async () => {
    const pool = new pg.Pool({
      connectionString: db.url,
      max: 2,
      application_name: 'rbac-listen-drop',
    });
    pool.on('error', () => {});
    const store = createPermissionStore({ db: pool, logger: quiet });
    const lost = collect('bulwark:rbac:listener-lost');
    const restored = collect('bulwark:rbac:listener-restored');
    try {
      await store.ready();
      expect(store.caching).toBe(true);
      const events: string[] = [];
      const twoClears = new Promise<void>((resolve) => {
        const off = store.onInvalidate((subject) => {
          events.push(`${subject}:${store.caching}`);
          if (events.length === 2) {
            off();
            resolve();
          }
        });
      });
      // Nothing but the store's LISTEN connection has used this pool yet.
      const { rows } = await poolA.query(
        `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
          WHERE application_name = 'rbac-listen-drop'`,
      );
      expect(rows).toEqual([{ ended: true }]);
      await twoClears;
      // First the loss (caching off), then the reconnect (cache cleared again before it is trusted).
      expect(events[0]).toBe('*:false');
      expect(store.caching).toBe(true);
      expect(lost.messages).toEqual([{ reason: 'error', error: expect.any(String) }]);
      expect(restored.messages).toEqual([{ downMs: expect.any(Number) }]);
      expect(await store.permissionsFor('ada-admin', 'acme')).toContain('*');
    } finally {
      lost.stop();
      restored.stop();
      await store.close();
      await pool.end();
    }
  });

  it('declares its LISTEN connection held on purpose to a pool that asks, and each one after a reconnect', async () => {
    const pool = new pg.Pool({
      connectionString: db.url,
      max: 2,
      application_name: 'rbac-listen-held',
    });
    pool.on('error', () => {});
    // The contract @bulwark/db-safety's createPool() offers, without depending on it.
    const declared: pg.PoolClient[] = [];
    pool.on('connect', (client) => {
      Object.defineProperty(client, Symbol.for('bulwark.db.held'), {
        value: () => declared.push(client) > 0,
      });
    });
    const store = createPermissionStore({ db: pool, logger: quiet });
    const restored = collect('bulwark:rbac:listener-restored');
    try {
      await store.ready();
      expect(declared).toHaveLength(1);
      const pidOf = (client: pg.PoolClient | undefined) =>
        (client as unknown as { processID: number } | undefined)?.processID;
      // The store's LISTEN connection is the only one this pool has opened.
      const { rows } = await poolA.query(
        `SELECT pid FROM pg_stat_activity WHERE application_name = 'rbac-listen-held'`,
      );
      expect(rows).toEqual([{ pid: pidOf(declared[0]) }]);
      await poolA.query('SELECT pg_terminate_backend($1)', [pidOf(declared[0])]);
      await until(() => restored.messages.length > 0, 10_000, 'the LISTEN reconnect');
      expect(declared).toHaveLength(2);
      expect(declared[1]).not.toBe(declared[0]);
      expect(store.caching).toBe(true);
    } finally {
      restored.stop();
      await store.close();
      await pool.end();
    }
  });

  it('stops serving a revoked grant from the cache within the heartbeat bound when the LISTEN connection goes silent, and caches again once it heals', async () => {
    const proxy = await startFreezableProxy(new URL(db.url));
    const listenPool = new pg.Pool({ connectionString: proxy.url, max: 2 });
    listenPool.on('error', () => {});
    // Queries go straight to PostgreSQL; only the LISTEN connection crosses the proxy.
    const split: PoolLike = {
      query: (text, values) => poolA.query(text, values),
      connect: async () => (await listenPool.connect()) as unknown as ListeningClient,
    };
    const heartbeatIntervalMs = 400;
    const heartbeatTimeoutMs = 1000;
    // Room for timers that fire late on a busy machine; the detection itself is bounded by the sum.
    const schedulingSlackMs = 2000;
    const store = createPermissionStore({
      db: split,
      heartbeatIntervalMs,
      heartbeatTimeoutMs,
      logger: quiet,
    });
    const server = await serve(
      appWith(
        authenticate({ jwt, permissions: store }),
        requireCustomer(),
        requirePermission('devices:write'),
      ),
    );
    const lost = collect('bulwark:rbac:listener-lost');
    const restored = collect('bulwark:rbac:listener-restored');
    const seen: string[] = [];
    const off = store.onInvalidate((subject) => seen.push(subject));
    try {
      await store.ready();
      const granted = invalidated(store, 'fay');
      await storeA.grant('fay', 'admin', { tenantId: 'acme' });
      await granted;
      expect((await post(server, 'fay')).status).toBe(201);
      const cached = await store.permissionsFor('fay', 'acme');
      expect(await store.permissionsFor('fay', 'acme')).toBe(cached);

      proxy.freeze();
      const frozenAt = Date.now();
      seen.length = 0;
      // Another connection takes the grant away; its NOTIFY waits in the frozen proxy.
      await poolB.query(`DELETE FROM bulwark_rbac.user_roles WHERE subject = 'fay'`);
      await until(
        async () => (await post(server, 'fay')).status === 403,
        heartbeatIntervalMs + heartbeatTimeoutMs + schedulingSlackMs,
        'the revoke being enforced',
      );
      expect(Date.now() - frozenAt).toBeLessThan(
        heartbeatIntervalMs + heartbeatTimeoutMs + schedulingSlackMs,
      );
      // The revoke was never heard: the silent listener was found dead and the cache dropped.
      expect(seen).not.toContain('fay');
      expect(seen[0]).toBe('*');
      expect(lost.messages).toEqual([
        { reason: 'heartbeat_timeout', error: `no heartbeat within ${heartbeatTimeoutMs} ms` },
      ]);
      expect(store.caching).toBe(false);
      // Meanwhile every check reads the database.
      const first = await store.permissionsFor('ada-admin', 'acme');
      const second = await store.permissionsFor('ada-admin', 'acme');
      expect(second).toEqual(first);
      expect(second).not.toBe(first);
      expect(restored.messages).toEqual([]);

      proxy.heal();
      await until(() => restored.messages.length > 0, 15_000, 'the listener coming back');
      expect(restored.messages).toEqual([{ downMs: expect.any(Number) }]);
      expect(store.caching).toBe(true);
      expect((await post(server, 'fay')).status).toBe(403);
      const again = await store.permissionsFor('ada-admin', 'acme');
      expect(await store.permissionsFor('ada-admin', 'acme')).toBe(again);
      // The new listener hears changes made elsewhere.
      const regranted = invalidated(store, 'fay');
      await poolB.query(
        `INSERT INTO bulwark_rbac.user_roles (subject, role, tenant_id) VALUES ('fay', 'admin', 'acme')`,
      );
      await regranted;
      expect((await post(server, 'fay')).status).toBe(201);
      expect(lost.messages).toHaveLength(1);
    } finally {
      off();
      lost.stop();
      restored.stop();
      await server.close();
      await store.close();
      await listenPool.end();
      await proxy.close();
    }
  });

  it('does not let a tenant grant pass an operator check, whatever tenant the operator token names', async () => {
    const server = await serve(
      appWith(
        authenticate({ jwt, permissions: storeA }),
        requireOperator(),
        requirePermission('system:read'),
      ),
    );
    try {
      const operator = { scope_type: 'operator' };
      // ada-admin holds `*` in acme only: as an operator, that grant counts for nothing.
      expect((await post(server, 'ada-admin', 'acme', operator)).status).toBe(403);
      expect((await post(server, 'ada-admin', null, operator)).status).toBe(403);
      await storeA.grant('pat-platform', 'admin', { tenantId: null });
      expect((await post(server, 'pat-platform', null, operator)).status).toBe(201);
      expect((await post(server, 'pat-platform', 'acme', operator)).status).toBe(201);
      // As a customer of acme, ada-admin keeps the tenant's grant.
      expect((await post(serverA, 'ada-admin', 'acme')).status).toBe(201);
    } finally {
      await server.close();
    }
  });

  it('caches permissions between requests', async () => {
    const before = await storeB.permissionsFor('ada-admin', 'acme');
    expect(await storeB.permissionsFor('ada-admin', 'acme')).toBe(before);
  });

  it('answers 503, not 500, when the database is unreachable', async () => {
    const broken = new pg.Pool({
      connectionString: 'postgres://postgres@127.0.0.1:1/none',
      connectionTimeoutMillis: 200,
    });
    const store = createPermissionStore({ db: broken, listen: false });
    const server = await serve(
      appWith(
        authenticate({ jwt, permissions: store, logger: quiet }),
        requirePermission('devices:write'),
      ),
    );
    try {
      const response = await post(server, 'ada-admin');
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ code: 'permissions_unavailable' });
      expect(response.headers.get('retry-after')).toBe('5');
    } finally {
      await server.close();
      await store.close();
      await broken.end();
    }
  });

  it('refuses a database it cannot LISTEN on unless told to rely on the TTL', () => {
    const queryOnly = { query: poolA.query.bind(poolA) };
    expect(() => createPermissionStore({ db: queryOnly as never })).toThrow(RbacConfigError);
    expect(() => createPermissionStore({ db: queryOnly as never, listen: false })).not.toThrow();
    expect(() => createPermissionStore({ db: poolA, ttlMs: 0 })).toThrow(/ttlMs/);
    expect(() => createPermissionStore({ db: poolA, tll: 5 } as never)).toThrow(
      /Did you mean `ttlMs`/,
    );
  });

  it('refuses a heartbeat interval or timeout that is not a whole number of milliseconds in range', () => {
    for (const name of ['heartbeatIntervalMs', 'heartbeatTimeoutMs']) {
      for (const value of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, '5000']) {
        let thrown: unknown;
        try {
          createPermissionStore({ db: poolA, listen: false, [name]: value });
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(RbacConfigError);
        expect(thrown).toMatchObject({ code: 'ERR_BULWARK_RBAC_OPTIONS' });
        expect((thrown as Error).message).toContain(name);
        expect((thrown as Error).message).toContain(value === '5000' ? '"5000"' : String(value));
      }
    }
    expect(() => createPermissionStore({ db: poolA, heartbeatTimout: 5 } as never)).toThrow(
      /Did you mean `heartbeatTimeoutMs`/,
    );
  });

  it('refuses grants with a bad subject, role or tenant', async () => {
    await expect(storeA.grant('', 'viewer', { tenantId: 'acme' })).rejects.toThrow(RbacConfigError);
    await expect(storeA.grant('x', 'Not A Role', { tenantId: 'acme' })).rejects.toThrow(
      RbacConfigError,
    );
    await expect(storeA.grant('x', 'viewer', {} as never)).rejects.toThrow(RbacConfigError);
  });
});

describe.runIf(hasPgBouncer)('createPermissionStore behind PgBouncer', () => {
  let db: TestDatabase;
  let direct: pg.Pool;
  let bouncer: RunningPgBouncer;
  let pooled: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase('rbac_pgbouncer');
    direct = new pg.Pool({ connectionString: db.url, max: 2 });
    await migrate(direct);
    await direct.query(`INSERT INTO bulwark_rbac.tenants (id, name) VALUES ('acme', 'Acme')`);
    bouncer = await startPgBouncer({ mode: 'transaction', poolSize: 2 });
    pooled = new pg.Pool({ connectionString: bouncer.url(db.name), max: 4 });
    pooled.on('error', () => {});
  });

  afterAll(async () => {
    await pooled?.end();
    await direct?.end();
    await bouncer?.stop();
    await db?.drop();
  });

  it('refuses a LISTEN connection through transaction pooling, naming listenDb, and caches nothing', async () => {
    const warnings: { message: string; meta: Record<string, unknown> | undefined }[] = [];
    const logger = {
      ...quiet,
      warn: (message: string, meta?: Record<string, unknown>) => warnings.push({ message, meta }),
    };
    const store = createPermissionStore({ db: pooled, logger });
    try {
      const refusal = await store.ready().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refusal).toBeInstanceOf(RbacConfigError);
      expect(refusal).toMatchObject({ code: 'ERR_BULWARK_RBAC_LISTEN_POOLED' });
      expect((refusal as Error).message).toContain('pool_mode = transaction');
      expect((refusal as Error).message).toContain('listenDb: new pg.Pool');
      expect(warnings).toEqual([
        {
          message: (refusal as Error).message,
          meta: { code: 'ERR_BULWARK_RBAC_LISTEN_POOLED', reason: 'transaction_pooling' },
        },
      ]);
      expect(store.caching).toBe(false);
      await store.grant('ann', 'viewer', { tenantId: 'acme' });
      const first = await store.permissionsFor('ann', 'acme');
      expect(first).toContain('devices:read');
      expect(await store.permissionsFor('ann', 'acme')).not.toBe(first);
      // The store undid its LISTEN: no server connection behind PgBouncer hears the channel, so
      // PgBouncer gets no notification for a client that is not there.
      await direct.query(`SELECT pg_notify('bulwark_rbac_grants', '*')`);
      await delay(300);
      expect(bouncer.output()).not.toMatch(/got packet 'A' from server when not linked/);
      expect(warnings).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it('listens on listenDb while queries go through transaction pooling, and hears a revoke made through PgBouncer', async () => {
    const listenDb = new pg.Pool({ connectionString: db.url, max: 1 });
    const store = createPermissionStore({ db: pooled, listenDb, logger: quiet });
    try {
      await store.ready();
      expect(store.caching).toBe(true);
      await store.grant('bob', 'admin', { tenantId: 'acme' });
      // Once the grant's own NOTIFY has come back, the entry stays cached.
      await until(
        async () => {
          const first = await store.permissionsFor('bob', 'acme');
          return (await store.permissionsFor('bob', 'acme')) === first;
        },
        5000,
        'the grant being cached',
      );
      expect(await store.permissionsFor('bob', 'acme')).toContain('*');
      const revoked = invalidated(store, 'bob');
      await pooled.query(`DELETE FROM bulwark_rbac.user_roles WHERE subject = 'bob'`);
      await revoked;
      expect(await store.permissionsFor('bob', 'acme')).toEqual([]);
      expect(listenDb.totalCount).toBe(1);
    } finally {
      await store.close();
      await listenDb.end();
    }
  });

  it('refuses a listenDb that goes through transaction pooling as well, where a NOTIFY from another connection never arrives', async () => {
    const listenDb = new pg.Pool({ connectionString: bouncer.url(db.name), max: 1 });
    listenDb.on('error', () => {});
    const store = createPermissionStore({
      db: direct,
      listenDb,
      heartbeatTimeoutMs: 1000,
      logger: quiet,
    });
    try {
      await expect(store.ready()).rejects.toMatchObject({
        code: 'ERR_BULWARK_RBAC_LISTEN_POOLED',
      });
      expect(store.caching).toBe(false);
    } finally {
      await store.close();
      await listenDb.end();
    }
  });

  it('refuses listenDb without connect(), or with listen: false', () => {
    expect(() => createPermissionStore({ db: pooled, listenDb: {} as never })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RBAC_DB' }),
    );
    expect(() => createPermissionStore({ db: pooled, listenDb: direct, listen: false })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_RBAC_OPTIONS',
        message: expect.stringContaining('listenDb is set but listen is false'),
      }),
    );
    expect(() => createPermissionStore({ db: pooled, listenDB: direct } as never)).toThrow(
      /Did you mean `listenDb`/,
    );
  });
});

describe('the permission cache key', () => {
  /** A database that grants `<subject>@<tenant>:read` and counts its queries. */
  function countingDb() {
    const asked: [unknown, unknown][] = [];
    return {
      asked,
      query: async (_text: string, values?: unknown[]) => {
        const [subject, tenant] = values ?? [];
        asked.push([subject, tenant]);
        return { rows: [{ permission: `${String(subject)}-${String(tenant ?? 'all')}:read` }] };
      },
    };
  }

  it('answers every subject and tenant with its own grants, whichever pair was asked about last', async () => {
    const db = countingDb();
    const store = createPermissionStore({ db, listen: false });
    const cached = (store as unknown as Record<symbol, (s: string, t: string | null) => unknown>)[
      CACHED_PERMISSIONS
    ]!;
    const pairs: [string, string | null][] = [
      ['alice', 'acme'],
      ['alice', 'acme'],
      ['alice', 'globex'],
      ['bob', 'globex'],
      ['alice', null],
      ['alice', 'acme'],
      ['bob', 'globex'],
      ['bob', 'acme'],
      ['alice', 'acme'],
    ];
    for (const [subject, tenant] of pairs) {
      const expected = [`${subject}-${tenant ?? 'all'}:read`];
      expect(await store.permissionsFor(subject, tenant)).toEqual(expected);
      expect(cached(subject, tenant)).toEqual(expected);
    }
    // One query per distinct pair: the others were answered from the cache.
    expect(db.asked).toEqual([
      ['alice', 'acme'],
      ['alice', 'globex'],
      ['bob', 'globex'],
      ['alice', null],
      ['bob', 'acme'],
    ]);
    store.invalidate('alice');
    expect(cached('alice', 'acme')).toBeUndefined();
    expect(cached('bob', 'acme')).toEqual(['bob-acme:read']);
    expect(await store.permissionsFor('alice', 'acme')).toEqual(['alice-acme:read']);
    await store.close();
  });

  it('never lets one subject and tenant pair share a cache entry with another', async () => {
    const db = countingDb();
    const store = createPermissionStore({ db, listen: false });
    // Pairs whose joined text is alike: a subject holding the separator, no tenant and an empty one.
    const pairs: [string, string | null][] = [
      ['a\u0000b', null],
      ['a', 'b\u0000'],
      ['a\u0000b', ''],
      ['a', 'b'],
      ['a', null],
      ['a', ''],
    ];
    for (const [subject, tenant] of pairs) await store.permissionsFor(subject, tenant);
    // Each pair was loaded for itself: none was answered from another pair's entry.
    expect(db.asked).toEqual(pairs);
    expect(await store.permissionsFor('a', null)).toEqual(['a-all:read']);
    expect(await store.permissionsFor('a', '')).toEqual(['a-:read']);
    expect(db.asked).toHaveLength(pairs.length);
    // Invalidating one subject leaves a subject that starts with the same text cached.
    store.invalidate('a');
    await store.permissionsFor('a\u0000b', null);
    expect(db.asked).toHaveLength(pairs.length);
    await store.permissionsFor('a', 'b');
    expect(db.asked).toHaveLength(pairs.length + 1);
    await store.close();
  });

  it('keys a subject that is not a string afresh, as before', async () => {
    const db = countingDb();
    const store = createPermissionStore({ db, listen: false });
    const subject = {
      name: 'first',
      toString() {
        return this.name;
      },
    };
    expect(await store.permissionsFor(subject as never, 'acme')).toEqual(['first-acme:read']);
    subject.name = 'second';
    expect(await store.permissionsFor(subject as never, 'acme')).toEqual(['second-acme:read']);
    await store.close();
  });
});
