// Bulwark behind a real PgBouncer, in transaction and in session mode: timeouts that hold, no setting shared between clients, LISTEN refused where it cannot work.

import { setTimeout as delay } from 'node:timers/promises';
import { createPool, type SafePool } from '@bulwark/db-safety';
import { createPermissionStore, migrate, type PermissionStore } from '@bulwark/rbac';
import {
  createTestDatabase,
  type Listening,
  listen,
  type RunningPgBouncer,
  requireService,
  startPgBouncer,
  type TestDatabase,
} from '@bulwark/test-utils';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  capturedLogger,
  guardedApp,
  setRoleTimeouts,
  settingsApp,
  tokenFor,
} from './pgbouncer-support.js';

const ready = await requireService('postgres', 'pgbouncer');

/** What the role carries in the test database: the limit for statements outside a transaction. */
const ROLE = {
  statement_timeout: '800ms',
  lock_timeout: '500ms',
  idle_in_transaction_session_timeout: '5s',
};
/** What the pools ask for: no weaker than the role, so verify() accepts it. */
const POOL = { statementTimeoutMs: 1000, lockTimeoutMs: 500, idleInTransactionTimeoutMs: 5000 };

/** What a settings route of the app answers with. */
interface Seen {
  pid: number;
  statement_timeout: string;
  lock_timeout: string;
  idle_timeout: string;
  tenant: string;
}

async function seen(url: string): Promise<Seen> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return (await response.json()) as Seen;
}

