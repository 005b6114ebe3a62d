// rateLimit over real HTTP with the default memory store: limits, headers, keys, proxies, options.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import express, { type ErrorRequestHandler, type Request } from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { abuseGuard } from './abuse-guard.js';
import { RateLimitConfigError } from './errors.js';
import type { LimitedEvent } from './events.js';
import { type RateLimitOptions, rateLimit } from './rate-limit.js';

/** Renders the http-errors shape the way an error handler would: status, code and headers. */
const renderError: ErrorRequestHandler = (err, _req, res, _next) => {
  res.set(err.headers ?? {});
  res
    .status(err.status ?? 500)
    .json({ code: err.code, message: err.expose ? err.message : 'Internal error' });
};

function appWith(options: RateLimitOptions, setup?: (app: express.Express) => void) {
  const app = express();
  setup?.(app);
  app.use(express.json());
  app.use(rateLimit(options));
  app.all('/{*path}', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(renderError);
  return app;
}

const originalEnv = { ...process.env };
afterEach(() => {
  process.env.NODE_ENV = originalEnv.NODE_ENV;
  if (originalEnv.RATE_LIMIT_ENABLED === undefined) delete process.env.RATE_LIMIT_ENABLED;
  else process.env.RATE_LIMIT_ENABLED = originalEnv.RATE_LIMIT_ENABLED;
});

describe('rateLimit', () => {
  it('answers the 6th call to a 5-per-minute policy with 429 rate_limited and every rate-limit header', async () => {
    const app = appWith({ name: 'telemetry-export', limit: 5, windowMs: 60_000 });
    for (let i = 1; i <= 5; i++) {
      const ok = await request(app).get('/export');
      expect(ok.status).toBe(200);
      expect(ok.headers['x-ratelimit-limit']).toBe('5');
      expect(ok.headers['x-ratelimit-remaining']).toBe(String(5 - i));
      expect(ok.headers.ratelimit).toMatch(new RegExp(`^"telemetry-export"; r=${5 - i}; t=\\d+$`));
    }
    const limited = await request(app).get('/export');
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(limited.headers['x-ratelimit-limit']).toBe('5');
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    expect(Number(limited.headers['x-ratelimit-reset'])).toBeGreaterThan(Date.now() / 1000);
    expect(limited.headers.ratelimit).toMatch(/^"telemetry-export"; r=0; t=\d+$/);
    expect(limited.headers['ratelimit-policy']).toBe('"telemetry-export"; q=5; w=60');
  });

  it('sends no draft 8 partition key, which express-rate-limit makes from an unkeyed hash of the address', async () => {
    const app = express();
    let seen: Record<string, string> = {};
    app.get(
      '/',
      rateLimit({ name: 'outer', limit: 5 }),
      rateLimit({ name: 'inner', limit: 1, key: () => 'device-7' }),
      (_req, res) => {
        res.send('ok');
      },
    );
    app.use(((err, _req, res, _next) => {
      seen = err.headers;
      res.status(err.status).end();
    }) as ErrorRequestHandler);
    const ok = await request(app).get('/');
    expect(ok.headers['ratelimit-policy']).toBe('"outer"; q=5; w=60, "inner"; q=1; w=60');
    const limited = await request(app).get('/');
    expect(limited.status).toBe(429);
    expect(limited.headers['ratelimit-policy']).toBe('"outer"; q=5; w=60, "inner"; q=1; w=60');
    expect(seen['RateLimit-Policy']).toBe('"outer"; q=5; w=60, "inner"; q=1; w=60');
  });

  it('adds no RateLimit entry for a policy that skips the request, even after another policy counted it', async () => {
    const app = express();
    app.all(
      '/',
      rateLimit({ name: 'outer', limit: 5 }),
      rateLimit({ name: 'writes', limit: 1, methods: ['POST'] }),
      (_req, res) => {
        res.send('ok');
      },
    );
    const read = await request(app).get('/');
    expect(read.headers.ratelimit).toBe('"outer"; r=4; t=60');
    expect(read.headers['ratelimit-policy']).toBe('"outer"; q=5; w=60');
    const write = await request(app).post('/');
    expect(write.headers.ratelimit).toBe('"outer"; r=3; t=60, "writes"; r=0; t=60');
  });

  it('hands the 429 to next() with the headers on the error, so any error handler can send them', async () => {
    const app = express();
    app.use(rateLimit({ name: 'once', limit: 1 }));
    app.get('/', (_req, res) => {
      res.send('ok');
    });
    let seen: {
      status?: number;
      code?: string;
      expose?: boolean;
      headers?: Record<string, string>;
    } = {};
    app.use(((err, _req, res, _next) => {
      seen = err;
      res.status(err.status).end();
    }) as ErrorRequestHandler);
    await request(app).get('/');
    await request(app).get('/');
    expect(seen.status).toBe(429);
    expect(seen.code).toBe('rate_limited');
    expect(seen.expose).toBe(true);
    expect(Object.keys(seen.headers ?? {}).sort()).toEqual(
      [
        'RateLimit',
        'RateLimit-Policy',
        'Retry-After',
        'X-RateLimit-Limit',
        'X-RateLimit-Remaining',
        'X-RateLimit-Reset',
      ].sort(),
    );
  });

  it('still answers 429 with Retry-After through Express’s default error handler', async () => {
    const app = express();
    app.use(rateLimit({ name: 'plain', limit: 0 }));
    app.get('/', (_req, res) => {
      res.send('ok');
    });
    const res = await request(app).get('/');
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBeDefined();
    expect(res.text).not.toMatch(/at .*\.js/);
  });

  it('sends no rate-limit headers when both sets are off, and still says when to retry on a 429', async () => {
    const app = appWith({ name: 'quiet', limit: 1, standardHeaders: false, legacyHeaders: false });
    const ok = await request(app).get('/');
    expect(ok.status).toBe(200);
    expect(Object.keys(ok.headers).filter((name) => name.includes('ratelimit'))).toEqual([]);
    const limited = await request(app).get('/');
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('rate_limited');
    expect(Object.keys(limited.headers).filter((name) => name.includes('ratelimit'))).toEqual([]);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
  });

  it('sends the draft 7 headers when asked, without the legacy ones', async () => {
    const app = appWith({
      name: 'draft7',
      limit: 3,
      windowMs: 30_000,
      standardHeaders: 'draft-7',
      legacyHeaders: false,
    });
    const ok = await request(app).get('/');
    expect(ok.headers.ratelimit).toMatch(/^limit=3, remaining=2, reset=\d+$/);
    expect(ok.headers['ratelimit-policy']).toBe('3;w=30');
    expect(ok.headers['x-ratelimit-limit']).toBeUndefined();
  });

  it('sends the draft 6 headers when asked, and puts them on the 429', async () => {
    const app = appWith({ name: 'draft6', limit: 1, standardHeaders: 'draft-6' });
    const ok = await request(app).get('/');
    expect(ok.headers['ratelimit-limit']).toBe('1');
    expect(ok.headers['ratelimit-remaining']).toBe('0');
    expect(ok.headers['x-ratelimit-limit']).toBe('1');
    const limited = await request(app).get('/');
    expect(limited.status).toBe(429);
    expect(limited.headers['ratelimit-remaining']).toBe('0');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('publishes a limited event with the policy, key type and limit', async () => {
    const events: LimitedEvent[] = [];
    const listener = (message: unknown) => events.push(message as LimitedEvent);
    subscribe('bulwark:rate-limit:limited', listener);
    try {
      const app = appWith({ name: 'evented', limit: 1 });
      await request(app).get('/');
      await request(app).get('/');
    } finally {
      unsubscribe('bulwark:rate-limit:limited', listener);
    }
    expect(events).toEqual([
      { policy: 'evented', keyType: 'ip', key: 'ip:127.0.0.1', limit: 1, windowMs: 60_000 },
    ]);
  });

  it('keeps separate counters for two policies on the same route', async () => {
    const app = express();
    app.use(rateLimit({ name: 'a', limit: 1 }), rateLimit({ name: 'b', limit: 3 }));
    app.get('/', (_req, res) => {
      res.send('ok');
    });
    app.use(renderError);
    const first = await request(app).get('/');
    expect(first.status).toBe(200);
    expect(first.headers.ratelimit).toMatch(/"a"; r=0; t=\d+, "b"; r=2; t=\d+/);
    const second = await request(app).get('/');
    expect(second.status).toBe(429);
  });

  it('takes a per-request limit, e.g. from the caller’s plan', async () => {
    const app = appWith({
      name: 'plans',
      limit: (req: Request) => (req.get('x-plan') === 'pro' ? 3 : 1),
    });
    expect((await request(app).get('/').set('x-plan', 'free')).status).toBe(200);
    expect((await request(app).get('/').set('x-plan', 'free')).status).toBe(429);
    expect((await request(app).get('/').set('x-plan', 'pro')).status).toBe(200);
  });

  it('answers 500 without details when a limit function returns nonsense', async () => {
    const app = appWith({ name: 'broken-limit', limit: () => Number.NaN });
    const res = await request(app).get('/');
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ code: 'ERR_BULWARK_RATE_LIMIT_LIMIT', message: 'Internal error' });
  });

  it('counts only the listed methods', async () => {
    const app = appWith({ name: 'writes', limit: 1, methods: ['POST', 'DELETE'] });
    expect((await request(app).post('/')).status).toBe(200);
    expect((await request(app).get('/')).status).toBe(200);
    expect((await request(app).get('/')).status).toBe(200);
    expect((await request(app).delete('/')).status).toBe(429);
  });

  it('counts HEAD against a GET-only policy, since Express answers HEAD with the GET handler', async () => {
    let runs = 0;
    const app = express();
    app.get('/export', rateLimit({ name: 'export', limit: 2, methods: ['GET'] }), (_req, res) => {
      runs++;
      res.json({ big: 'export' });
    });
    app.use(renderError);
    expect((await request(app).get('/export')).status).toBe(200);
    expect((await request(app).head('/export')).status).toBe(200);
    expect((await request(app).head('/export')).status).toBe(429);
    expect((await request(app).get('/export')).status).toBe(429);
    expect(runs).toBe(2);
  });

  it('counts only failures when successful requests are skipped', async () => {
    const app = express();
    app.use(rateLimit({ name: 'login', limit: 2, skipSuccessfulRequests: true }));
    app.post('/login', (req, res) => {
      res.status(req.query.ok === '1' ? 200 : 401).end();
    });
    app.use(renderError);
    for (let i = 0; i < 5; i++) expect((await request(app).post('/login?ok=1')).status).toBe(200);
    expect((await request(app).post('/login')).status).toBe(401);
    expect((await request(app).post('/login')).status).toBe(401);
    expect((await request(app).post('/login?ok=1')).status).toBe(429);
  });

  it('counts alike whether skip, key and limit answer at once or through a promise', async () => {
    const answers = [
      { skip: () => false, key: () => 'device-7', limit: () => 2 },
      { skip: async () => false, key: async () => 'device-7', limit: async () => 2 },
    ];
    for (const [index, given] of answers.entries()) {
      const app = appWith({ name: `answers-${index}`, ...given });
      for (const remaining of [1, 0]) {
        const ok = await request(app).get('/');
        expect(ok.status).toBe(200);
        expect(ok.headers.ratelimit).toMatch(
          new RegExp(`^"answers-${index}"; r=${remaining}; t=\\d+$`),
        );
      }
      const limited = await request(app).get('/');
      expect(limited.status).toBe(429);
      expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    }
  });

  it('hands an error thrown by a skip or key function to next() as a 500 without details', async () => {
    const failing = () => {
      throw new Error('lookup failed');
    };
    for (const options of [
      { name: 'throwing-skip', skip: failing },
      { name: 'throwing-key', key: failing },
      { name: 'rejecting-key', key: async () => failing() },
    ]) {
      const res = await request(appWith(options)).get('/');
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ message: 'Internal error' });
    }
  });

  it('leaves req.rateLimit as express-rate-limit does, for handlers that read it', async () => {
    const app = express();
    app.use(rateLimit({ name: 'visible', limit: 3 }));
    app.get('/', (req, res) => {
      const info = (req as Request & { rateLimit?: Record<string, unknown> }).rateLimit!;
      res.json({
        fields: Object.keys(info).sort(),
        current: info.current,
        used: info.used,
        remaining: info.remaining,
        key: info.key,
        resets: info.resetTime instanceof Date,
      });
    });
    await request(app).get('/');
    const res = await request(app).get('/');
    expect(res.body).toEqual({
      fields: ['key', 'limit', 'remaining', 'resetTime', 'used'],
      current: 2,
      used: 2,
      remaining: 1,
      key: 'ip:127.0.0.1',
      resets: true,
    });
  });

  it('lets a key be reset, e.g. after a successful login', async () => {
    const limiter = rateLimit({ name: 'resettable', limit: 1 });
    const app = express();
    app.use(limiter);
    app.get('/', (_req, res) => {
      res.send('ok');
    });
    expect((await request(app).get('/')).status).toBe(200);
    expect((await request(app).get('/')).status).toBe(429);
    await limiter.resetKey('ip:127.0.0.1');
    expect((await request(app).get('/')).status).toBe(200);
  });
});

