// Redis failing under load: fail-open and fail-closed policies, recovery, and two instances sharing one limit.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, errorHandler } from '@bulwark/error-handler';
import { createRateLimits } from '@bulwark/rate-limit';
import {
  createTestDatabase,
  type Listening,
  listen,
  type RunningRedis,
  redisPrefix,
  requireService,
  startRedisServer,
  type TestDatabase,
} from '@bulwark/test-utils';
import express from 'express';
import { Redis } from 'ioredis';
import { createApp, type IotApp, loadConfig, signToken, tokenKey } from 'iot-app';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eventually, load } from './support.js';

vi.setConfig({ testTimeout: 45_000, hookTimeout: 60_000 });

const ready = await requireService('redis', 'redis-server');
const withPostgres = ready && (await requireService('postgres'));

const LIMIT = 5;

// The answers are the subject here; the handler's log lines would only fill the test output.
const quiet = createLogger({
  stream: new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  }),
});

/** An app with one fail-open and one fail-closed policy on a Redis client, keyed by `X-Client`. */
function limitedApp(redis: Redis, prefix: string) {
  const limits = createRateLimits({ redis, prefix });
  const byClient = (req: express.Request) => req.get('x-client') ?? 'anonymous';
  const app = express();
  app.get(
    '/open',
    limits.policy('open', { limit: LIMIT, windowMs: 60_000, key: byClient, onStoreError: 'allow' }),
    (_req, res) => {
      res.json({ ok: true });
    },
  );
  app.get(
    '/closed',
    limits.policy('closed', {
      limit: LIMIT,
      windowMs: 60_000,
      key: byClient,
      onStoreError: 'deny',
    }),
    (_req, res) => {
      res.json({ ok: true });
    },
  );
  app.use(errorHandler({ logger: quiet }));
  return { app, limits };
}

const redisClient = (url: string) => {
  const client = new Redis(url, {
    maxRetriesPerRequest: 1,
    connectTimeout: 1000,
    lazyConnect: true,
  });
  client.on('error', () => {});
  return client;
};

describe.runIf(ready)('a rate limit whose Redis stops under load', () => {
  let server: RunningRedis;
  let client: Redis;
  let http: Listening;
  let limits: ReturnType<typeof limitedApp>['limits'];

  beforeAll(async () => {
    server = await startRedisServer();
    client = redisClient(server.url);
    await client.connect();
    const built = limitedApp(client, redisPrefix('faults'));
    limits = built.limits;
    http = await listen(built.app);
  });

  afterAll(async () => {
    await http?.close();
    client?.disconnect();
    await server?.stop();
  });

  const hit = async (path: string, clientId: string) => {
    const response = await fetch(`${http.url}${path}`, {
      headers: { 'x-client': clientId },
      signal: AbortSignal.timeout(5000),
    });
    const text = await response.text();
    if (response.status >= 500 && response.status !== 503) {
      throw new Error(`${path} answered ${response.status}: ${text}`);
    }
    return response.status;
  };

  it('keeps fail-open policies serving, answers fail-closed ones with 503, never 500, and enforces limits again after Redis returns', async () => {
    // Healthy: the sixth call of one client is refused by both policies.
    for (const path of ['/open', '/closed']) {
      const statuses = [];
      for (let i = 0; i <= LIMIT; i++) statuses.push(await hit(path, `healthy-${path}`));
      expect(statuses).toEqual([...Array(LIMIT).fill(200), 429]);
    }

    await server.stop();
    const outage = new Promise((resolve) => setTimeout(resolve, 3000));
    let unique = 0;
    const counts = { open: new Map<number, number>(), closed: new Map<number, number>() };
    const tally = (map: Map<number, number>, status: number) =>
      map.set(status, (map.get(status) ?? 0) + 1);
    const statusCounts = await load(
      8,
      async (worker) => {
        const id = `outage-${worker}-${unique++}`;
        const open = await hit('/open', id);
        tally(counts.open, open);
        const closed = await hit('/closed', id);
        tally(counts.closed, closed);
        return closed;
      },
      outage,
    );
    expect(statusCounts.get(0) ?? 0, 'requests that failed outright').toBe(0);
    // Each client id is new, so a fail-open policy (counting in memory meanwhile) admits it.
    expect([...counts.open.keys()]).toEqual([200]);
    expect(counts.open.get(200)).toBeGreaterThan(20);
    expect([...counts.closed.keys()]).toEqual([503]);
    expect(limits.storeState()).toBe('open');

    const closedAnswer = await fetch(`${http.url}/closed`, { headers: { 'x-client': 'shape' } });
    expect(closedAnswer.status).toBe(503);
    expect(closedAnswer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await closedAnswer.json()) as { code: string }).code).toBe('rate_limit_unavailable');

    await server.start();
    const returned = Date.now();
    // Within seconds the store is used again: a client's sixth call is refused by both policies
    // and the counters are in Redis.
    await eventually(
      async () => {
        const id = `after-${Date.now()}`;
        const statuses: number[] = [];
        for (let i = 0; i <= LIMIT; i++) statuses.push(await hit('/closed', id));
        const open: number[] = [];
        for (let i = 0; i <= LIMIT; i++) open.push(await hit('/open', id));
        const stored = await client.keys('*');
        return statuses.join() === [...Array(LIMIT).fill(200), 429].join() &&
          open[LIMIT] === 429 &&
          stored.length > 0
          ? true
          : undefined;
      },
      15_000,
      'limits enforced through Redis',
    );
    expect(Date.now() - returned).toBeLessThan(15_000);
    expect(limits.storeState()).toBe('closed');
  });
});

