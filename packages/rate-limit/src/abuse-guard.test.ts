// abuseGuard bans clients that keep failing, in memory or shared by every instance through Redis.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { redisPrefix, requireService, SERVICES } from '@bulwark/test-utils';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { abuseGuard } from './abuse-guard.js';
import { createRateLimits } from './create-rate-limits.js';
import type { BannedEvent } from './events.js';

const hasRedis = await requireService('redis');

const renderError: ErrorRequestHandler = (err, _req, res, _next) => {
  res.set(err.headers ?? {});
  res.status(err.status ?? 500).json({ code: err.code });
};

function appWith(guard: RequestHandler) {
  const app = express();
  app.use(guard);
  app.get('/private', (_req, res) => {
    res.status(401).json({ code: 'unauthorized' });
  });
  app.get('/forbidden', (_req, res) => {
    res.status(403).end();
  });
  app.get('/fine', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(renderError);
  return app;
}

describe('abuseGuard', () => {
  it('bans a client after repeated 401/403/404 responses and answers 429 client_banned with Retry-After', async () => {
    const events: BannedEvent[] = [];
    const listener = (message: unknown) => events.push(message as BannedEvent);
    subscribe('bulwark:rate-limit:banned', listener);
    try {
      const app = appWith(abuseGuard({ failures: 3, windowMs: 60_000, banMs: 120_000 }));
      expect((await request(app).get('/private')).status).toBe(401);
      expect((await request(app).get('/forbidden')).status).toBe(403);
      expect((await request(app).get('/fine')).status).toBe(200);
      expect((await request(app).get('/missing')).status).toBe(404);
      const banned = await request(app).get('/fine');
      expect(banned.status).toBe(429);
      expect(banned.body.code).toBe('client_banned');
      const retryAfter = Number(banned.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(60);
      expect(retryAfter).toBeLessThanOrEqual(120);
    } finally {
      unsubscribe('bulwark:rate-limit:banned', listener);
    }
    expect(events).toEqual([
      { policy: 'abuse-guard', keyType: 'ip', key: 'ip:127.0.0.1', failures: 3, banMs: 120_000 },
    ]);
  });

  it('does not count successful responses or statuses it was not told about', async () => {
    const app = appWith(abuseGuard({ failures: 2, statuses: [401] }));
    for (let i = 0; i < 5; i++) {
      expect((await request(app).get('/fine')).status).toBe(200);
      expect((await request(app).get('/forbidden')).status).toBe(403);
    }
    expect((await request(app).get('/private')).status).toBe(401);
    expect((await request(app).get('/fine')).status).toBe(200);
  });

  it('lifts a ban on request', async () => {
    const guard = abuseGuard({ failures: 1 });
    const app = appWith(guard);
    await request(app).get('/private');
    expect((await request(app).get('/fine')).status).toBe(429);
    await guard.unban('ip:127.0.0.1');
    expect((await request(app).get('/fine')).status).toBe(200);
  });

  it('refuses bad options with stable codes', () => {
    expect(() => abuseGuard({ statuses: [200] })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RATE_LIMIT_STATUSES' }),
    );
    expect(() => abuseGuard({ failures: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RATE_LIMIT_FAILURES' }),
    );
    expect(() => abuseGuard({ banMs: -5 })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RATE_LIMIT_BAN' }),
    );
    expect(() => abuseGuard({ banTime: 5 } as never)).toThrow('Did you mean `banMs`?');
  });
});

describe.runIf(hasRedis)('abuseGuard through Redis', () => {
  const nodeRedis = createClient({ url: SERVICES.redis.url });
  const ioredis = new Redis(SERVICES.redis.url, { lazyConnect: true });
  const prefix = redisPrefix('abuse');

  beforeAll(async () => {
    nodeRedis.on('error', () => {});
    await Promise.all([nodeRedis.connect(), ioredis.connect()]);
  });

  afterAll(async () => {
    const keys = await nodeRedis.keys(`${prefix}*`);
    if (keys.length > 0) await nodeRedis.del(keys);
    await Promise.all([nodeRedis.quit(), ioredis.quit()]);
  });

  it('shares bans across instances: failures on one app ban the client on another', async () => {
    const one = appWith(
      createRateLimits({
        redis: nodeRedis,
        prefix,
        defaults: { storeTimeoutMs: 2_000 },
      }).abuseGuard({ failures: 2, banMs: 60_000 }),
    );
    const two = appWith(
      createRateLimits({ redis: ioredis, prefix, defaults: { storeTimeoutMs: 2_000 } }).abuseGuard({
        failures: 2,
        banMs: 60_000,
      }),
    );
    expect((await request(one).get('/private')).status).toBe(401);
    expect((await request(two).get('/private')).status).toBe(401);
    // The failure is counted after the response is sent, so the ban lands a moment later.
    let res = await request(one).get('/fine');
    for (let i = 0; i < 40 && res.status !== 429; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      res = await request(one).get('/fine');
    }
    expect(res.status).toBe(429);
    expect(res.body.code).toBe('client_banned');
    expect((await request(two).get('/fine')).status).toBe(429);
    expect(await nodeRedis.pTTL(`${prefix}abuse-guard:bans:ip:127.0.0.1`)).toBeGreaterThan(50_000);
  });
});
