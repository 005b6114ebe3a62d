// The `openapi` self-descriptions of dbErrors() and healthRoute(): frozen, documented, and the
// very answers each gives over real HTTP against a real PostgreSQL.
import { readFileSync } from 'node:fs';
import {
  createTestDatabase,
  freePort,
  requireService,
  type TestDatabase,
} from '@bulwark/test-utils';
import express, { type ErrorRequestHandler } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin } from '../test/support.js';
import { createDb } from './db.js';
import { healthRoute } from './health.js';
import { dbErrors } from './http-errors.js';
import { createPool, type SafePool } from './pool.js';
import { sql } from './sql.js';

const hasPg = await requireService('postgres');

interface Problem {
  status: number;
  code: string;
  title: string;
  headers?: Record<string, unknown>;
}

/** `code → status` from the request-time table of docs/errors/db-safety.md. */
const documented = new Map(
  [
    ...readFileSync(new URL('../../../docs/errors/db-safety.md', import.meta.url), 'utf8').matchAll(
      /^\| \[`([a-z_]+)`\]\(#[a-z_]+\) +\| (\d{3}) +\|/gm,
    ),
  ].map(([, code, status]) => [code as string, Number(status)]),
);

const descriptionOf = (fn: unknown) => (fn as { openapi: Record<string, unknown> }).openapi;

const render: ErrorRequestHandler = (err, _req, res, _next) => {
  res.set(err.headers ?? {});
  res.status(typeof err.status === 'number' ? err.status : 500).json({ code: err.code });
};

const silent = { warn() {}, error() {} };

describe('the openapi self-description of dbErrors()', () => {
  it('is frozen, version 1, and lists exactly the documented request-time codes with their status', () => {
    const description = descriptionOf(dbErrors());
    expect(description).toMatchObject({ version: 1, kind: 'error-handler' });
    expect(Object.isFrozen(description)).toBe(true);
    const problems = description.problems as Problem[];
    expect(Object.isFrozen(problems)).toBe(true);
    for (const problem of problems) {
      expect(Object.isFrozen(problem)).toBe(true);
      expect(documented.get(problem.code)).toBe(problem.status);
    }
    expect(problems.map((p) => p.code).sort()).toEqual([...documented.keys()].sort());
    expect(description).not.toHaveProperty('schema');
  });

  it('marks with Retry-After exactly the answers that send it', () => {
    const problems = descriptionOf(dbErrors()).problems as Problem[];
    expect(problems.filter((p) => p.headers?.['Retry-After']).map((p) => p.code)).toEqual([
      'transaction_conflict',
      'database_timeout',
      'database_busy',
      'database_unavailable',
    ]);
  });
});

describe.runIf(hasPg)('dbErrors() answers as it describes itself', () => {
  let database: TestDatabase;
  let pool: SafePool;
  const app = express();
  const problems = descriptionOf(dbErrors()).problems as Problem[];

  beforeAll(async () => {
    database = await createTestDatabase('dbsafety_openapi');
    await asAdmin(async (client) => {
      await client.query(`
        CREATE TABLE owner (id int PRIMARY KEY);
        CREATE TABLE device (id text PRIMARY KEY, owner int REFERENCES owner (id),
          level int CHECK (level BETWEEN 0 AND 10));
        INSERT INTO owner VALUES (1);
        INSERT INTO device VALUES ('dev-1', 1, 5);`);
    }, database.url);
    pool = createPool({ connectionString: database.url, statementTimeoutMs: 200, max: 2 });
    const db = createDb(pool);
    const queries: Record<string, ReturnType<typeof sql>> = {
      conflict: sql`INSERT INTO device (id) VALUES (${'dev-1'})`,
      reference_conflict: sql`INSERT INTO device (id, owner) VALUES (${'dev-2'}, ${99})`,
      invalid_value: sql`INSERT INTO device (id, level) VALUES (${'dev-3'}, ${11})`,
      database_timeout: sql`SELECT pg_sleep(${2})`,
    };
    app.post('/:case', async (req, res, next) => {
      try {
        await db.query(queries[req.params.case as string] as ReturnType<typeof sql>);
        res.sendStatus(204);
      } catch (err) {
        next(err);
      }
    });
    app.use(dbErrors());
    app.use(render);
  });

  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  for (const code of ['conflict', 'reference_conflict', 'invalid_value', 'database_timeout']) {
    it(`answers ${code} with the status and headers its description lists`, async () => {
      const problem = problems.find((p) => p.code === code) as Problem;
      const res = await request(app).post(`/${code}`);
      expect(res.status).toBe(problem.status);
      expect(res.body).toEqual({ code });
      expect(res.headers['retry-after'] !== undefined).toBe(problem.headers !== undefined);
    });
  }
});

describe.runIf(hasPg)('the openapi self-description of healthRoute()', () => {
  let database: TestDatabase;
  let pool: SafePool;
  let downPool: SafePool;

  beforeAll(async () => {
    database = await createTestDatabase('dbsafety_openapi_health');
    pool = createPool({ connectionString: database.url, logger: silent });
    downPool = createPool({
      connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/none`,
      logger: silent,
    });
  });
  afterAll(async () => {
    await pool?.end();
    await downPool?.end();
    await database?.drop();
  });

  it('is a frozen route description of its plain JSON 200 and 503, not a problem+json answer', () => {
    const description = descriptionOf(healthRoute(pool));
    expect(description).toMatchObject({ version: 1, kind: 'route' });
    expect(description).not.toHaveProperty('problems');
    expect(Object.isFrozen(description)).toBe(true);
    const responses = description.responses as Record<string, Record<string, unknown>>;
    expect(Object.isFrozen(responses)).toBe(true);
    expect(Object.keys(responses)).toEqual(['200', '503']);
    expect(documented.get('database_unavailable')).toBe(503);
    expect(responses['503']?.description).toMatch(/`database_unavailable`/);
    expect(Object.keys(responses['503']?.headers as object)).toEqual(['Retry-After']);
  });

  it('answers 200 and 503 with the bodies and headers its description declares', async () => {
    const responses = descriptionOf(healthRoute(pool)).responses as Record<
      string,
      { schema: { required: string[]; properties: Record<string, Record<string, unknown>> } }
    >;
    const app = express();
    app.get('/ready', healthRoute(pool, { details: true }));
    app.get('/down', healthRoute(downPool, { cacheMs: 0 }));

    const up = await request(app).get('/ready').expect(200);
    const upSchema = responses['200']?.schema;
    expect(upSchema?.properties.status?.enum).toContain(up.body.status);
    expect(Object.keys(up.body).sort()).toEqual(Object.keys(upSchema?.properties ?? {}).sort());
    expect(typeof up.body.latencyMs).toBe('number');
    expect(typeof up.body.pool).toBe('object');

    const down = await request(app).get('/down').expect(503);
    const downSchema = responses['503']?.schema;
    expect(down.headers['content-type']).toMatch(/^application\/json/);
    expect(down.headers['retry-after']).toBe('1');
    expect(down.body).toEqual({
      status: downSchema?.properties.status?.const,
      code: downSchema?.properties.code?.const,
    });
    expect(downSchema?.required).toEqual(['status', 'code']);
  });
});
