// The outage policy against a private redis-server that is killed and restarted mid-test.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { listen, type RunningRedis, requireService, startRedisServer } from '@bulwark/test-utils';
import express, { type ErrorRequestHandler } from 'express';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRateLimits } from './create-rate-limits.js';
import type { RedisClientLike } from './redis.js';

const hasRedisServer = await requireService('redis-server');

const storeTimeoutMs = 1_000;
const cooldownMs = 300;
/** A request that takes longer than this has hung on the dead store. */
const hangMs = storeTimeoutMs + 2_000;

const renderError: ErrorRequestHandler = (err, _req, res, _next) => {
  res.set(err.headers ?? {});
  res.status(err.status ?? 500).json({ code: err.code });
};

function recordEvents(names: string[]) {
  const seen: { name: string; message: Record<string, unknown> }[] = [];
  const listeners = names.map((name) => {
    const listener = (message: unknown) =>
      seen.push({ name, message: message as Record<string, unknown> });
    subscribe(`bulwark:rate-limit:${name}`, listener);
    return { name, listener };
  });
  return {
    seen,
    stop: () => {
      for (const { name, listener } of listeners)
        unsubscribe(`bulwark:rate-limit:${name}`, listener);
    },
  };
}

function outageApp(redis: RedisClientLike) {
  const limits = createRateLimits({
    redis,
    defaults: { storeTimeoutMs, breaker: { failures: 2, cooldownMs } },
  });
  const app = express();
  app.get(
    '/open',
    limits.policy('public-read', { limit: 3, onStoreError: 'allow' }),
    (_req, res) => {
      res.json({ ok: true });
    },
  );
  app.get(
    '/closed',
    limits.policy('login', { limit: 1_000, onStoreError: 'deny' }),
    (_req, res) => {
      res.json({ ok: true });
    },
  );
  app.use(renderError);
  return { app, limits };
}

async function get(url: string) {
  const res = await fetch(url, { signal: AbortSignal.timeout(hangMs) });
  return {
    status: res.status,
    body: (await res.json()) as { code?: string },
    headers: res.headers,
  };
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

const clients: [string, (url: string) => Promise<{ redis: RedisClientLike; close: () => void }>][] =
  [
    [
      'node-redis',
      async (url) => {
        const client = createClient({ url, socket: { reconnectStrategy: () => 100 } });
        client.on('error', () => {});
        await client.connect();
        return { redis: client, close: () => void client.destroy() };
      },
    ],
    [
      'ioredis',
      async (url) => {
        const client = new Redis(url, { retryStrategy: () => 100, lazyConnect: true });
        client.on('error', () => {});
        await client.connect();
        return { redis: client, close: () => client.disconnect() };
      },
    ],
  ];

describe.runIf(hasRedisServer)('Redis outage', () => {
  const servers: RunningRedis[] = [];
  const privateRedis = async () => {
    const server = await startRedisServer();
    servers.push(server);
    return server;
  };
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  for (const [label, connect] of clients) {
    it(`fails open or closed per policy while Redis is down and recovers after restart (${label})`, async () => {
      const server = await privateRedis();
      const { redis, close } = await connect(server.url);
      const { app, limits } = outageApp(redis);
      const http = await listen(app);
      const events = recordEvents(['store-error', 'fallback', 'recovered']);
      try {
        expect((await get(`${http.url}/open`)).status).toBe(200);
        expect((await get(`${http.url}/closed`)).status).toBe(200);

        await server.stop();

        // Fail closed: 503 rate_limit_unavailable with Retry-After, never a 500 or a hang.
        for (let i = 0; i < 3; i++) {
          const res = await get(`${http.url}/closed`);
          expect(res.status).toBe(503);
          expect(res.body.code).toBe('rate_limit_unavailable');
          expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        }
        expect(limits.storeState()).toBe('open');
        // Fail open: still limited, in memory on this instance (3 per window).
        const open = [];
        for (let i = 0; i < 4; i++) open.push((await get(`${http.url}/open`)).status);
        expect(open).toEqual([200, 200, 200, 429]);
        expect(events.seen.some((e) => e.name === 'store-error')).toBe(true);
        expect(events.seen.filter((e) => e.name === 'fallback')).toHaveLength(1);

        await server.start();
        const recovered = await until(
          async () => (await get(`${http.url}/closed`)).status === 200,
          10_000,
        );
        expect(recovered).toBe(true);
        expect(limits.storeState()).toBe('closed');
        expect(events.seen.filter((e) => e.name === 'recovered')).toHaveLength(1);
        // Counting is back in Redis: the fresh server holds the policy's counter again.
        const probe = createClient({ url: server.url });
        await probe.connect();
        const keys = await probe.keys('bulwark:rl:login:*');
        await probe.destroy();
        expect(keys).toEqual(['bulwark:rl:login:ip:127.0.0.1']);
      } finally {
        events.stop();
        await http.close();
        close();
      }
    });
  }

  it('recovers when Redis was already down when the policies were created', async () => {
    const server = await privateRedis();
    // Without an offline queue, commands fail at once while disconnected, so the store's
    // script load at creation fails outright instead of waiting for the connection.
    const client = createClient({
      url: server.url,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: () => 100 },
    });
    client.on('error', () => {});
    await client.connect();
    const redis = client;
    const close = () => void client.destroy();
    await server.stop();
    const { app } = outageApp(redis);
    const http = await listen(app);
    try {
      expect((await get(`${http.url}/closed`)).status).toBe(503);
      await server.start();
      const recovered = await until(
        async () => (await get(`${http.url}/closed`)).status === 200,
        10_000,
      );
      expect(recovered).toBe(true);
    } finally {
      await http.close();
      close();
    }
  });
});