describe('rateLimit keys', () => {
  const withAuth = (auth: unknown) => (app: express.Express) => {
    app.use((req, _res, next) => {
      (req as Request & { auth?: unknown }).auth = req.get('x-who')
        ? JSON.parse(req.get('x-who')!)
        : auth;
      next();
    });
  };

  it('counts per user from req.auth.subject, not per address', async () => {
    const app = appWith({ name: 'per-user', limit: 1, key: 'user' }, withAuth(undefined));
    const alice = JSON.stringify({ subject: 'alice' });
    const bob = JSON.stringify({ subject: 'bob' });
    expect((await request(app).get('/').set('x-who', alice)).status).toBe(200);
    expect((await request(app).get('/').set('x-who', bob)).status).toBe(200);
    expect((await request(app).get('/').set('x-who', alice)).status).toBe(429);
  });

  it('counts per tenant and per API key from req.auth', async () => {
    const tenantApp = appWith({ name: 'per-tenant', limit: 1, key: 'tenant' }, withAuth(undefined));
    const a = JSON.stringify({ subject: 'u1', tenantId: 'acme' });
    const b = JSON.stringify({ subject: 'u2', tenantId: 'acme' });
    expect((await request(tenantApp).get('/').set('x-who', a)).status).toBe(200);
    expect((await request(tenantApp).get('/').set('x-who', b)).status).toBe(429);
    const keyApp = appWith({ name: 'per-api-key', limit: 1, key: 'api-key' }, withAuth(undefined));
    expect(
      (
        await request(keyApp)
          .get('/')
          .set('x-who', JSON.stringify({ apiKeyId: 'k1' }))
      ).status,
    ).toBe(200);
    expect(
      (
        await request(keyApp)
          .get('/')
          .set('x-who', JSON.stringify({ apiKeyId: 'k2' }))
      ).status,
    ).toBe(200);
    expect(
      (
        await request(keyApp)
          .get('/')
          .set('x-who', JSON.stringify({ apiKeyId: 'k1' }))
      ).status,
    ).toBe(429);
  });

  it('falls back to the client address when there is no identity', async () => {
    const limiter = rateLimit({ name: 'fallback-ip', key: 'user' });
    const req = { ip: '::ffff:198.51.100.4', socket: {} } as Request;
    expect(await limiter.keyFor(req)).toBe('ip:198.51.100.4');
    const withSubject = { ip: '198.51.100.4', auth: { subject: 'u-1' } } as unknown as Request;
    expect(await limiter.keyFor(withSubject)).toBe('user:u-1');
  });

  it('resolves keyFor to the key for built-in and custom keys alike', async () => {
    const builtIn = rateLimit({ name: 'promised-ip' }).keyFor({ ip: '198.51.100.4' } as Request);
    const custom = rateLimit({ name: 'promised-custom', key: async () => 'device-7' }).keyFor(
      {} as Request,
    );
    expect(builtIn).toBeInstanceOf(Promise);
    expect(custom).toBeInstanceOf(Promise);
    expect(await builtIn).toBe('ip:198.51.100.4');
    expect(await custom).toBe('custom:device-7');
  });

  it('hashes long identities so keys stay short', async () => {
    const limiter = rateLimit({ name: 'long', key: () => 'x'.repeat(500) });
    const key = await limiter.keyFor({ ip: '198.51.100.4' } as Request);
    expect(key).toMatch(/^custom:h\.[A-Za-z0-9_-]{32}$/);
  });
});

