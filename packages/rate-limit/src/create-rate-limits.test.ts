// createRateLimits against the real Redis: shared counters, presets, exact admission, both clients.
import { listen, redisPrefix, requireService, SERVICES } from '@bulwark/test-utils';
import express, { type ErrorRequestHandler, type Request, type RequestHandler } from 'express';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimits } from './create-rate-limits.js';
import { RateLimitConfigError } from './errors.js';

const hasRedis = await requireService('redis');
/** A generous store timeout: these tests are about counting, on a machine that may be busy. */
const shared = { storeTimeoutMs: 2_000 };

const renderError: ErrorRequestHandler = (err, _req, res, _next) => {
  res.set(err.headers ?? {});
  res.status(err.status ?? 500).json({ code: err.code });
};

function appWith(...handlers: RequestHandler[]) {
  const app = express();
  app.use(express.json());
  app.use((req, _res, next) => {
    const who = req.get('x-who');
    if (who) (req as Request & { auth?: unknown }).auth = JSON.parse(who);
    next();
  });
  app.use(...handlers);
  app.all('/{*path}', (req, res) => {
    res.status(Number(req.query.status ?? 200)).json({ ok: true });
  });
  app.use(renderError);
  return app;
}

describe.runIf(hasRedis)('createRateLimits with Redis', () => {
  const nodeRedis = createClient({ url: SERVICES.redis.url });
  const ioredis = new Redis(SERVICES.redis.url, { lazyConnect: true });
  const prefixes: string[] = [];
  const prefix = (label: string) => {
    const value = redisPrefix(label);
    prefixes.push(value);
    return value;
  };

  beforeAll(async () => {
    nodeRedis.on('error', () => {});
    await Promise.all([nodeRedis.connect(), ioredis.connect()]);
  });

  afterAll(async () => {
    for (const p of prefixes) {
      const keys = await nodeRedis.keys(`${p}*`);
      if (keys.length > 0) await nodeRedis.del(keys);
    }
    await Promise.all([nodeRedis.quit(), ioredis.quit()]);
  });

  it('answers the 6th export within a minute with 429 and the rate-limit headers (node-redis)', async () => {
    const limits = createRateLimits({ redis: nodeRedis, prefix: prefix('seed'), defaults: shared });
    const app = appWith(limits.policy('telemetry-export', { limit: 5, windowMs: 60_000 }));
    for (let i = 0; i < 5; i++) expect((await request(app).get('/export')).status).toBe(200);
    const res = await request(app).get('/export');
    expect(res.status).toBe(429);
    expect(res.body.code).toBe('rate_limited');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.headers['x-ratelimit-limit']).toBe('5');
    expect(res.headers['x-ratelimit-remaining']).toBe('0');
    expect(res.headers['x-ratelimit-reset']).toMatch(/^\d+$/);
    expect(res.headers.ratelimit).toMatch(/^"telemetry-export"; r=0; t=\d+$/);
    expect(res.headers['ratelimit-policy']).toBe('"telemetry-export"; q=5; w=60');
  });

  it('stores counters under <prefix><policy>:<key> in Redis (ioredis)', async () => {
    const p = prefix('layout');
    const limits = createRateLimits({ redis: ioredis, prefix: p, defaults: shared });
    const app = appWith(limits.policy('reports', { limit: 3 }));
    await request(app).get('/');
    await request(app).get('/');
    expect(await ioredis.get(`${p}reports:ip:127.0.0.1`)).toBe('2');
    const ttl = await ioredis.pttl(`${p}reports:ip:127.0.0.1`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('admits exactly `limit` requests for one key across two apps sharing Redis under concurrent load', async () => {
    const p = prefix('concurrency');
    const limit = 20;
    // One app on node-redis, one on ioredis: both clients must share the same counters.
    const policy = {
      limit,
      windowMs: 60_000,
      onStoreError: 'deny' as const,
      storeTimeoutMs: 5_000,
    };
    const a = await listen(
      appWith(
        createRateLimits({ redis: nodeRedis, prefix: p, defaults: shared }).policy('burst', policy),
      ),
    );
    const b = await listen(
      appWith(
        createRateLimits({ redis: ioredis, prefix: p, defaults: shared }).policy('burst', policy),
      ),
    );
    try {
      const statuses = await Promise.all(
        Array.from({ length: 80 }, (_, i) =>
          fetch(`${i % 2 ? a.url : b.url}/`).then((r) => r.status),
        ),
      );
      expect(statuses.filter((s) => s === 200)).toHaveLength(limit);
      expect(statuses.filter((s) => s === 429)).toHaveLength(80 - limit);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('shares counters between instances, so a second app sees the first app’s hits', async () => {
    const p = prefix('shared');
    const one = appWith(
      createRateLimits({ redis: nodeRedis, prefix: p, defaults: shared }).policy('quota', {
        limit: 2,
        key: 'tenant',
      }),
    );
    const two = appWith(
      createRateLimits({ redis: ioredis, prefix: p, defaults: shared }).policy('quota', {
        limit: 2,
        key: 'tenant',
      }),
    );
    const acme = JSON.stringify({ subject: 'u1', tenantId: 'acme' });
    expect((await request(one).get('/').set('x-who', acme)).status).toBe(200);
    expect((await request(two).get('/').set('x-who', acme)).status).toBe(200);
    expect((await request(one).get('/').set('x-who', acme)).status).toBe(429);
    expect(
      (
        await request(two)
          .get('/')
          .set('x-who', JSON.stringify({ tenantId: 'other' }))
      ).status,
    ).toBe(200);
  });

  it('ignores a spoofed X-Forwarded-For unless the proxy is trusted', async () => {
    const limits = createRateLimits({
      redis: nodeRedis,
      prefix: prefix('spoof'),
      defaults: shared,
    });
    const direct = appWith(limits.policy('direct', { limit: 1 }));
    expect((await request(direct).get('/').set('X-Forwarded-For', '198.51.100.1')).status).toBe(
      200,
    );
    expect((await request(direct).get('/').set('X-Forwarded-For', '198.51.100.2')).status).toBe(
      429,
    );
    const proxied = appWith(limits.policy('proxied', { limit: 1 }));
    proxied.set('trust proxy', 1);
    expect((await request(proxied).get('/').set('X-Forwarded-For', '198.51.100.1')).status).toBe(
      200,
    );
    expect((await request(proxied).get('/').set('X-Forwarded-For', '198.51.100.2')).status).toBe(
      200,
    );
    expect(
      (await request(proxied).get('/').set('X-Forwarded-For', '6.6.6.6, 198.51.100.2')).status,
    ).toBe(429);
  });

  it('never lets two policies of a set share counters or a name', () => {
    const limits = createRateLimits({
      redis: nodeRedis,
      prefix: prefix('names'),
      defaults: shared,
    });
    limits.heavy({ name: 'telemetry-export' });
    expect(() => limits.heavy({ name: 'telemetry-export' })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RATE_LIMIT_DUPLICATE_NAME' }),
    );
    limits.heavy();
    expect(() => limits.heavy()).toThrow(/already exists/);
    expect(() => limits.policy('global')).not.toThrow();
    expect(() => limits.global()).toThrow(RateLimitConfigError);
  });

  it('limits heavy routes per tenant, 5 per minute by default', async () => {
    const limits = createRateLimits({ redis: ioredis, prefix: prefix('heavy'), defaults: shared });
    const app = appWith(limits.heavy({ name: 'export' }));
    const acme = JSON.stringify({ tenantId: 'acme', subject: 'a' });
    const acmeOther = JSON.stringify({ tenantId: 'acme', subject: 'b' });
    for (let i = 0; i < 5; i++)
      expect(
        (
          await request(app)
            .get('/')
            .set('x-who', i % 2 ? acme : acmeOther)
        ).status,
      ).toBe(200);
    expect((await request(app).get('/').set('x-who', acme)).status).toBe(429);
    expect(
      (
        await request(app)
          .get('/')
          .set('x-who', JSON.stringify({ tenantId: 'globex' }))
      ).status,
    ).toBe(200);
  });

  it('limits mutations per user and leaves reads alone', async () => {
    const limits = createRateLimits({
      redis: nodeRedis,
      prefix: prefix('mutations'),
      defaults: shared,
    });
    const app = appWith(limits.mutations({ limit: 2 }));
    const alice = JSON.stringify({ subject: 'alice' });
    expect((await request(app).post('/').set('x-who', alice)).status).toBe(200);
    expect((await request(app).delete('/').set('x-who', alice)).status).toBe(200);
    expect((await request(app).get('/').set('x-who', alice)).status).toBe(200);
    expect((await request(app).patch('/').set('x-who', alice)).status).toBe(429);
    expect(
      (
        await request(app)
          .put('/')
          .set('x-who', JSON.stringify({ subject: 'bob' }))
      ).status,
    ).toBe(200);
  });

  it('counts only failed logins per address and account in the auth preset', async () => {
    const limits = createRateLimits({ redis: nodeRedis, prefix: prefix('auth'), defaults: shared });
    const app = appWith(limits.auth({ limit: 3 }));
    const login = (username: string, status: number) =>
      request(app).post(`/login?status=${status}`).send({ username, password: 'x' });
    for (let i = 0; i < 5; i++) expect((await login('alice@example.com', 200)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await login('Alice@Example.com', 401)).status).toBe(401);
    expect((await login('alice@example.com', 200)).status).toBe(429);
    // Another account from the same address has its own counter.
    expect((await login('bob@example.com', 401)).status).toBe(401);
    const keys = await nodeRedis.keys(`${prefixes.at(-1)}*`);
    expect(keys.join(' ')).not.toContain('alice');
  });

  it('applies the set’s defaults to every policy unless the policy overrides them', async () => {
    const limits = createRateLimits({
      redis: ioredis,
      prefix: prefix('defaults'),
      defaults: { limit: 1, key: 'user', storeTimeoutMs: 2_000 },
    });
    const app = appWith(limits.policy('a'), limits.policy('b', { limit: 5 }));
    const alice = JSON.stringify({ subject: 'alice' });
    expect((await request(app).get('/').set('x-who', alice)).status).toBe(200);
    const second = await request(app).get('/').set('x-who', alice);
    expect(second.status).toBe(429);
    expect(second.headers.ratelimit).toContain('"a"; r=0');
  });

  it('turns every policy off with enabled: false', async () => {
    const limits = createRateLimits({
      redis: nodeRedis,
      prefix: prefix('off'),
      enabled: false,
      defaults: shared,
    });
    const app = appWith(limits.policy('nothing', { limit: 0 }));
    expect((await request(app).get('/')).status).toBe(200);
  });
});

describe('createRateLimits configuration', () => {
  it('refuses something that is not a Redis client', () => {
    expect(() => createRateLimits({ redis: { get() {} } as never })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RATE_LIMIT_REDIS' }),
    );
  });

  it('refuses unknown options, also inside defaults', () => {
    expect(() => createRateLimits({ prefx: 'a' } as never)).toThrow('Did you mean `prefix`?');
    expect(() => createRateLimits({ defaults: { limt: 5 } as never })).toThrow(
      'Did you mean `limit`?',
    );
    expect(() => createRateLimits({ defaults: { name: 'x' } as never })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RATE_LIMIT_UNKNOWN_OPTION' }),
    );
  });

  it('refuses a prefix with spaces', () => {
    expect(() => createRateLimits({ prefix: 'my app' })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RATE_LIMIT_PREFIX' }),
    );
  });

  it('hands forwardedHeaders from defaults to every policy and to the abuse guard', async () => {
    const before = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      const direct = createRateLimits({ defaults: { forwardedHeaders: 'ignore' } });
      const app = appWith(direct.abuseGuard(), direct.global());
      const res = await request(app).get('/').set('X-Forwarded-For', '198.51.100.1');
      expect(res.status).toBe(200);
      const checked = createRateLimits();
      const strict = appWith(checked.abuseGuard(), checked.global());
      const refused = await request(strict).get('/').set('X-Forwarded-For', '198.51.100.1');
      expect(refused.status).toBe(500);
      expect(refused.body.code).toBe('ERR_BULWARK_RATE_LIMIT_FORWARDED_IGNORED');
    } finally {
      process.env.NODE_ENV = before;
    }
  });

  it('counts in memory on this instance when no Redis is given', async () => {
    const limits = createRateLimits();
    const app = appWith(limits.global({ limit: 1 }));
    expect((await request(app).get('/')).status).toBe(200);
    expect((await request(app).get('/')).status).toBe(429);
  });
});
