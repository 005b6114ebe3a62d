// Deadlines on a signal become a server-side statement_timeout: single queries, transactions, PgBouncer.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  createTestDatabase,
  requireService,
  startPgBouncer,
  type TestDatabase,
} from '@bulwark/test-utils';
import express, { type ErrorRequestHandler } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin, silent, suiteDatabase } from '../test/support.js';
import { createDb, type Db } from './db.js';
import { DEADLINE, deadlineOf, deadlineTimeoutSql } from './deadline.js';
import { DbAbortError } from './errors.js';
import { dbErrors, httpErrorFromDb } from './http-errors.js';
import { createPool, type SafePool } from './pool.js';
import { sql } from './sql.js';
import { withTransaction } from './transaction.js';

const hasPg = await requireService('postgres');
const hasPgBouncer = hasPg && (await requireService('pgbouncer'));

/** A signal that never aborts and carries a deadline `ms` from now, as `requestTimeout()` sets it. */
function deadlineIn(ms: number): AbortSignal {
  const { signal } = new AbortController();
  Object.defineProperty(signal, Symbol.for('bulwark.deadline'), { value: Date.now() + ms });
  return signal;
}

/** The statement_timeout a setting string such as '30s', '250ms' or '0' stands for, in ms. */
function toMs(setting: string): number {
  const match = /^(\d+)(ms|s|min)?$/.exec(setting);
  if (!match) throw new Error(`unexpected statement_timeout ${setting}`);
  const factor = { ms: 1, s: 1000, min: 60_000 }[match[2] ?? 'ms'] as number;
  return Number(match[1]) * factor;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('deadlineOf', () => {
  it('reads the registered symbol requestTimeout() sets, and nothing else', () => {
    expect(DEADLINE).toBe(Symbol.for('bulwark.deadline'));
    expect(deadlineOf(undefined)).toBeUndefined();
    expect(deadlineOf(new AbortController().signal)).toBeUndefined();
    const signal = new AbortController().signal;
    Object.defineProperty(signal, DEADLINE, { value: 'soon' });
    expect(deadlineOf(signal)).toBeUndefined();
    const at = Date.now() + 1000;
    const timed = new AbortController().signal;
    Object.defineProperty(timed, DEADLINE, { value: at });
    expect(deadlineOf(timed)).toBe(at);
  });

  it('writes a whole number of at least 1 ms into the setting, whatever it is given', () => {
    expect(deadlineTimeoutSql(0)).toContain("THEN '1'");
    expect(deadlineTimeoutSql(12.7)).toContain("THEN '12'");
    expect(deadlineTimeoutSql(Number.MAX_SAFE_INTEGER)).toContain("THEN '2147483647'");
  });
});

describe.runIf(hasPg)('deadlines against PostgreSQL', () => {
  let database: TestDatabase;
  let pool: SafePool;
  let db: Db;

  suiteDatabase('deadline', 1, async (suite) => {
    ({ database, pool, db } = suite);
    await db.query(sql`CREATE TABLE reading (id serial PRIMARY KEY, value int NOT NULL)`);
  });

  const sleeping = async () =>
    (
      await asAdmin((admin) =>
        admin.query(
          "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()",
          [database.name],
        ),
      )
    ).rows;

  const timeout = async (signal?: AbortSignal) =>
    toMs(
      (
        await db.one<{ t: string }>(
          sql`SELECT current_setting(${'statement_timeout'}) AS t`,
          signal ? { signal } : undefined,
        )
      ).t,
    );

  it('has the server cancel a query at the deadline its signal carries, with a timed-out DbAbortError', async () => {
    const started = Date.now();
    const error = await rejection(
      db.query(sql`SELECT pg_sleep(${5})`, { signal: deadlineIn(300) }),
    );
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(DbAbortError);
    expect(error).toMatchObject({ code: 'ERR_BULWARK_DB_ABORTED', timedOut: true });
    expect((error as Error).cause).toMatchObject({ code: '57014' });
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2_000);
    // The signal never aborted: only the server's statement_timeout can have stopped it.
    expect(await sleeping()).toEqual([]);
  });

  it("runs a query under min(pool's statement_timeout, time left) and leaves the pool's for the next one", async () => {
    expect(await timeout()).toBe(30_000);
    const capped = await timeout(deadlineIn(5_000));
    expect(capped).toBeGreaterThan(4_000);
    expect(capped).toBeLessThanOrEqual(5_000);
    // A deadline further away than the pool's timeout never raises it.
    expect(await timeout(deadlineIn(600_000))).toBe(30_000);
    // The pool has one connection, so this is the same one: the cap ended with its query.
    expect(await timeout()).toBe(30_000);
  });

  it("returns pg's whole result for a query under a deadline, also one without values", async () => {
    const result = await db.query(sql`SELECT current_setting('statement_timeout') AS t`, {
      signal: deadlineIn(5_000),
    });
    expect(result.command).toBe('SELECT');
    expect(result.rowCount).toBe(1);
    expect(result.fields.map((field) => field.name)).toEqual(['t']);
    expect(toMs(result.rows[0]!.t)).toBeLessThanOrEqual(5_000);
    const inserted = await db.query(
      sql`INSERT INTO reading (value) VALUES (${3}), (${4}) RETURNING value`,
      { signal: deadlineIn(5_000) },
    );
    expect(inserted.command).toBe('INSERT');
    expect(inserted.rowCount).toBe(2);
    expect(inserted.rows).toEqual([{ value: 3 }, { value: 4 }]);
  });

  it('leaves the connection its full statement_timeout after a query the deadline cut short', async () => {
    const pidBefore = (
      await db.one<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid, ${1}::int`)
    ).pid;
    await rejection(db.query(sql`SELECT pg_sleep(${5})`, { signal: deadlineIn(200) }));
    // Longer than the deadline was, well within the pool's 30 s: it must finish.
    const after = await db.one<{ pid: number }>(
      sql`SELECT pg_backend_pid() AS pid, pg_sleep(${0.6})::text AS slept`,
    );
    expect(after.pid).toBe(pidBefore);
    expect(await timeout()).toBe(30_000);
  });

  it('fails at once, without taking a connection or sending anything, when no time is left', async () => {
    const fresh = createPool({ connectionString: database.url, max: 1, logger: silent });
    try {
      const error = await rejection(
        createDb(fresh).query(sql`SELECT ${1}::int`, { signal: deadlineIn(-5) }),
      );
      expect(error).toBeInstanceOf(DbAbortError);
      expect(error).toMatchObject({ timedOut: true });
      expect(fresh.totalCount).toBe(0);
      const tx = await rejection(
        createDb(fresh).transaction(async () => 1, { signal: deadlineIn(0) }),
      );
      expect(tx).toMatchObject({ code: 'ERR_BULWARK_DB_ABORTED', timedOut: true });
      expect(fresh.totalCount).toBe(0);
    } finally {
      await fresh.end();
    }
  });

  it('keeps the pool statement_timeout when it is the shorter one: a plain 57014, not a deadline', async () => {
    const short = createPool({
      connectionString: database.url,
      max: 1,
      statementTimeoutMs: 200,
      logger: silent,
    });
    try {
      const error = await rejection(
        createDb(short).query(sql`SELECT pg_sleep(${2})`, { signal: deadlineIn(10_000) }),
      );
      expect(error).not.toBeInstanceOf(DbAbortError);
      expect(error).toMatchObject({ code: '57014' });
      expect(httpErrorFromDb(error)).toMatchObject({ status: 503, code: 'database_timeout' });
    } finally {
      await short.end();
    }
  });

  it('cuts a statement inside db.transaction at the deadline and rolls the transaction back', async () => {
    const error = await rejection(
      db.transaction(
        async (tx) => {
          await tx.query(sql`INSERT INTO reading (value) VALUES (${1})`);
          await tx.query(sql`SELECT pg_sleep(${5})`);
        },
        { signal: deadlineIn(300) },
      ),
    );
    expect(error).toBeInstanceOf(DbAbortError);
    expect(error).toMatchObject({ timedOut: true });
    expect(await sleeping()).toEqual([]);
    expect(await db.one(sql`SELECT count(*)::int AS n FROM reading WHERE value = ${1}`)).toEqual({
      n: 0,
    });
    expect(await timeout()).toBe(30_000);
  });

  it('gives each later statement of a transaction only the time then left', async () => {
    const seen = await db.transaction(
      async (tx) => {
        const setting = sql`SELECT current_setting(${'statement_timeout'}) AS t`;
        const first = toMs((await tx.one<{ t: string }>(setting)).t);
        await tx.query(sql`SELECT pg_sleep(${0.4})`);
        const second = toMs((await tx.one<{ t: string }>(setting)).t);
        return { first, second };
      },
      { signal: deadlineIn(5_000) },
    );
    expect(seen.first).toBeLessThanOrEqual(5_000);
    expect(seen.second).toBeLessThanOrEqual(seen.first - 350);
    expect(await timeout()).toBe(30_000);
  });

  it("folds the deadline into withTransaction's BEGIN, for statements on its raw client, and never raises a shorter transaction timeout", async () => {
    const inside = await withTransaction(
      pool,
      async (client) => (await client.query('SHOW statement_timeout')).rows[0].statement_timeout,
      { signal: deadlineIn(4_000) },
    );
    expect(toMs(inside)).toBeGreaterThan(3_000);
    expect(toMs(inside)).toBeLessThanOrEqual(4_000);
    const shorter = await withTransaction(
      pool,
      async (client) => (await client.query('SHOW statement_timeout')).rows[0].statement_timeout,
      { signal: deadlineIn(4_000), statementTimeoutMs: 1_500 },
    );
    expect(toMs(shorter)).toBe(1_500);
    expect(await timeout()).toBe(30_000);
  });

  it('still reports a slow query that ran under a deadline on bulwark:db:slow-query', async () => {
    const events: unknown[] = [];
    const onSlow = (event: unknown) => events.push(event);
    const timed = createPool({
      connectionString: database.url,
      max: 1,
      slowQueryMs: 100,
      logger: silent,
    });
    subscribe('bulwark:db:slow-query', onSlow);
    try {
      await createDb(timed).query(sql`SELECT pg_sleep(${0.2})`, { signal: deadlineIn(5_000) });
      expect(events).toEqual([
        expect.objectContaining({ text: 'SELECT pg_sleep($1)', params: ['number'] }),
      ]);
    } finally {
      unsubscribe('bulwark:db:slow-query', onSlow);
      await timed.end();
    }
  });

  it('answers a deadline cut with 503 request_timeout through dbErrors(), not a 500', async () => {
    const app = express();
    app.get('/slow', async (_req, res, next) => {
      try {
        await db.query(sql`SELECT pg_sleep(${5})`, { signal: deadlineIn(250) });
        res.sendStatus(204);
      } catch (err) {
        next(err);
      }
    });
    app.use(dbErrors());
    const render: ErrorRequestHandler = (err, _req, res, _next) => {
      res.status(typeof err.status === 'number' ? err.status : 500).json({ code: err.code });
    };
    app.use(render);
    const res = await request(app).get('/slow');
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ code: 'request_timeout' });
    expect(res.headers['retry-after']).toBeUndefined();
  });

  it('leaves an abort that is not about time (the client left) to pass through dbErrors()', () => {
    const left = new DbAbortError('aborted', {
      cause: new DOMException('Client closed the connection', 'AbortError'),
    });
    expect(left.timedOut).toBe(false);
    expect(httpErrorFromDb(left)).toBeUndefined();
    const timedOut = new DbAbortError('aborted', {
      cause: new DOMException('Request exceeded 100 ms', 'TimeoutError'),
    });
    expect(timedOut.timedOut).toBe(true);
    expect(httpErrorFromDb(timedOut)).toMatchObject({ status: 503, code: 'request_timeout' });
  });
});

describe.runIf(hasPgBouncer)('deadlines through PgBouncer in transaction mode', () => {
  let database: TestDatabase;
  let bouncer: Awaited<ReturnType<typeof startPgBouncer>>;
  let pool: SafePool;
  let other: SafePool;

  beforeAll(async () => {
    database = await createTestDatabase('dbsafety_deadline_bouncer');
    bouncer = await startPgBouncer({ mode: 'transaction' });
    const options = {
      connectionString: bouncer.url(database.name),
      pgbouncer: 'transaction' as const,
      max: 1,
      logger: silent,
    };
    pool = createPool(options);
    other = createPool(options);
  });
  afterAll(async () => {
    await pool?.end();
    await other?.end();
    await bouncer?.stop();
    await database?.drop();
  });

  it('caps one query without leaving the setting on the server connection another client gets next', async () => {
    const setting = sql`SELECT current_setting(${'statement_timeout'}) AS t, pg_backend_pid() AS pid`;
    const capped = await createDb(pool).one<{ t: string; pid: number }>(setting, {
      signal: deadlineIn(3_000),
    });
    expect(toMs(capped.t)).toBeLessThanOrEqual(3_000);
    const next = await createDb(other).one<{ t: string; pid: number }>(setting);
    // The same server connection, as PgBouncer shares it, and without the cap.
    expect(next.pid).toBe(capped.pid);
    expect(toMs(next.t)).not.toBe(toMs(capped.t));
    const error = await rejection(
      createDb(pool).query(sql`SELECT pg_sleep(${5})`, { signal: deadlineIn(300) }),
    );
    expect(error).toMatchObject({ code: 'ERR_BULWARK_DB_ABORTED', timedOut: true });
  });
});