describe('rateLimit behind a proxy', () => {
  it('ignores X-Forwarded-For when the proxy is not trusted, so spoofing does not change the key', async () => {
    const app = appWith({ name: 'no-proxy', limit: 1 });
    expect((await request(app).get('/').set('X-Forwarded-For', '198.51.100.1')).status).toBe(200);
    expect((await request(app).get('/').set('X-Forwarded-For', '198.51.100.2')).status).toBe(429);
  });

  it('keys by the forwarded address when one proxy hop is trusted', async () => {
    const app = appWith({ name: 'one-hop', limit: 1 }, (a) => a.set('trust proxy', 1));
    expect((await request(app).get('/').set('X-Forwarded-For', '198.51.100.1')).status).toBe(200);
    expect((await request(app).get('/').set('X-Forwarded-For', '198.51.100.2')).status).toBe(200);
    expect((await request(app).get('/').set('X-Forwarded-For', '198.51.100.1')).status).toBe(429);
    // A client prepending its own entry cannot get past the one hop the proxy appended.
    expect(
      (await request(app).get('/').set('X-Forwarded-For', '203.0.113.9, 198.51.100.1')).status,
    ).toBe(429);
  });

  it('refuses trust proxy = true at construction in production when given the app', () => {
    process.env.NODE_ENV = 'production';
    const app = express();
    app.set('trust proxy', true);
    expect(() => rateLimit({ name: 'strict', app })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RATE_LIMIT_TRUST_PROXY' }),
    );
    app.set('trust proxy', ['10.0.0.0/8', '0.0.0.0/1', '128.0.0.0/1']);
    expect(() => rateLimit({ name: 'strict-2', app })).toThrow(/trust proxy/);
    app.set('trust proxy', 'loopback, 10.0.0.0/8');
    expect(() => rateLimit({ name: 'strict-3', app })).not.toThrow();
  });

  it('refuses in production trust proxy settings that trust every address without saying true: netmasks, mapped ranges, 100 hops, a function', async () => {
    process.env.NODE_ENV = 'production';
    const settings: [unknown, string][] = [
      ['0.0.0.0/128.0.0.0, 128.0.0.0/128.0.0.0', 'which trusts the public address'],
      ['::ffff:0.0.0.0/97, ::ffff:128.0.0.0/97', 'which trusts the public address'],
      [100, 'a hop count of 100'],
      [() => true, 'a function'],
    ];
    for (const [index, [setting, said]] of settings.entries()) {
      const app = express();
      app.set('trust proxy', setting);
      expect(() => rateLimit({ name: `spoofable-${index}`, app })).toThrow(
        expect.objectContaining({
          code: 'ERR_BULWARK_RATE_LIMIT_TRUST_PROXY',
          message: expect.stringContaining(said),
        }),
      );
      // Without `app`, the first request fails instead of being limited by a forged address.
      const late = appWith({ name: `spoofable-late-${index}` }, (a) =>
        a.set('trust proxy', setting),
      );
      const res = await request(late).get('/').set('X-Forwarded-For', '198.51.100.1');
      expect(res.status).toBe(500);
      expect(res.body.code).toBe('ERR_BULWARK_RATE_LIMIT_TRUST_PROXY');
    }
    for (const setting of [1, 2, 'loopback', (address: string) => address === '10.0.0.2']) {
      const app = express();
      app.set('trust proxy', setting);
      expect(() => rateLimit({ name: 'sane', app })).not.toThrow();
    }
  });

  it('refuses trust proxy = true at the first request in production, without limiting by a spoofed address', async () => {
    process.env.NODE_ENV = 'production';
    const app = appWith({ name: 'late-check' }, (a) => a.set('trust proxy', true));
    const res = await request(app).get('/').set('X-Forwarded-For', '198.51.100.1');
    expect(res.status).toBe(500);
    expect(res.body).toEqual({
      code: 'ERR_BULWARK_RATE_LIMIT_TRUST_PROXY',
      message: 'Internal error',
    });
  });

  it('only warns about trust proxy = true outside production', async () => {
    process.env.NODE_ENV = 'development';
    const warnings: string[] = [];
    const logger = { warn: (message: string) => warnings.push(message) };
    const app = appWith({ name: 'dev-proxy', logger }, (a) => a.set('trust proxy', true));
    expect((await request(app).get('/')).status).toBe(200);
    expect((await request(app).get('/')).status).toBe(200);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/trust proxy/);
  });
});

