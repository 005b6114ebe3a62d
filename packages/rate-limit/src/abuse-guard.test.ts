// abuseGuard bans clients that keep failing, in memory or shared by every instance through Redis.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { listen, redisPrefix, requireService, SERVICES } from '@bulwark/test-utils';
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

/** A login that takes a while, as a password hash does, and always fails; counts its runs. */
function slowLoginApp(guard: RequestHandler, runs: { count: number }) {
  const app = express();
  app.use(guard);
  app.post('/login', async (_req, res) => {
    runs.count++;
    await new Promise((resolve) => setTimeout(resolve, 100));
    res.status(401).json({ code: 'unauthorized' });
  });
  app.get('/fine', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(renderError);
  return app;
}

/** Sends `count` login attempts at once, spread over the given servers. */
async function guessInParallel(urls: string[], count: number) {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const res = await fetch(`${urls[i % urls.length]}/login`, {
        method: 'POST',
        signal: AbortSignal.timeout(10_000),
      });
      return { status: res.status, body: (await res.json()) as { code?: string } };
    }),
  );
}

/** Asks until `check` holds or two seconds pass; failures are recorded just after responses. */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 40; i++) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
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

  it('lets no more than `failures` of 200 parallel guesses reach a slow failing login, instead of all of them', async () => {
    const runs = { count: 0 };
    const http = await listen(slowLoginApp(abuseGuard({ failures: 5 }), runs));
    try {
      const responses = await guessInParallel([http.url], 200);
      expect(runs.count).toBeLessThanOrEqual(5);
      expect(responses.filter((r) => r.status === 401)).toHaveLength(runs.count);
      const refused = responses.filter((r) => r.status !== 401);
      expect(refused).toHaveLength(200 - runs.count);
      expect(new Set(refused.map((r) => `${r.status} ${r.body.code}`))).toEqual(
        new Set(['429 client_banned']),
      );
      // The guesses that ran were failures: the key is now banned for banMs.
      expect(
        await eventually(async () => {
          const res = await fetch(`${http.url}/fine`);
          return res.status === 429 && Number(res.headers.get('retry-after')) > 60;
        }),
      ).toBe(true);
    } finally {
      await http.close();
    }
  });

  it('stops counting a request as under way when its client hangs up, so aborted requests do not hold the key back', async () => {
    const app = express();
    let arrived = 0;
    let closed = 0;
    app.use(abuseGuard({ failures: 2 }));
    app.get('/hang', (_req, res) => {
      arrived++;
      res.on('close', () => closed++);
    });
    app.get('/fine', (_req, res) => {
      res.json({ ok: true });
    });
    app.use(renderError);
    const http = await listen(app);
    try {
      const aborts = [new AbortController(), new AbortController()];
      const hanging = aborts.map((abort) =>
        fetch(`${http.url}/hang`, { signal: abort.signal }).catch(() => undefined),
      );
      expect(await eventually(async () => arrived === 2)).toBe(true);
      // Two requests under way use up a budget of two: a third is refused while they run.
      const third = await fetch(`${http.url}/fine`);
      expect(third.status).toBe(429);
      expect(third.headers.get('retry-after')).toBe('1');
      for (const abort of aborts) abort.abort();
      await Promise.all(hanging);
      expect(await eventually(async () => closed === 2)).toBe(true);
      expect(await eventually(async () => (await fetch(`${http.url}/fine`)).status === 200)).toBe(
        true,
      );
      // Nothing was left counted: two requests at once are admitted again.
      const [one, two] = await Promise.all([fetch(`${http.url}/fine`), fetch(`${http.url}/fine`)]);
      expect([one?.status, two?.status]).toEqual([200, 200]);
    } finally {
      await http.close();
    }
  });

  it('refuses in production requests whose X-Forwarded-For Express ignores, instead of banning every client behind the proxy for one client’s failures', async () => {
    const before = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      const warnings: string[] = [];
      const app = appWith(
        abuseGuard({ failures: 2, logger: { warn: (message) => warnings.push(message) } }),
      );
      for (let i = 0; i < 3; i++) {
        const probe = await request(app).get('/private').set('X-Forwarded-For', '198.51.100.66');
        expect(probe.status).toBe(500);
        expect(probe.body.code).toBe('ERR_BULWARK_RATE_LIMIT_FORWARDED_IGNORED');
      }
      const innocent = await request(app).get('/fine').set('X-Forwarded-For', '198.51.100.7');
      expect(innocent.status).toBe(500);
      expect(innocent.headers['retry-after']).toBeUndefined();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('an abuseGuard ban of one bans them all');
    } finally {
      process.env.NODE_ENV = before;
    }
  });

  it('refuses bad options with stable codes', () => {
    expect(() => abuseGuard({ forwardedHeaders: 'off' } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RATE_LIMIT_FORWARDED_HEADERS' }),
    );
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
  const parallelPrefix = redisPrefix('abuse-parallel');

  beforeAll(async () => {
    nodeRedis.on('error', () => {});
    await Promise.all([nodeRedis.connect(), ioredis.connect()]);
  });

  afterAll(async () => {
    for (const used of [prefix, parallelPrefix]) {
      const keys = await nodeRedis.keys(`${used}*`);
      if (keys.length > 0) await nodeRedis.del(keys);
    }
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
  it('lets no more than `failures` parallel guesses spread over two instances reach a slow failing login', async () => {
    const runs = { count: 0 };
    const options = {
      redis: nodeRedis,
      prefix: parallelPrefix,
      defaults: { storeTimeoutMs: 2_000 },
    };
    const one = await listen(
      slowLoginApp(createRateLimits(options).abuseGuard({ failures: 5 }), runs),
    );
    const two = await listen(
      slowLoginApp(
        createRateLimits({ ...options, redis: ioredis }).abuseGuard({ failures: 5 }),
        runs,
      ),
    );
    try {
      const responses = await guessInParallel([one.url, two.url], 100);
      expect(runs.count).toBeLessThanOrEqual(5);
      expect(responses.filter((r) => r.status === 401)).toHaveLength(runs.count);
      expect(
        responses.filter((r) => r.status === 429 && r.body.code === 'client_banned'),
      ).toHaveLength(100 - runs.count);
      // The guesses that ran were failures: the key is banned on both instances.
      expect(await eventually(async () => (await fetch(`${two.url}/fine`)).status === 429)).toBe(
        true,
      );
      expect((await fetch(`${one.url}/fine`)).status).toBe(429);
      // Every refused request was taken back from the shared count, which the ban then cleared.
      const attemptsKey = `${parallelPrefix}abuse-guard:attempts:ip:127.0.0.1`;
      expect(Number((await nodeRedis.get(attemptsKey)) ?? 0)).toBe(0);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });
});