describe.runIf(ready)('two instances sharing Redis under 100 concurrent clients', () => {
  const clients: Redis[] = [];
  const servers: Listening[] = [];
  const prefix = redisPrefix('faults-shared');
  const SHARED_LIMIT = 20;
  const KEYS = 10;

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const client = redisClient(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379');
      await client.connect();
      clients.push(client);
      const limits = createRateLimits({ redis: client, prefix });
      const app = express();
      app.get(
        '/limited',
        limits.policy('shared', {
          limit: SHARED_LIMIT,
          windowMs: 60_000,
          key: (req) => req.get('x-client') ?? 'anonymous',
        }),
        (_req, res) => {
          res.json({ instance: i });
        },
      );
      app.use(errorHandler({ logger: quiet }));
      servers.push(await listen(app));
    }
  });

  afterAll(async () => {
    for (const s of servers) await s.close();
    const keys = await clients[0]?.keys(`${prefix}*`);
    if (keys?.length) await clients[0]?.del(...keys);
    for (const c of clients) c.disconnect();
  });

  it('never admits more requests per key than the limit across both instances', async () => {
    const admitted = new Map<string, number>();
    const statuses = new Map<number, number>();
    const perClient = 12;
    await Promise.all(
      Array.from({ length: 100 }, async (_, clientIndex) => {
        for (let i = 0; i < perClient; i++) {
          const key = `key-${(clientIndex + i) % KEYS}`;
          const base = servers[(clientIndex + i) % 2]!.url;
          const response = await fetch(`${base}/limited`, {
            headers: { 'x-client': key },
            signal: AbortSignal.timeout(10_000),
          });
          await response.arrayBuffer();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          if (response.status === 200) admitted.set(key, (admitted.get(key) ?? 0) + 1);
        }
      }),
    );
    expect([...statuses.keys()].sort()).toEqual([200, 429]);
    expect(admitted.size).toBe(KEYS);
    for (const [key, count] of admitted) {
      // 120 requests per key arrive; exactly the limit is admitted, whichever instance took them.
      expect(count, key).toBe(SHARED_LIMIT);
    }
  });
});

describe.runIf(withPostgres)('the example app whose Redis stops', () => {
  let server: RunningRedis;
  let db: TestDatabase;
  let dataDir: string;
  let iot: IotApp;
  let url: string;
  let admin: string;
  let ops: string;

  beforeAll(async () => {
    server = await startRedisServer();
    db = await createTestDatabase('faults_redis_app');
    dataDir = mkdtempSync(join(tmpdir(), 'faults-redis-'));
    iot = await createApp(
      loadConfig({
        DATABASE_URL: db.url,
        REDIS_URL: server.url,
        REDIS_PREFIX: redisPrefix('faults-app'),
        MQTT_PORT: '0',
        DATA_DIR: dataDir,
        PORT: '0',
        LOG_LEVEL: 'silent',
      }),
    );
    ({ url } = await iot.start());
    const key = tokenKey(iot.config.jwtSecret);
    admin = signToken(key, { subject: 'admin@acme', tenantId: 'acme', ttlSec: 600 });
    ops = signToken(key, { subject: 'ops@platform', tenantId: null, ttlSec: 600 });
  });

  afterAll(async () => {
    await iot?.stop();
    await server?.stop();
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(5000),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('keeps serving reads and writes through its fail-open limits, with no 5xx, and reports the store state', async () => {
    expect((await call('GET', '/customer/devices', admin)).status).toBe(200);
    await server.stop();
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) {
      statuses.push((await call('GET', '/customer/devices', admin)).status);
      statuses.push(
        (await call('PATCH', '/customer/devices/acme-sensor-2', admin, { name: `Sensor ${i}` }))
          .status,
      );
    }
    expect(new Set(statuses)).toEqual(new Set([200]));
    const health = await call('GET', '/operator/health', ops);
    expect(health.status).toBe(200);
    expect(JSON.stringify(health.body)).toMatch(/"rateLimitStore":"open"/);
    await server.start();
  });
});
