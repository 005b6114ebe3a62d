// checkHealth and healthRoute against the real server and over HTTP: single flight, cache, 503 when down.
import {
  createTestDatabase,
  freePort,
  listen,
  requireService,
  type TestDatabase,
} from '@bulwark/test-utils';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHealth, healthRoute } from './health.js';
import { createPool, type SafePool } from './pool.js';

const hasPg = await requireService('postgres');
const silent = { warn: () => {} };

let database: TestDatabase;
beforeAll(async () => {
  if (hasPg) database = await createTestDatabase('dbsafety_health');
});
afterAll(async () => {
  await database?.drop();
});

describe.runIf(hasPg)('checkHealth', () => {
  const pools: SafePool[] = [];
  const make = (options: Parameters<typeof createPool>[0] = {}) => {
    const pool = createPool({ connectionString: database.url, logger: silent, ...options });
    pools.push(pool);
    return pool;
  };
  const counted = (pool: SafePool) => {
    let checkouts = 0;
    pool.on('acquire', () => checkouts++);
    return () => checkouts;
  };

  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.end()));
  });

  it('reports ok with latency and pool counts, through the pool', async () => {
    const pool = make();
    const checkouts = counted(pool);
    const result = await checkHealth(pool);
    expect(result).toMatchObject({ status: 'ok', pool: { total: 1, idle: 1, waiting: 0 } });
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(checkouts()).toBe(1);
  });

  it('answers a flood of 1000 concurrent probes with one query', async () => {
    const pool = make();
    const checkouts = counted(pool);
    const results = await Promise.all(
      Array.from({ length: 1000 }, () => checkHealth(pool, { cacheMs: 5000 })),
    );
    expect(results.every((result) => result.status === 'ok')).toBe(true);
    expect(checkouts()).toBe(1);
    for (let i = 0; i < 1000; i++) await checkHealth(pool, { cacheMs: 5000 });
    expect(checkouts()).toBe(1);
  });

  it('reports down with the error code when the database cannot be reached', async () => {
    const port = await freePort();
    const pool = make({
      connectionString: `postgres://postgres@127.0.0.1:${port}/none`,
      connectionTimeoutMs: 500,
    });
    const result = await checkHealth(pool, { cacheMs: 0 });
    expect(result).toMatchObject({ status: 'down', reason: 'ECONNREFUSED' });
  });

  it('reports down on timeout, and does not pile up probes while the first is stuck', async () => {
    const pool = make({ max: 1, connectionTimeoutMs: 2000 });
    const checkouts = counted(pool);
    const held = await pool.connect();
    try {
      const first = await checkHealth(pool, { timeoutMs: 50, cacheMs: 0 });
      expect(first).toMatchObject({ status: 'down', reason: 'timeout' });
      const second = await checkHealth(pool, { timeoutMs: 50, cacheMs: 0 });
      expect(second).toMatchObject({ status: 'down', reason: 'probe-pending' });
      expect(pool.waitingCount).toBe(1);
    } finally {
      held.release();
    }
    expect(checkouts()).toBeLessThanOrEqual(2);
  });

  it('refuses unknown options', () => {
    const pool = make();
    expect(() => checkHealth(pool, { timeout: 5 } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_DB_UNKNOWN_OPTION' }),
    );
  });
});

describe.runIf(hasPg)('healthRoute', () => {
  let pool: SafePool;
  let downPool: SafePool;

  beforeAll(async () => {
    pool = createPool({ connectionString: database.url, logger: silent });
    const port = await freePort();
    downPool = createPool({
      connectionString: `postgres://postgres@127.0.0.1:${port}/none`,
      logger: silent,
    });
  });
  afterAll(async () => {
    await pool?.end();
    await downPool?.end();
  });

  it('answers 200 with the status only, and no-store', async () => {
    const app = express();
    app.get('/ready', healthRoute(pool));
    const server = await listen(app);
    try {
      const response = await fetch(`${server.url}/ready`);
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await response.json()).toEqual({ status: 'ok' });
    } finally {
      await server.close();
    }
  });

  it('answers 503 database_unavailable when down, without error details', async () => {
    const app = express();
    app.get('/ready', healthRoute(downPool, { cacheMs: 0 }));
    const server = await listen(app);
    try {
      const response = await fetch(`${server.url}/ready`);
      expect(response.status).toBe(503);
      const text = await response.text();
      expect(JSON.parse(text)).toEqual({ status: 'down', code: 'database_unavailable' });
      expect(text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|postgres/);
      expect(response.headers.get('retry-after')).toBe('1');
    } finally {
      await server.close();
    }
  });

  it('includes latency and pool counts when details is on', async () => {
    const app = express();
    app.get('/ready', healthRoute(pool, { details: true, cacheMs: 0 }));
    const server = await listen(app);
    try {
      const body = await (await fetch(`${server.url}/ready`)).json();
      expect(body).toMatchObject({
        status: 'ok',
        latencyMs: expect.any(Number),
        pool: { total: expect.any(Number) },
      });
    } finally {
      await server.close();
    }
  });

  it('refuses a misspelled option at construction', () => {
    expect(() => healthRoute(pool, { detail: true } as never)).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_DB_UNKNOWN_OPTION',
        message: expect.stringContaining('`details`'),
      }),
    );
  });
});