describe('rateLimit and forwarding headers Express ignores', () => {
  function warningsTo(list: { message: string; meta: unknown }[]) {
    return { warn: (message: string, meta?: unknown) => list.push({ message, meta }) };
  }

  it('warns once, with the fix, when requests carry X-Forwarded-For and trust proxy is unset (regression: every client behind a proxy shared one counter without a word)', async () => {
    process.env.NODE_ENV = 'development';
    const warnings: { message: string; meta: unknown }[] = [];
    const app = appWith({ name: 'behind-proxy', limit: 5, logger: warningsTo(warnings) });
    for (const client of ['198.51.100.1', '198.51.100.2']) {
      const res = await request(app).get('/').set('X-Forwarded-For', client);
      expect(res.status).toBe(200);
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.meta).toEqual({ code: 'ERR_BULWARK_RATE_LIMIT_FORWARDED_IGNORED' });
    expect(warnings[0]?.message).toBe(
      "Requests reach the app from 127.0.0.1 with X-Forwarded-For, but Express 'trust proxy' does not trust 127.0.0.1, so Express ignores it and every client behind it is counted as 127.0.0.1: they share one rate-limit counter, and an abuseGuard ban of one bans them all. " +
        "If 127.0.0.1 is your proxy, trust it: app.set('trust proxy', 'loopback'), or the number of proxies in front of the app, e.g. app.set('trust proxy', 1). " +
        "If clients reach the app directly, these headers are theirs to write: pass forwardedHeaders: 'ignore'. " +
        'In production (NODE_ENV=production) such requests are refused.',
    );
  });

  it('gives one warning per app, however many policies and guards see the header', async () => {
    process.env.NODE_ENV = 'development';
    const warnings: { message: string; meta: unknown }[] = [];
    const logger = warningsTo(warnings);
    const app = express();
    app.use(abuseGuard({ logger }), rateLimit({ name: 'all', logger }));
    app.get('/', rateLimit({ name: 'root', logger }), (_req, res) => {
      res.send('ok');
    });
    for (let i = 0; i < 3; i++) {
      expect((await request(app).get('/').set('X-Real-IP', '198.51.100.1')).status).toBe(200);
    }
    expect(warnings).toHaveLength(1);
  });

  it('refuses in production each request whose X-Forwarded-For, Forwarded or X-Real-IP Express ignores, logging once, and serves the others', async () => {
    process.env.NODE_ENV = 'production';
    const warnings: { message: string; meta: unknown }[] = [];
    const app = appWith({ name: 'prod-proxy', logger: warningsTo(warnings) });
    for (const [header, value] of [
      ['X-Forwarded-For', '198.51.100.1'],
      ['Forwarded', 'for=198.51.100.1;proto=https'],
      ['X-Real-IP', '198.51.100.1'],
    ] as const) {
      const res = await request(app).get('/').set(header, value);
      expect(res.status, header).toBe(500);
      expect(res.body).toEqual({
        code: 'ERR_BULWARK_RATE_LIMIT_FORWARDED_IGNORED',
        message: 'Internal error',
      });
      expect(JSON.stringify(res.headers)).not.toContain('198.51.100.1');
    }
    expect((await request(app).get('/')).status).toBe(200);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(
      /^Requests reach the app from 127\.0\.0\.1 with X-Forwarded-For, /,
    );
    expect(warnings[0]?.message).toMatch(/Such requests are answered 500 until this is fixed\.$/);
    expect(warnings[0]?.message).not.toContain('198.51.100.1');
  });

  it('reports a trusted proxy that sends Forwarded or X-Real-IP but no X-Forwarded-For, the one header Express reads', async () => {
    process.env.NODE_ENV = 'production';
    const warnings: { message: string; meta: unknown }[] = [];
    const app = appWith({ name: 'real-ip', logger: warningsTo(warnings) }, (a) =>
      a.set('trust proxy', 'loopback'),
    );
    const refused = await request(app)
      .get('/')
      .set('X-Real-IP', '198.51.100.1')
      .set('Forwarded', 'for=198.51.100.1');
    expect(refused.status).toBe(500);
    expect(refused.body.code).toBe('ERR_BULWARK_RATE_LIMIT_FORWARDED_IGNORED');
    expect(warnings[0]?.message).toMatch(
      /^Requests from 127\.0\.0\.1, a proxy Express 'trust proxy' trusts, carry Forwarded and X-Real-IP but no X-Forwarded-For, /,
    );
    expect(warnings[0]?.message).toContain(
      'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    );
    const forwarded = await request(app)
      .get('/')
      .set('X-Real-IP', '198.51.100.1')
      .set('X-Forwarded-For', '198.51.100.1');
    expect(forwarded.status).toBe(200);
  });

  it('says nothing when the proxy is trusted and sends X-Forwarded-For', async () => {
    process.env.NODE_ENV = 'production';
    const warnings: { message: string; meta: unknown }[] = [];
    const app = appWith({ name: 'trusted', logger: warningsTo(warnings) }, (a) =>
      a.set('trust proxy', 1),
    );
    const res = await request(app).get('/').set('X-Forwarded-For', '198.51.100.1');
    expect(res.status).toBe(200);
    expect(warnings).toEqual([]);
  });

  it("takes forwardedHeaders: 'ignore' for an app clients reach directly: no warning, no refusal, and the headers still change no key", async () => {
    process.env.NODE_ENV = 'production';
    const warnings: { message: string; meta: unknown }[] = [];
    const app = appWith({
      name: 'direct',
      limit: 1,
      forwardedHeaders: 'ignore',
      logger: warningsTo(warnings),
    });
    expect((await request(app).get('/').set('X-Forwarded-For', '198.51.100.1')).status).toBe(200);
    expect((await request(app).get('/').set('X-Forwarded-For', '198.51.100.2')).status).toBe(429);
    expect(warnings).toEqual([]);
  });
});

describe('rateLimit headers when several policies count a request', () => {
  function stacked(...policies: express.RequestHandler[]) {
    const app = express();
    let errorHeaders: Record<string, string> = {};
    app.get('/', ...policies, (_req, res) => {
      res.send('ok');
    });
    app.use(((err, _req, res, _next) => {
      errorHeaders = err.headers ?? {};
      res.set(errorHeaders);
      res.status(err.status ?? 500).json({ code: err.code });
    }) as ErrorRequestHandler);
    return { app, errorHeaders: () => errorHeaders };
  }

  it('lists a policy that takes back successful requests beside one that counts every request, and waits for the longest on a 429', async () => {
    const { app, errorHeaders } = stacked(
      rateLimit({ name: 'hourly', limit: 2, windowMs: 3_600_000 }),
      rateLimit({ name: 'failures', limit: 5, skipSuccessfulRequests: true }),
    );
    const first = await request(app).get('/');
    expect(first.status).toBe(200);
    expect(first.headers.ratelimit).toMatch(/^"hourly"; r=1; t=\d+, "failures"; r=4; t=\d+$/);
    expect(first.headers['ratelimit-policy']).toBe('"hourly"; q=2; w=3600, "failures"; q=5; w=60');
    expect(first.headers['x-ratelimit-limit']).toBe('2');
    await request(app).get('/');
    const refused = await request(app).get('/');
    expect(refused.status).toBe(429);
    expect(Number(errorHeaders()['Retry-After'])).toBeGreaterThan(3000);
    const reversed = stacked(
      rateLimit({ name: 'failures-first', limit: 5, skipSuccessfulRequests: true }),
      rateLimit({ name: 'hourly-second', limit: 2, windowMs: 3_600_000 }),
    );
    const both = await request(reversed.app).get('/');
    expect(both.headers.ratelimit).toMatch(
      /^"failures-first"; r=4; t=\d+, "hourly-second"; r=1; t=\d+$/,
    );
  });

  it('sends the X-RateLimit-* of the strictest policy, not of the innermost (regression: stacked policies sent only the innermost’s)', async () => {
    const { app } = stacked(
      rateLimit({ name: 'outer', limit: 2 }),
      rateLimit({ name: 'inner', limit: 10 }),
    );
    const res = await request(app).get('/');
    expect(res.status).toBe(200);
    expect(res.headers['x-ratelimit-limit']).toBe('2');
    expect(res.headers['x-ratelimit-remaining']).toBe('1');
    expect(res.headers.ratelimit).toBe('"outer"; r=1; t=60, "inner"; r=9; t=60');
    expect(res.headers['ratelimit-policy']).toBe('"outer"; q=2; w=60, "inner"; q=10; w=60');
  });

  it('lists every policy in draft 6 and 7 RateLimit-Policy and gives the strictest in their one-value headers', async () => {
    const draft7 = stacked(
      rateLimit({ name: 'd7-inner-loose', limit: 10, standardHeaders: 'draft-7' }),
      rateLimit({ name: 'd7-strict', limit: 3, windowMs: 30_000, standardHeaders: 'draft-7' }),
    );
    const seven = await request(draft7.app).get('/');
    expect(seven.headers.ratelimit).toMatch(/^limit=3, remaining=2, reset=(29|30)$/);
    expect(seven.headers['ratelimit-policy']).toBe('10;w=60, 3;w=30');
    const draft6 = stacked(
      rateLimit({ name: 'd6-strict', limit: 2, standardHeaders: 'draft-6' }),
      rateLimit({ name: 'd6-loose', limit: 50, standardHeaders: 'draft-6' }),
    );
    const six = await request(draft6.app).get('/');
    expect(six.headers['ratelimit-limit']).toBe('2');
    expect(six.headers['ratelimit-remaining']).toBe('1');
    expect(six.headers['ratelimit-policy']).toBe('2;w=60, 50;w=60');
  });

  it('breaks a tie in requests left by the policy that resets last', async () => {
    const { app } = stacked(
      rateLimit({ name: 'minute', limit: 5, windowMs: 60_000 }),
      rateLimit({ name: 'hour', limit: 5, windowMs: 3_600_000 }),
    );
    const res = await request(app).get('/');
    expect(res.headers['x-ratelimit-remaining']).toBe('4');
    expect(Number(res.headers['x-ratelimit-reset'])).toBeGreaterThan(Date.now() / 1000 + 3_000);
  });

  it('tells a refused client to wait for the longest policy it used up, not only the one that refused', async () => {
    const { app, errorHeaders } = stacked(
      rateLimit({ name: 'hourly', limit: 2, windowMs: 3_600_000 }),
      rateLimit({ name: 'per-minute', limit: 1, windowMs: 60_000 }),
    );
    expect((await request(app).get('/')).status).toBe(200);
    const refused = await request(app).get('/');
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('rate_limited');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(3_500);
    expect(errorHeaders()['Retry-After']).toBe(refused.headers['retry-after']);
    expect(refused.headers['x-ratelimit-limit']).toBe('2');
    expect(refused.headers['x-ratelimit-remaining']).toBe('0');
    expect(refused.headers.ratelimit).toMatch(/^"hourly"; r=0; t=\d+, "per-minute"; r=0; t=\d+$/);
  });

  it('keeps Retry-After at the refusing policy’s reset when the other policies have requests left', async () => {
    const { app } = stacked(
      rateLimit({ name: 'roomy-hour', limit: 100, windowMs: 3_600_000 }),
      rateLimit({ name: 'tight-minute', limit: 1, windowMs: 60_000 }),
    );
    await request(app).get('/');
    const refused = await request(app).get('/');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
  });
});

describe('rateLimit enabled', () => {
  it('limits nothing when RATE_LIMIT_ENABLED=false at construction', async () => {
    process.env.RATE_LIMIT_ENABLED = 'false';
    const limiter = rateLimit({ name: 'off', limit: 0 });
    expect(limiter.enabled).toBe(false);
    const app = express()
      .use(limiter)
      .get('/', (_req, res) => {
        res.send('ok');
      });
    expect((await request(app).get('/')).status).toBe(200);
  });

  it('is on by default and when the option overrides the environment', () => {
    delete process.env.RATE_LIMIT_ENABLED;
    expect(rateLimit({ name: 'on' }).enabled).toBe(true);
    process.env.RATE_LIMIT_ENABLED = 'false';
    expect(rateLimit({ name: 'forced', enabled: true }).enabled).toBe(true);
  });

  it('warns when a policy is disabled in production', () => {
    process.env.NODE_ENV = 'production';
    process.env.RATE_LIMIT_ENABLED = 'false';
    const warnings: [string, unknown][] = [];
    rateLimit({
      name: 'quiet',
      logger: { warn: (message, meta) => warnings.push([message, meta]) },
    });
    expect(warnings).toEqual([
      [
        "rate-limit policy 'quiet' is disabled in production",
        { code: 'BULWARK_RATE_LIMIT_DISABLED', policy: 'quiet' },
      ],
    ]);
  });

  it('refuses a RATE_LIMIT_ENABLED value it cannot read instead of guessing', () => {
    process.env.RATE_LIMIT_ENABLED = 'flase';
    expect(() => rateLimit({ name: 'typo' })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RATE_LIMIT_ENABLED' }),
    );
  });
});

describe('rateLimit configuration', () => {
  const cases: [string, unknown, string][] = [
    ['a missing name', {}, 'ERR_BULWARK_RATE_LIMIT_NAME'],
    ['a name with a colon', { name: 'a:b' }, 'ERR_BULWARK_RATE_LIMIT_NAME'],
    ['a negative window', { name: 'x', windowMs: -1 }, 'ERR_BULWARK_RATE_LIMIT_WINDOW'],
    ['a fractional limit', { name: 'x', limit: 1.5 }, 'ERR_BULWARK_RATE_LIMIT_LIMIT'],
    ['an unknown key', { name: 'x', key: 'email' }, 'ERR_BULWARK_RATE_LIMIT_KEY'],
    [
      'an IPv6 subnet over 128',
      { name: 'x', ipv6Subnet: 129 },
      'ERR_BULWARK_RATE_LIMIT_IPV6_SUBNET',
    ],
    [
      'an unknown outage policy',
      { name: 'x', onStoreError: 'ignore' },
      'ERR_BULWARK_RATE_LIMIT_ON_STORE_ERROR',
    ],
    [
      'a zero store timeout',
      { name: 'x', storeTimeoutMs: 0 },
      'ERR_BULWARK_RATE_LIMIT_STORE_TIMEOUT',
    ],
    ['a bad breaker', { name: 'x', breaker: { failures: 0 } }, 'ERR_BULWARK_RATE_LIMIT_BREAKER'],
    ['a store without increment', { name: 'x', store: {} }, 'ERR_BULWARK_RATE_LIMIT_STORE'],
    ['an empty methods list', { name: 'x', methods: [] }, 'ERR_BULWARK_RATE_LIMIT_METHODS'],
    [
      'skipping both outcomes',
      { name: 'x', skipSuccessfulRequests: true, skipFailedRequests: true },
      'ERR_BULWARK_RATE_LIMIT_SKIP',
    ],
    ['a logger without warn', { name: 'x', logger: {} }, 'ERR_BULWARK_RATE_LIMIT_LOGGER'],
    ['a non-boolean enabled', { name: 'x', enabled: 'yes' }, 'ERR_BULWARK_RATE_LIMIT_ENABLED'],
    [
      'standardHeaders: true',
      { name: 'x', standardHeaders: true },
      'ERR_BULWARK_RATE_LIMIT_HEADERS',
    ],
    [
      'an unknown header draft',
      { name: 'x', standardHeaders: 'draft-9' },
      'ERR_BULWARK_RATE_LIMIT_HEADERS',
    ],
    [
      'a non-boolean legacyHeaders',
      { name: 'x', legacyHeaders: 'no' },
      'ERR_BULWARK_RATE_LIMIT_HEADERS',
    ],
    [
      'an unknown forwardedHeaders mode',
      { name: 'x', forwardedHeaders: 'trust' },
      'ERR_BULWARK_RATE_LIMIT_FORWARDED_HEADERS',
    ],
  ];
  for (const [what, options, code] of cases) {
    it(`refuses ${what} with ${code}`, () => {
      let thrown: unknown;
      try {
        rateLimit(options as RateLimitOptions);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(RateLimitConfigError);
      expect((thrown as RateLimitConfigError).code).toBe(code);
    });
  }

  it('quotes the bad value and names the fix', () => {
    expect(() => rateLimit({ name: 'x', windowMs: -1 })).toThrow(
      'rateLimit: windowMs: -1 is not valid. Use a positive whole number up to 2147483647, such as 60_000.',
    );
  });

  it('catches a misspelled option with a did-you-mean hint', () => {
    expect(() => rateLimit({ name: 'x', windowMS: 1000 } as unknown as RateLimitOptions)).toThrow(
      'rateLimit: `windowMS` is not an option. Did you mean `windowMs`?',
    );
    expect(() => rateLimit({ name: 'x', max: 10 } as unknown as RateLimitOptions)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RATE_LIMIT_UNKNOWN_OPTION' }),
    );
  });

  it('refuses one store instance for two policies, since a store keeps one window', async () => {
    const { BoundedMemoryStore } = await import('./memory-store.js');
    const store = new BoundedMemoryStore();
    rateLimit({ name: 'first', store });
    expect(() => rateLimit({ name: 'second', store })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RATE_LIMIT_STORE_REUSE' }),
    );
  });

  it('catches app.use(rateLimit) without the call', async () => {
    const app = express();
    app.use(rateLimit as unknown as express.RequestHandler);
    app.get('/', (_req, res) => {
      res.send('ok');
    });
    app.use(renderError);
    const res = await request(app).get('/');
    expect(res.status).toBe(500);
    expect(res.body.code).toBe('ERR_BULWARK_RATE_LIMIT_NOT_CALLED');
  });
});
