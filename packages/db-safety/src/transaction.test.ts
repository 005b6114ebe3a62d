// withTransaction and withTenant against the real server: rollback, release, savepoints, retries, abort, tenants.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createTestDatabase, requireService, type TestDatabase } from '@bulwark/test-utils';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { asAdmin, eventually } from '../test/support.js';
import type { RetryEvent } from './diagnostics.js';
import { DbAbortError } from './errors.js';
import { httpErrorFromDb } from './http-errors.js';
import { createPool, type SafePool } from './pool.js';
import { sql } from './sql.js';
import { inTransaction, withTenant, withTransaction } from './transaction.js';

const hasPg = await requireService('postgres');
const silent = { warn: () => {} };

let database: TestDatabase;
beforeAll(async () => {
  if (hasPg) database = await createTestDatabase('dbsafety_tx');
});
afterAll(async () => {
  await database?.drop();
});

const raise = (state: string) =>
  `DO $$ BEGIN RAISE EXCEPTION 'forced' USING ERRCODE = '${state}'; END $$`;

describe.runIf(hasPg)('withTransaction', () => {
  let pool: SafePool;
  const count = async () => Number((await pool.query('SELECT count(*) AS n FROM item')).rows[0].n);

  beforeAll(async () => {
    pool = createPool({ connectionString: database.url, max: 3, logger: silent });
    await pool.query(
      'CREATE TABLE item (id serial PRIMARY KEY, name text NOT NULL UNIQUE, n int NOT NULL DEFAULT 0)',
    );
  });
  beforeEach(async () => {
    await pool.query('TRUNCATE item');
  });
  afterAll(async () => {
    await pool?.end();
  });

  it('commits when the callback resolves and returns its value', async () => {
    const id = await withTransaction(pool, async (client) => {
      const { rows } = await client.query(
        sql`INSERT INTO item (name) VALUES (${'a'}) RETURNING id`,
      );
      return rows[0].id as number;
    });
    expect(id).toBeGreaterThan(0);
    expect(await count()).toBe(1);
  });

  it('rolls back on a throw, and the pool counts return to where they were', async () => {
    await pool.query('SELECT 1');
    const before = { total: pool.totalCount, idle: pool.idleCount };
    await expect(
      withTransaction(pool, async (client) => {
        await client.query(sql`INSERT INTO item (name) VALUES (${'doomed'})`);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await count()).toBe(0);
    expect({ total: pool.totalCount, idle: pool.idleCount }).toEqual(before);
  });

  it('refuses to report success when an error inside was caught and the commit became a rollback', async () => {
    await expect(
      withTransaction(pool, async (client) => {
        await client.query(sql`INSERT INTO item (name) VALUES (${'x'})`);
        await client.query(sql`INSERT INTO item (name) VALUES (${'x'})`).catch(() => {});
      }),
    ).rejects.toMatchObject({ code: 'ERR_BULWARK_DB_TRANSACTION_ROLLED_BACK' });
    expect(await count()).toBe(0);
  });

  it('uses a savepoint for a nested call, so only the inner part rolls back', async () => {
    await withTransaction(pool, async (client) => {
      await client.query(sql`INSERT INTO item (name) VALUES (${'outer'})`);
      await expect(
        withTransaction(client, async (inner) => {
          await inner.query(sql`INSERT INTO item (name) VALUES (${'inner'})`);
          await inner.query(sql`INSERT INTO item (name) VALUES (${'outer'})`);
        }),
      ).rejects.toMatchObject({ code: '23505' });
      await client.query(sql`INSERT INTO item (name) VALUES (${'after'})`);
    });
    const names = (await pool.query('SELECT name FROM item ORDER BY name')).rows.map(
      (row) => row.name,
    );
    expect(names).toEqual(['after', 'outer']);
  });

  it('marks the client as in a transaction only while the callback runs', async () => {
    let seen: unknown;
    await withTransaction(pool, async (client) => {
      expect(inTransaction(client)).toBe(true);
      seen = client;
    });
    expect(inTransaction(seen as never)).toBe(false);
  });

  it('applies isolation level and read-only mode', async () => {
    const settings = await withTransaction(
      pool,
      async (client) =>
        (
          await client.query('SELECT current_setting($1) AS iso, current_setting($2) AS ro', [
            'transaction_isolation',
            'transaction_read_only',
          ])
        ).rows[0],
      { isolation: 'serializable', readOnly: true },
    );
    expect(settings).toEqual({ iso: 'serializable', ro: 'on' });
    await expect(
      withTransaction(
        pool,
        (client) => client.query(sql`INSERT INTO item (name) VALUES (${'ro'})`),
        { readOnly: true },
      ),
    ).rejects.toMatchObject({ code: '25006' });
  });

  it('retries the whole callback on a serialization failure and a deadlock, then succeeds', async () => {
    const retries: RetryEvent[] = [];
    const onRetry = (message: unknown) => retries.push(message as RetryEvent);
    subscribe('bulwark:db:retry', onRetry);
    try {
      let calls = 0;
      const result = await withTransaction(pool, async (client) => {
        calls++;
        await client.query(sql`INSERT INTO item (name) VALUES (${`try-${calls}`})`);
        if (calls === 1) await client.query(raise('40001'));
        if (calls === 2) await client.query(raise('40P01'));
        return calls;
      });
      expect(result).toBe(3);
      expect(retries.map((event) => [event.attempt, event.sqlState])).toEqual([
        [1, '40001'],
        [2, '40P01'],
      ]);
      const names = (await pool.query('SELECT name FROM item')).rows.map((row) => row.name);
      expect(names).toEqual(['try-3']);
    } finally {
      unsubscribe('bulwark:db:retry', onRetry);
    }
  });

  it('gives up after `retries` retries and throws the serialization failure', async () => {
    let calls = 0;
    await expect(
      withTransaction(
        pool,
        async (client) => {
          calls++;
          await client.query(raise('40001'));
        },
        { retries: 2 },
      ),
    ).rejects.toMatchObject({ code: '40001' });
    expect(calls).toBe(3);
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    await expect(
      withTransaction(pool, async (client) => {
        calls++;
        await client.query(raise('23505'));
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(calls).toBe(1);
  });

  it('resolves a real write-skew conflict between serializable transactions by retrying', async () => {
    await pool.query("INSERT INTO item (name, n) VALUES ('a', 1), ('b', 1)");
    let arrived = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((resolve) => {
      release = resolve;
    });
    const attempts = { a: 0, b: 0 };
    const move = (from: 'a' | 'b') =>
      withTransaction(
        pool,
        async (client) => {
          attempts[from]++;
          const { rows } = await client.query('SELECT sum(n)::int AS total FROM item');
          if (attempts[from] === 1) {
            arrived++;
            if (arrived === 2) release();
            await bothRead;
          }
          if (rows[0].total >= 2)
            await client.query('UPDATE item SET n = n - 1 WHERE name = $1', [from]);
        },
        { isolation: 'serializable' },
      );
    await Promise.all([move('a'), move('b')]);
    expect(attempts.a + attempts.b).toBe(3);
    const total = Number((await pool.query('SELECT sum(n) AS total FROM item')).rows[0].total);
    expect(total).toBe(1);
  });

  it('destroys the connection instead of pooling it when ROLLBACK cannot run', async () => {
    let killed = 0;
    await expect(
      withTransaction(pool, async (client) => {
        killed = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
        await client.query(sql`INSERT INTO item (name) VALUES (${'lost'})`);
        await asAdmin((admin) => admin.query('SELECT pg_terminate_backend($1)', [killed]));
        await client.query('SELECT 1');
      }),
    ).rejects.toThrow();
    expect(pool.totalCount).toBeLessThanOrEqual(3);
    const pids = await Promise.all(
      [1, 2, 3].map(() =>
        withTransaction(
          pool,
          async (client) => (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid,
        ),
      ),
    );
    expect(pids).not.toContain(killed);
    expect(await count()).toBe(0);
  });

  it('on abort, cancels the running statement on the server and rolls back', async () => {
    const controller = new AbortController();
    const app = `dbsafety-abort-${Date.now()}`;
    const abortPool = createPool({
      connectionString: database.url,
      applicationName: app,
      max: 1,
      logger: silent,
    });
    try {
      const running = withTransaction(
        abortPool,
        async (client) => {
          await client.query(sql`INSERT INTO item (name) VALUES (${'aborted'})`);
          await client.query('SELECT pg_sleep(10)');
        },
        { signal: controller.signal },
      );
      const active = async () =>
        asAdmin(
          async (admin) =>
            (
              await admin.query(
                "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE '%pg_sleep%'",
                [app],
              )
            ).rows[0].n as number,
        );
      expect(await eventually(async () => (await active()) === 1)).toBe(true);
      controller.abort();
      const error = await running.then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(DbAbortError);
      expect(error).toMatchObject({ name: 'AbortError', code: 'ERR_BULWARK_DB_ABORTED' });
      expect(await active()).toBe(0);
      expect(await count()).toBe(0);
    } finally {
      await abortPool.end();
    }
  });

  it('closes the connection after an aborted savepoint instead of pooling it with a cancel in flight, and raises ERR_BULWARK_DB_ABORTED rather than the raw 57014', async () => {
    const small = createPool({ connectionString: database.url, max: 1, logger: silent });
    try {
      const pidOf = async () =>
        (await small.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      const before = await pidOf();
      const controller = new AbortController();
      let inner: unknown;
      await withTransaction(small, async (client) => {
        expect((await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid).toBe(before);
        try {
          await withTransaction(
            client,
            async (savepointClient) => {
              setTimeout(() => controller.abort(), 50);
              await savepointClient.query('SELECT pg_sleep(5)');
            },
            { signal: controller.signal },
          );
        } catch (err) {
          inner = err;
        }
        await client.query(sql`INSERT INTO item (name) VALUES (${'after-savepoint'})`);
      });
      expect(inner).toBeInstanceOf(DbAbortError);
      expect(inner).toMatchObject({ code: 'ERR_BULWARK_DB_ABORTED' });
      expect((inner as Error & { cause: { code?: string } }).cause).toMatchObject({
        code: '57014',
      });
      expect(httpErrorFromDb(inner)).toBeUndefined();
      expect(await count()).toBe(1);
      expect(await pidOf()).not.toBe(before);
    } finally {
      await small.end();
    }
  });

  it('does not start when the signal is already aborted', async () => {
    let called = false;
    await expect(
      withTransaction(
        pool,
        async () => {
          called = true;
        },
        { signal: AbortSignal.abort() },
      ),
    ).rejects.toBeInstanceOf(DbAbortError);
    expect(called).toBe(false);
  });

  it('sets a statement timeout for one transaction only', async () => {
    await expect(
      withTransaction(pool, (client) => client.query('SELECT pg_sleep(1)'), {
        statementTimeoutMs: 100,
      }),
    ).rejects.toMatchObject({ code: '57014' });
    const { rows } = await pool.query('SHOW statement_timeout');
    expect(rows[0].statement_timeout).toBe('30s');
  });

  it('refuses unknown options and a level change inside a running transaction', async () => {
    await expect(
      withTransaction(pool, async () => {}, { isolaton: 'serializable' } as never),
    ).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_UNKNOWN_OPTION',
      message: expect.stringContaining('`isolation`'),
    });
    await expect(
      withTransaction(pool, async () => {}, { isolation: 'chaos' as never }),
    ).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_INVALID_OPTION',
    });
    await withTransaction(pool, async (client) => {
      await expect(
        withTransaction(client, async () => {}, { isolation: 'serializable' }),
      ).rejects.toMatchObject({
        code: 'ERR_BULWARK_DB_INVALID_OPTION',
      });
    });
  });
});

describe.runIf(hasPg)('withTenant', () => {
  let pool: SafePool;
  const role = `bulwark_tenant_${Math.random().toString(16).slice(2, 10)}`;

  beforeAll(async () => {
    await asAdmin(async (admin) => {
      await admin.query(`CREATE ROLE ${role} LOGIN`);
    });
    await asAdmin(async (admin) => {
      await admin.query(
        'CREATE TABLE device (id serial PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL)',
      );
      await admin.query(
        "INSERT INTO device (tenant_id, name) VALUES ('t1', 'd1'), ('t1', 'd2'), ('t2', 'd3')",
      );
      await admin.query('ALTER TABLE device ENABLE ROW LEVEL SECURITY');
      await admin.query(
        "CREATE POLICY tenant_isolation ON device USING (tenant_id = current_setting('app.tenant_id', true))",
      );
      await admin.query(`GRANT SELECT ON device TO ${role}`);
    }, database.url);
    const url = new URL(database.url);
    url.username = role;
    pool = createPool({ connectionString: url.toString(), max: 1, logger: silent });
  });
  afterAll(async () => {
    await pool?.end();
    await asAdmin(async (admin) => {
      await admin.query('DROP TABLE device');
    }, database.url);
    await asAdmin((admin) => admin.query(`DROP ROLE IF EXISTS ${role}`));
  });

  it('lets row-level security see only the rows of the tenant that was set', async () => {
    const names = await withTenant(pool, 't1', async (client) =>
      (await client.query('SELECT name FROM device ORDER BY name')).rows.map((row) => row.name),
    );
    expect(names).toEqual(['d1', 'd2']);
    const other = await withTenant(pool, 't2', async (client) =>
      (await client.query('SELECT name FROM device')).rows.map((row) => row.name),
    );
    expect(other).toEqual(['d3']);
  });

  it('never leaks the tenant to the next checkout of the same connection', async () => {
    const pids = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const tenant = i % 2 === 0 ? 't1' : 't2';
      const inside = await withTenant(
        pool,
        tenant,
        async (client) =>
          (
            await client.query(
              "SELECT current_setting('app.tenant_id') AS t, pg_backend_pid() AS pid",
            )
          ).rows[0],
      );
      expect(inside.t).toBe(tenant);
      pids.add(inside.pid);
      const after = await pool.query(
        "SELECT current_setting('app.tenant_id', true) AS t, count(*)::int AS visible FROM device",
      );
      expect(after.rows[0].t ?? '').toBe('');
      expect(after.rows[0].visible).toBe(0);
    }
    expect(pids.size).toBe(1);
  });

  it('does not leak the tenant when the callback throws', async () => {
    await expect(
      withTenant(pool, 't1', async () => {
        throw new Error('fail');
      }),
    ).rejects.toThrow('fail');
    const after = await pool.query("SELECT current_setting('app.tenant_id', true) AS t");
    expect(after.rows[0].t ?? '').toBe('');
  });

  it('stores request claims as JSON next to the tenant', async () => {
    const claims = await withTenant(
      pool,
      't1',
      async (client) =>
        (await client.query("SELECT current_setting('request.jwt.claims')::json AS c")).rows[0].c,
      {
        claims: { sub: 'user-1', role: 'viewer' },
      },
    );
    expect(claims).toEqual({ sub: 'user-1', role: 'viewer' });
  });

  it('passes a hostile tenant id as data', async () => {
    const names = await withTenant(
      pool,
      "t1' OR '1'='1",
      async (client) => (await client.query('SELECT name FROM device')).rows,
    );
    expect(names).toEqual([]);
  });

  it('refuses an empty tenant id and a call inside a running transaction', async () => {
    await expect(withTenant(pool, '', async () => 1)).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_INVALID_TENANT',
    });
    await withTransaction(pool, async (client) => {
      await expect(withTenant(client, 't1', async () => 1)).rejects.toMatchObject({
        code: 'ERR_BULWARK_DB_INVALID_OPTION',
      });
    });
  });
});
