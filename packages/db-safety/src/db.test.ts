// createDb against the real server: parameterised-only queries, row helpers, transactions and cancellation.
import { requireService, startPgBouncer, type TestDatabase } from '@bulwark/test-utils';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { asAdmin, eventually, silent, suiteDatabase } from '../test/support.js';
import { createDb, type Db } from './db.js';
import { DbAbortError, DbConfigError } from './errors.js';
import { createPool, type SafePool } from './pool.js';
import { sql } from './sql.js';

const hasPg = await requireService('postgres');
const hasPgBouncer = hasPg && (await requireService('pgbouncer'));

describe('createDb', () => {
  it('refuses something that is not a pool', () => {
    expect(() => createDb({} as never)).toThrow(DbConfigError);
    expect(() => createDb({} as never)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_DB_NOT_A_POOL' }),
    );
  });
});

describe.runIf(hasPg)('createDb against PostgreSQL', () => {
  let database: TestDatabase;
  let pool: SafePool;
  let db: Db;

  suiteDatabase('db', 3, async (suite) => {
    ({ database, pool, db } = suite);
    await db.query(sql`CREATE TABLE note (id serial PRIMARY KEY, body text NOT NULL)`);
  });

  const notes = async () =>
    Number((await db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM note`)).n);

  it('refuses a plain SQL string with no values, before anything reaches the server', async () => {
    const before = await notes();
    const userInput = "x'); DELETE FROM note; --";
    await expect(
      db.query(`INSERT INTO note (body) VALUES ('${userInput}')` as never),
    ).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_UNSAFE_QUERY',
    });
    await expect(db.query('SELECT 1', [])).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_UNSAFE_QUERY',
    });
    await expect(db.many({ text: 'SELECT 1' } as never)).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_UNSAFE_QUERY',
    });
    expect(await notes()).toBe(before);
  });

  it('accepts a string together with its values', async () => {
    const row = await db.one<{ v: string }>('SELECT $1::text AS v', ['hello']);
    expect(row.v).toBe('hello');
  });

  it('refuses more than one statement in one query', async () => {
    await db.query(sql`INSERT INTO note (body) VALUES (${'keep'})`);
    await expect(db.query(sql`SELECT 1; ${sql.raw('DELETE FROM note')}`)).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_MULTIPLE_STATEMENTS',
    });
    await expect(db.query('SELECT $1::int; DELETE FROM note', [1])).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_MULTIPLE_STATEMENTS',
    });
    expect(await notes()).toBeGreaterThan(0);
  });

  it('one, maybeOne and many enforce how many rows come back', async () => {
    await db.query(sql`TRUNCATE note`);
    await db.query(sql`INSERT INTO note (body) VALUES (${'a'}), (${'b'})`);
    await expect(db.one(sql`SELECT * FROM note WHERE body = ${'zzz'}`)).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_NO_ROWS',
    });
    await expect(db.one(sql`SELECT * FROM note`)).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_TOO_MANY_ROWS',
    });
    await expect(db.maybeOne(sql`SELECT * FROM note`)).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_TOO_MANY_ROWS',
    });
    expect(await db.maybeOne(sql`SELECT * FROM note WHERE body = ${'zzz'}`)).toBeNull();
    expect(await db.one(sql`SELECT body FROM note WHERE body = ${'a'}`)).toEqual({ body: 'a' });
    expect(
      (await db.many(sql`SELECT body FROM note ORDER BY body`)).map((row) => row.body),
    ).toEqual(['a', 'b']);
    expect(await db.many(sql`SELECT body FROM note WHERE false`)).toEqual([]);
  });

  it('runs db.transaction with a scoped db, nested calls as savepoints', async () => {
    await db.query(sql`TRUNCATE note`);
    await db.transaction(async (tx) => {
      await tx.query(sql`INSERT INTO note (body) VALUES (${'outer'})`);
      await expect(
        tx.transaction(async (inner) => {
          await inner.query(sql`INSERT INTO note (body) VALUES (${'inner'})`);
          throw new Error('undo inner');
        }),
      ).rejects.toThrow('undo inner');
    });
    expect((await db.many(sql`SELECT body FROM note`)).map((row) => row.body)).toEqual(['outer']);
  });

  it('refuses to use a transaction db after its transaction ended', async () => {
    let escaped: Db | undefined;
    await db.transaction(async (tx) => {
      escaped = tx;
    });
    await expect(escaped!.query(sql`SELECT 1`)).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_TRANSACTION_CLOSED',
    });
  });

  it('cancels the statement on the server when the signal aborts', async () => {
    const controller = new AbortController();
    const tag = `abort-probe-${Date.now()}`;
    const running = db.query(sql`SELECT pg_sleep(10), ${tag}::text`, { signal: controller.signal });
    const activeRows = async () =>
      asAdmin(
        async (admin) =>
          (
            await admin.query(
              "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE '%pg_sleep(10)%' AND pid <> pg_backend_pid()",
              [database.name],
            )
          ).rows,
      );
    expect(await eventually(async () => (await activeRows()).length === 1)).toBe(true);
    const killedPid = (await activeRows())[0].pid as number;
    controller.abort();
    const error = await running.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(DbAbortError);
    expect((error as Error & { cause: { code?: string } }).cause).toMatchObject({ code: '57014' });
    expect(await activeRows()).toEqual([]);
    const pids = await Promise.all(
      [1, 2, 3].map(
        async () =>
          (await db.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid, ${1}::int`)).pid,
      ),
    );
    expect(pids).not.toContain(killedPid);
    expect(await db.one(sql`SELECT ${1}::int AS ok`)).toEqual({ ok: 1 });
  });

  it.runIf(hasPgBouncer)(
    'cancels with a protocol CancelRequest behind PgBouncer in transaction mode',
    async () => {
      const bouncer = await startPgBouncer({ mode: 'transaction' });
      const bouncerPool = createPool({
        connectionString: bouncer.url(database.name),
        pgbouncer: 'transaction',
        max: 1,
        logger: silent,
      });
      try {
        const bouncerDb = createDb(bouncerPool);
        const controller = new AbortController();
        const running = bouncerDb.query(sql`SELECT pg_sleep(10), ${'bouncer'}::text`, {
          signal: controller.signal,
        });
        const active = async () =>
          asAdmin(
            async (admin) =>
              (
                await admin.query(
                  "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE '%pg_sleep(10)%' AND pid <> pg_backend_pid()",
                  [database.name],
                )
              ).rows[0].n as number,
          );
        expect(await eventually(async () => (await active()) === 1)).toBe(true);
        controller.abort();
        await expect(running).rejects.toBeInstanceOf(DbAbortError);
        expect(await eventually(async () => (await active()) === 0, 2000)).toBe(true);
      } finally {
        await bouncerPool.end();
        await bouncer.stop();
      }
    },
  );

  it.runIf(hasPgBouncer)(
    'runs its statements through PgBouncer in transaction mode, where a plain named prepared statement breaks',
    async () => {
      const bouncer = await startPgBouncer({ mode: 'transaction' });
      const url = bouncer.url(database.name);
      const pools = [1, 2].map(() =>
        createPool({ connectionString: url, pgbouncer: 'transaction', max: 1, logger: silent }),
      );
      const plain = [
        new pg.Client({ connectionString: url }),
        new pg.Client({ connectionString: url }),
      ];
      try {
        const [a, b] = pools.map((p) => createDb(p)) as [Db, Db];
        const named = {
          name: 'note_by_body',
          text: 'SELECT count(*)::int AS n FROM note WHERE body = $1',
          values: ['x'],
        };
        // Both pools take turns on PgBouncer's one server connection: every statement is unnamed.
        for (const turn of [a, b, a, b]) {
          expect(await turn.one(sql`SELECT ${2}::int * 21 AS answer`)).toEqual({ answer: 42 });
          expect(await turn.one(named.text, named.values)).toEqual({ n: expect.any(Number) });
          expect(
            await turn.transaction((tx) => tx.one(sql`SELECT ${'inside'}::text AS at`)),
          ).toEqual({ at: 'inside' });
        }
        const [first, second] = plain as [pg.Client, pg.Client];
        await Promise.all([first.connect(), second.connect()]);
        await first.query(named);
        await expect(second.query(named)).rejects.toMatchObject({ code: '42P05' });
      } finally {
        await Promise.all(plain.map((client) => client.end().catch(() => {})));
        await Promise.all(pools.map((p) => p.end()));
        await bouncer.stop();
      }
    },
  );

  it('rejects at once, without a query, when the signal is already aborted', async () => {
    let acquired = 0;
    const onAcquire = () => acquired++;
    pool.on('acquire', onAcquire);
    try {
      await expect(db.query(sql`SELECT 1`, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
        DbAbortError,
      );
      expect(acquired).toBe(0);
    } finally {
      pool.off('acquire', onAcquire);
    }
  });

  it('aborts while waiting for a connection and leaves the pool intact', async () => {
    const small = createPool({ connectionString: database.url, max: 1, logger: silent });
    try {
      const held = await small.connect();
      const controller = new AbortController();
      const waiting = createDb(small).query(sql`SELECT 1`, { signal: controller.signal });
      controller.abort();
      await expect(waiting).rejects.toBeInstanceOf(DbAbortError);
      held.release();
      expect(await eventually(() => small.idleCount === 1 && small.waitingCount === 0)).toBe(true);
      expect((await small.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await small.end();
    }
  });

  it('refuses unknown query options', async () => {
    await expect(
      db.query(sql`SELECT 1`, { sginal: AbortSignal.abort() } as never),
    ).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_UNKNOWN_OPTION',
    });
  });

  it('closes the connection after a query inside a transaction was aborted, instead of pooling it with a cancel in flight', async () => {
    const small = createPool({ connectionString: database.url, max: 1, logger: silent });
    try {
      const smallDb = createDb(small);
      const pidOf = async () =>
        (await smallDb.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid, ${1}::int`)).pid;
      const before = await pidOf();
      const controller = new AbortController();
      let inner: unknown;
      await expect(
        smallDb.transaction(async (tx) => {
          setTimeout(() => controller.abort(), 50);
          try {
            await tx.query(sql`SELECT pg_sleep(5)`, { signal: controller.signal });
          } catch (err) {
            inner = err;
          }
        }),
      ).rejects.toMatchObject({ code: 'ERR_BULWARK_DB_TRANSACTION_ROLLED_BACK' });
      expect(inner).toBeInstanceOf(DbAbortError);
      expect(await pidOf()).not.toBe(before);
    } finally {
      await small.end();
    }
  });

  it('refuses a session-level SET or RESET, which would leak into later requests on the same connection', async () => {
    const small = createPool({
      connectionString: database.url,
      max: 1,
      statementTimeoutMs: 1234,
      logger: silent,
    });
    try {
      const smallDb = createDb(small);
      const timeout = async () =>
        (await small.query("SELECT current_setting('statement_timeout') AS st")).rows[0].st;
      for (const text of [
        'SET statement_timeout = 0',
        ' /* c */ set session statement_timeout TO 0',
        "SELECT set_config('x.y', '1', false); SET statement_timeout = 0",
        'RESET statement_timeout',
        'RESET ALL',
        'SET ROLE postgres',
      ]) {
        await expect(smallDb.query(sql.raw(text))).rejects.toMatchObject({
          code: text.startsWith('SELECT')
            ? 'ERR_BULWARK_DB_MULTIPLE_STATEMENTS'
            : 'ERR_BULWARK_DB_SESSION_SETTING',
        });
      }
      await expect(
        smallDb.transaction((tx) => tx.query(sql`SET statement_timeout = 0`)),
      ).rejects.toMatchObject({ code: 'ERR_BULWARK_DB_SESSION_SETTING' });
      expect(await timeout()).toBe('1234ms');
      const inside = await smallDb.transaction(async (tx) => {
        await tx.query(sql`SET LOCAL statement_timeout = 0`);
        return (await tx.one(sql`SELECT current_setting('statement_timeout') AS st`)).st;
      });
      expect(inside).toBe('0');
      expect(await timeout()).toBe('1234ms');
      expect(await smallDb.one(sql`SELECT ${'SET x = 1'}::text AS settext`)).toEqual({
        settext: 'SET x = 1',
      });
    } finally {
      await small.end();
    }
  });

  it('rolls back a db.transaction aborted by its signal', async () => {
    await db.query(sql`TRUNCATE note`);
    const controller = new AbortController();
    const running = db.transaction(
      async (tx) => {
        await tx.query(sql`INSERT INTO note (body) VALUES (${'never'})`);
        controller.abort();
        await tx.query(sql`SELECT pg_sleep(5)`);
      },
      { signal: controller.signal },
    );
    await expect(running).rejects.toBeInstanceOf(DbAbortError);
    expect(await notes()).toBe(0);
  });
});