describe.runIf(ready)('Bulwark behind PgBouncer', () => {
  let database: TestDatabase;
  let transactionMode: RunningPgBouncer;
  let sessionMode: RunningPgBouncer;
  let direct: pg.Pool;
  const pools: SafePool[] = [];
  const servers: Listening[] = [];
  const stores: PermissionStore[] = [];

  const pool = (bouncer: RunningPgBouncer, options: Parameters<typeof createPool>[0] = {}) => {
    const made = createPool({
      connectionString: bouncer.url(database.name),
      pgbouncer: bouncer.mode,
      ...POOL,
      logger: { warn: () => {} },
      ...options,
    });
    pools.push(made);
    return made;
  };
  const serve = async (app: Parameters<typeof listen>[0]) => {
    const server = await listen(app);
    servers.push(server);
    return server.url;
  };
  /** One statement on a fresh plain pg client: what a client arriving next sees. */
  const plainClient = async (url: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT pg_backend_pid() AS pid, current_setting('statement_timeout') AS statement_timeout,
          coalesce(nullif(current_setting('app.tenant_id', true), ''), 'none') AS tenant`,
      );
      return rows[0] as { pid: number; statement_timeout: string; tenant: string };
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    database = await createTestDatabase('scale_pgbouncer');
    await setRoleTimeouts(database.name, ROLE);
    direct = new pg.Pool({ connectionString: database.url, max: 2 });
    await migrate(direct);
    await direct.query(`INSERT INTO bulwark_rbac.tenants (id, name) VALUES ('acme', 'Acme')`);
    // One server connection in transaction mode: every client takes turns on it.
    [transactionMode, sessionMode] = await Promise.all([
      startPgBouncer({ mode: 'transaction', poolSize: 1 }),
      startPgBouncer({ mode: 'session', poolSize: 2 }),
    ]);
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
    await Promise.all(stores.map((store) => store.close()));
    await Promise.all(pools.map((made) => (made.ending ? undefined : made.end())));
    await direct?.end();
    await Promise.all([transactionMode?.stop(), sessionMode?.stop()]);
    await database?.drop();
  });

  it('shows the configured timeouts with SHOW inside a db-safety transaction through transaction pooling, and the role’s outside', async () => {
    const safe = pool(transactionMode);
    await expect(safe.verify()).resolves.toMatchObject({ statementTimeoutMs: 800 });
    const url = await serve(settingsApp(safe));
    const inside = await seen(`${url}/settings`);
    expect(inside).toMatchObject({
      statement_timeout: '1s',
      lock_timeout: '500ms',
      idle_timeout: '5s',
    });
    const outside = await seen(`${url}/settings/outside`);
    expect(outside).toMatchObject({
      statement_timeout: '800ms',
      lock_timeout: '500ms',
      idle_timeout: '5s',
    });
    expect(outside.pid).toBe(inside.pid);
    expect((await plainClient(transactionMode.url(database.name))).statement_timeout).toBe('800ms');
  });

  it('cuts a pg_sleep longer than the statement timeout with 503 database_timeout, inside a transaction and outside one, with no SQL in the answer or the log', async () => {
    const { logger, lines } = capturedLogger();
    const url = await serve(settingsApp(pool(transactionMode), logger));
    for (const path of ['/sleep/3', '/sleep/3/outside']) {
      const started = Date.now();
      const response = await fetch(`${url}${path}`);
      expect(Date.now() - started).toBeLessThan(2500);
      expect(response.status).toBe(503);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.headers.get('retry-after')).toBe('1');
      const body = await response.text();
      expect(JSON.parse(body)).toMatchObject({ status: 503, code: 'database_timeout' });
      expect(body).not.toMatch(/pg_sleep|SELECT|canceling statement|at .*\.js/);
    }
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toMatch(/pg_sleep|SELECT/);
    // The server connection is free and clean for the next client.
    expect((await fetch(`${url}/settings`)).status).toBe(200);
  });

  it('keeps each client’s settings to itself when two pools take turns on one server connection', async () => {
    const urlA = await serve(
      settingsApp(pool(transactionMode, { statementTimeoutMs: 1000, max: 1 })),
    );
    const urlB = await serve(
      settingsApp(pool(transactionMode, { statementTimeoutMs: 2000, max: 1 })),
    );
    const turns = [
      await seen(`${urlA}/tenant/acme`),
      await seen(`${urlB}/tenant/globex`),
      await seen(`${urlA}/settings`),
      await seen(`${urlB}/settings/outside`),
      await seen(`${urlA}/tenant/acme`),
      await seen(`${urlB}/settings`),
    ];
    expect(turns.map(({ statement_timeout, tenant }) => [statement_timeout, tenant])).toEqual([
      ['1s', 'acme'],
      ['2s', 'globex'],
      ['1s', 'none'],
      ['800ms', 'none'],
      ['1s', 'acme'],
      ['2s', 'none'],
    ]);
    // All on PgBouncer's one server connection, which a plain client then finds as the role left it.
    expect(new Set(turns.map(({ pid }) => pid)).size).toBe(1);
    expect(await plainClient(transactionMode.url(database.name))).toEqual({
      pid: turns[0]?.pid,
      statement_timeout: '800ms',
      tenant: 'none',
    });
  });

  it('shows why: a plain session SET through transaction pooling reaches the next client', async () => {
    const url = transactionMode.url(database.name);
    const [setter, next] = [
      new pg.Client({ connectionString: url }),
      new pg.Client({ connectionString: url }),
    ];
    await Promise.all([setter.connect(), next.connect()]);
    try {
      await setter.query(`SET statement_timeout = '4321ms'`);
      expect((await next.query('SHOW statement_timeout')).rows).toEqual([
        { statement_timeout: '4321ms' },
      ]);
    } finally {
      await next.query('RESET statement_timeout');
      await Promise.all([setter.end(), next.end()]);
    }
    expect((await plainClient(url)).statement_timeout).toBe('800ms');
  });

  it('applies the timeouts on each connection in session mode, and the next client of that server connection starts without them or is closed', async () => {
    const safe = pool(sessionMode, { max: 1 });
    await expect(safe.verify()).resolves.toMatchObject({ statementTimeoutMs: 1000 });
    const url = await serve(settingsApp(safe));
    const outside = await seen(`${url}/settings/outside`);
    expect(outside).toMatchObject({
      statement_timeout: '1s',
      lock_timeout: '500ms',
      idle_timeout: '5s',
    });
    expect((await fetch(`${url}/sleep/3/outside`)).status).toBe(503);
    // pg's pool closes a connection whose query failed; its replacement gets the SET too.
    const last = await seen(`${url}/settings/outside`);
    expect(last.statement_timeout).toBe('1s');
    await safe.end();
    // Two clients at once take both of PgBouncer's server connections. The one the pool left is
    // among them once PgBouncer has seen the pool's client leave and run DISCARD ALL on it,
    // unless PgBouncer closed it instead.
    const through = sessionMode.url(database.name);
    const clients = [
      new pg.Client({ connectionString: through }),
      new pg.Client({ connectionString: through }),
    ];
    await Promise.all(clients.map((client) => client.connect()));
    try {
      const next = await Promise.all(
        clients.map(
          async (client) =>
            (
              await client.query(
                `SELECT pg_backend_pid() AS pid, current_setting('statement_timeout') AS statement_timeout`,
              )
            ).rows[0] as { pid: number; statement_timeout: string },
        ),
      );
      expect(next.map((row) => row.statement_timeout)).toEqual(['800ms', '800ms']);
      if (!next.some((row) => row.pid === last.pid)) {
        const deadline = Date.now() + 5000;
        let left = await direct.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [last.pid]);
        while (left.rowCount !== 0 && Date.now() < deadline) {
          await delay(25);
          left = await direct.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [last.pid]);
        }
        expect(left.rows).toEqual([]);
      }
    } finally {
      await Promise.all(clients.map((client) => client.end()));
    }
  });

  it('refuses a permission store that would LISTEN through transaction pooling, naming listenDb, and still answers every request from the database', async () => {
    const through = pool(transactionMode);
    const store = createPermissionStore({ db: through, logger: capturedLogger().logger });
    stores.push(store);
    await expect(store.ready()).rejects.toMatchObject({
      code: 'ERR_BULWARK_RBAC_LISTEN_POOLED',
      message: expect.stringContaining('listenDb'),
    });
    expect(store.caching).toBe(false);
    const url = await serve(guardedApp(store));
    const post = () =>
      fetch(`${url}/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokenFor('carl')}` },
      });
    expect((await post()).status).toBe(403);
    await store.grant('carl', 'admin', { tenantId: 'acme' });
    expect((await post()).status).toBe(201);
    await direct.query(`DELETE FROM bulwark_rbac.user_roles WHERE subject = 'carl'`);
    expect((await post()).status).toBe(403);
  });

  it('hears a revoke at once through a direct listenDb while every query goes through transaction pooling', async () => {
    const listenDb = new pg.Pool({ connectionString: database.url, max: 1 });
    const store = createPermissionStore({
      db: pool(transactionMode),
      listenDb,
      logger: capturedLogger().logger,
    });
    stores.push(store);
    try {
      await store.ready();
      expect(store.caching).toBe(true);
      const url = await serve(guardedApp(store));
      const post = () =>
        fetch(`${url}/devices`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tokenFor('dana')}` },
        });
      const granted = new Promise<void>((resolve) => {
        const off = store.onInvalidate((subject) => {
          if (subject === 'dana') {
            off();
            resolve();
          }
        });
      });
      // Made through PgBouncer: its NOTIFY reaches the store over the direct connection.
      const through = pool(transactionMode);
      await through.query(
        `INSERT INTO bulwark_rbac.users (subject, tenant_id) VALUES ('dana', 'acme')`,
      );
      await through.query(
        `INSERT INTO bulwark_rbac.user_roles (subject, role, tenant_id) VALUES ('dana', 'admin', 'acme')`,
      );
      await granted;
      expect((await post()).status).toBe(201);
      const revoked = new Promise<void>((resolve) => {
        const off = store.onInvalidate((subject) => {
          if (subject === 'dana') {
            off();
            resolve();
          }
        });
      });
      await through.query(`DELETE FROM bulwark_rbac.user_roles WHERE subject = 'dana'`);
      await revoked;
      expect((await post()).status).toBe(403);
    } finally {
      await store.close();
      await listenDb.end();
    }
  });
});
