// Tests for dbErrors(): database failures a client can act on become clear 4xx/503 answers.
import { createTestDatabase, requireService, type TestDatabase } from '@bulwark/test-utils';
import express, { type ErrorRequestHandler } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin } from '../test/support.js';
import { createDb, type Db } from './db.js';
import { DbSafetyError } from './errors.js';
import { dbErrors, httpErrorFromDb } from './http-errors.js';
import { createPool, type SafePool } from './pool.js';
import { sql } from './sql.js';

const hasPg = await requireService('postgres');

// Renders what the error handler would: status, code, message and headers of exposed errors.
const render: ErrorRequestHandler = (err, _req, res, _next) => {
  const status = typeof err.status === 'number' ? err.status : 500;
  res.set(err.headers ?? {});
  res
    .status(status)
    .json(err.expose ? { code: err.code, detail: err.message } : { code: 'internal_error' });
};

describe.runIf(hasPg)('dbErrors', () => {
  let database: TestDatabase;
  let pool: SafePool;
  let db: Db;
  const app = express();

  beforeAll(async () => {
    database = await createTestDatabase('dbsafety_http_errors');
    await asAdmin(async (client) => {
      await client.query(`
        CREATE TABLE owner (id int PRIMARY KEY);
        CREATE TABLE device (
          id text PRIMARY KEY,
          owner int REFERENCES owner (id),
          level int CHECK (level BETWEEN 0 AND 10)
        );
        INSERT INTO owner VALUES (1);
        INSERT INTO device VALUES ('dev-1', 1, 5);`);
    }, database.url);
    pool = createPool({ connectionString: database.url, statementTimeoutMs: 200, max: 2 });
    db = createDb(pool);
    const route = (path: string, run: () => Promise<unknown>) =>
      app.post(path, async (_req, res, next) => {
        try {
          await run();
          res.sendStatus(204);
        } catch (err) {
          next(err);
        }
      });
    route('/duplicate', () => db.query(sql`INSERT INTO device (id) VALUES (${'dev-1'})`));
    route('/orphan', () =>
      db.query(sql`INSERT INTO device (id, owner) VALUES (${'dev-2'}, ${99})`),
    );
    route('/referenced', () => db.query(sql`DELETE FROM owner WHERE id = ${1}`));
    route('/check', () => db.query(sql`INSERT INTO device (id, level) VALUES (${'dev-3'}, ${11})`));
    route('/not-a-number', () => db.query(sql`SELECT ${'abc'}::int`));
    route('/nul', () => db.query(sql`INSERT INTO device (id) VALUES (${'dev\u0000x'})`));
    route('/slow', () => db.query(sql`SELECT pg_sleep(${2})`));
    route('/syntax', () => db.query(sql`SELEC ${1}`));
    app.use(dbErrors());
    app.use(render);
  });

  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  it('answers a unique violation with 409 conflict, naming neither the constraint nor the value', async () => {
    const res = await request(app).post('/duplicate').expect(409);
    expect(res.body).toEqual({
      code: 'conflict',
      detail: 'A resource with this id or name already exists.',
    });
    expect(JSON.stringify(res.body)).not.toMatch(/device_pkey|dev-1|duplicate key/);
  });

  it('answers a foreign-key violation either way with 409 reference_conflict', async () => {
    expect((await request(app).post('/orphan').expect(409)).body.code).toBe('reference_conflict');
    expect((await request(app).post('/referenced').expect(409)).body.code).toBe(
      'reference_conflict',
    );
  });

  it('answers a check violation and a value PostgreSQL cannot parse with 422 invalid_value', async () => {
    expect((await request(app).post('/check').expect(422)).body.code).toBe('invalid_value');
    expect((await request(app).post('/not-a-number').expect(422)).body.code).toBe('invalid_value');
  });

  it('answers a NUL character, which PostgreSQL text cannot hold, with 422 invalid_value', async () => {
    expect((await request(app).post('/nul').expect(422)).body.code).toBe('invalid_value');
  });

  it('answers a statement past statement_timeout with 503 database_timeout and Retry-After', async () => {
    const res = await request(app).post('/slow').expect(503);
    expect(res.body.code).toBe('database_timeout');
    expect(res.headers['retry-after']).toBe('1');
  });

  it('passes a server bug (a syntax error) on unchanged, so it stays a generic 500', async () => {
    const res = await request(app).post('/syntax').expect(500);
    expect(res.body).toEqual({ code: 'internal_error' });
  });

  it('keeps the database error as cause, for the server log', async () => {
    const err = await db.query(sql`SELECT ${'x'}::int`).catch((e: unknown) => e);
    const mapped = httpErrorFromDb(err);
    expect(mapped?.cause).toBe(err);
    expect(mapped?.status).toBe(422);
  });
});

describe('httpErrorFromDb', () => {
  it('maps a pool that cannot hand out a connection in time to 503 database_unavailable', () => {
    const mapped = httpErrorFromDb(
      new DbSafetyError('ERR_BULWARK_DB_ACQUIRE_TIMEOUT', 'pool exhausted'),
    );
    expect(mapped).toMatchObject({ status: 503, expose: true, code: 'database_unavailable' });
    expect(mapped?.headers).toEqual({ 'Retry-After': '2' });
  });

  it('leaves anything that is not a database failure alone', () => {
    expect(httpErrorFromDb(new Error('boom'))).toBeUndefined();
    expect(httpErrorFromDb({ code: 'ENOENT' })).toBeUndefined();
    expect(httpErrorFromDb(null)).toBeUndefined();
  });
});
