// requestTimeout()'s deadline reaches the database: db-safety queries and transactions given req.signal stop with their request.
import { setTimeout as delay } from 'node:timers/promises';
import { createDb, createPool, type Db, dbErrors, type SafePool, sql } from '@bulwark/db-safety';
import { errorHandler } from '@bulwark/error-handler';
// The published packages do not import each other; this suite is where the two meet.
import { requestTimeout } from '@bulwark/perimeter';
import {
  createTestDatabase,
  type Listening,
  listen,
  requireService,
  type TestDatabase,
} from '@bulwark/test-utils';
import express, { type NextFunction, type Request } from 'express';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ready = await requireService('postgres');

/**
 * Hands a route's error on, unless requestTimeout() has already answered: an error after the
 * answer makes errorHandler() close the connection, which a client reusing it would see fail.
 */
function pass(req: Request, next: NextFunction, err: unknown): void {
  if (!req.signal.aborted) next(err);
}
const silent = { warn() {}, error() {}, info() {} };

describe.runIf(ready)('a request deadline reaches the database', () => {
  let database: TestDatabase;
  let pool: SafePool;
  let db: Db;
  let server: Listening;

  beforeAll(async () => {
    database = await createTestDatabase('e2e_deadline');
    pool = createPool({
      connectionString: database.url,
      max: 2,
      logger: silent,
      applicationName: 'e2e-deadline',
    });
    db = createDb(pool);
    await db.query(sql`CREATE TABLE reading (id serial PRIMARY KEY, value int NOT NULL)`);

    const app = express();
    // Mounted before requestTimeout(): these queries have no deadline at all.
    app.get('/setting', async (_req, res, next) => {
      try {
        const row = await db.one<{ t: string; slept: string }>(
          sql`SELECT current_setting(${'statement_timeout'}) AS t, pg_sleep(${0.1})::text AS slept`,
        );
        res.json({ statementTimeout: row.t });
      } catch (err) {
        next(err);
      }
    });
    app.get('/left', requestTimeout(1_000), async (req, res, next) => {
      try {
        await delay(300);
        const { t } = await db.one<{ t: string }>(
          sql`SELECT current_setting(${'statement_timeout'}) AS t`,
          { signal: req.signal },
        );
        res.json({ statementTimeout: t });
      } catch (err) {
        pass(req, next, err);
      }
    });
    app.use(requestTimeout(300));
    app.get('/slow', async (req, res, next) => {
      try {
        await db.query(sql`SELECT pg_sleep(${5})`, { signal: req.signal });
        res.sendStatus(204);
      } catch (err) {
        pass(req, next, err);
      }
    });
    app.post('/slow-write', async (req, res, next) => {
      try {
        await db.transaction(
          async (tx) => {
            await tx.query(sql`INSERT INTO reading (value) VALUES (${7})`);
            await tx.query(sql`SELECT pg_sleep(${5})`);
          },
          { signal: req.signal },
        );
        res.sendStatus(204);
      } catch (err) {
        pass(req, next, err);
      }
    });
    app.use(dbErrors());
    app.use(errorHandler({ logger: silent }));
    server = await listen(app);
  });

  afterAll(async () => {
    await server?.close();
    await pool?.end();
    await database?.drop();
  });

  const sleeping = async () => {
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      return (
        await admin.query(
          "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()",
          [database.name],
        )
      ).rows;
    } finally {
      await admin.end();
    }
  };

  /** Polls until nothing sleeps on the server any more; how long that took, in ms. */
  const goneWithin = async (limitMs: number) => {
    const started = Date.now();
    while ((await sleeping()).length > 0) {
      if (Date.now() - started > limitMs) return Number.POSITIVE_INFINITY;
      await delay(20);
    }
    return Date.now() - started;
  };

  it('answers 503 request_timeout, and the server has stopped the query, for a pg_sleep(5) under requestTimeout(300)', async () => {
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const res = await fetch(`${server.url}/slow`);
      const elapsed = Date.now() - started;
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await res.json()).toMatchObject({ status: 503, code: 'request_timeout' });
      expect(elapsed).toBeLessThan(2_000);
      expect(await goneWithin(1_000)).toBeLessThan(1_000);
    }
  });

  it('rolls back a transaction its request ran out of time for, and answers 503 request_timeout', async () => {
    const res = await fetch(`${server.url}/slow-write`, { method: 'POST' });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: 'request_timeout' });
    expect(await goneWithin(1_000)).toBeLessThan(1_000);
    expect(await db.one(sql`SELECT count(*)::int AS n FROM reading WHERE value = ${7}`)).toEqual({
      n: 0,
    });
  });

  it('gives a query only the time the request has left', async () => {
    const res = await fetch(`${server.url}/left`);
    expect(res.status).toBe(200);
    const { statementTimeout } = (await res.json()) as { statementTimeout: string };
    const ms = Number(/^(\d+)ms$/.exec(statementTimeout)?.[1]);
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThanOrEqual(700);
  });

  it("leaves the pool's statement_timeout on every connection afterwards, and queries without the signal untouched", async () => {
    const answers = await Promise.all(
      [1, 2, 3, 4].map(async () => (await fetch(`${server.url}/setting`)).json()),
    );
    expect(answers).toEqual([1, 2, 3, 4].map(() => ({ statementTimeout: '30s' })));
  });
});
