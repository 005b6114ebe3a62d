// Tests for httpLogger(): one access line per request, with route and trace id, never secrets.
import { execFile } from 'node:child_process';
import { Agent, get as httpGet } from 'node:http';
import { fileURLToPath } from 'node:url';
import { listen } from '@bulwark/test-utils';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { requestContext } from './context.js';
import { errorHandler } from './error-handler.js';
import { httpLogger } from './http-logger.js';
import { captureLogger } from './test-helpers.js';
import type { CreateLoggerOptions, HttpLoggerOptions } from './types.js';

function loggedApp(options: Omit<HttpLoggerOptions, 'logger'> = {}) {
  const capture = captureLogger();
  const app = express();
  app.use(requestContext());
  app.use(httpLogger({ logger: capture.logger, ...options }));
  app.use(express.json());
  app.use((req, _res, next) => {
    if (req.headers['x-test-user'])
      (req as unknown as { auth: unknown }).auth = { sub: 'user-1', tenant: 'acme' };
    next();
  });
  app.post('/devices/:id/commands', (_req, res) => {
    res.status(202).json({ ok: true });
  });
  app.get('/fail', () => {
    throw new Error('x');
  });
  app.get('/healthz', (_req, res) => {
    res.send('ok');
  });
  app.get('/slow', (_req, res) => {
    setTimeout(() => res.send('late'), 200);
  });
  app.use(errorHandler({ logger: capture.logger, logClientErrors: false }));
  return { app, ...capture };
}

const access = (lines: Array<Record<string, unknown>>) =>
  lines.filter((line) => line.message === 'request');

/** Starts a request and closes it from the client side 50 ms later, before any answer. */
async function abandon(url: string): Promise<void> {
  const controller = new AbortController();
  const pending = fetch(url, { signal: controller.signal }).catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 50));
  controller.abort();
  await pending;
}

describe('httpLogger', () => {
  it('writes one line per request with method, route, path, status, duration and trace id', async () => {
    const { app, lines } = loggedApp();
    const res = await request(app).post('/devices/d-42/commands?token=abc').send({ cmd: 'reboot' });
    const [line, ...rest] = access(lines());
    expect(rest).toEqual([]);
    expect(line).toMatchObject({
      level: 'info',
      method: 'POST',
      route: '/devices/:id/commands',
      path: '/devices/d-42/commands',
      status: 202,
      trace_id: res.headers['x-request-id'],
    });
    expect(typeof line!.duration_ms).toBe('number');
    expect(line!.duration_ms as number).toBeGreaterThanOrEqual(0);
  });

  it('logs the full route of a mounted router, also when its handler fails through next(err)', async () => {
    const capture = captureLogger();
    const app = express();
    app.use(httpLogger({ logger: capture.logger }));
    const router = express.Router();
    router.get('/devices/:id', (_req, res) => {
      res.json({ ok: true });
    });
    router.get('/devices/:id/fail', (_req, _res, next) => {
      next(Object.assign(new Error('denied'), { status: 403, expose: true }));
    });
    app.use('/customer', router);
    app.use(errorHandler({ logger: capture.logger, logClientErrors: false }));
    await request(app).get('/customer/devices/d-1').expect(200);
    await request(app).get('/customer/devices/d-1/fail').expect(403);
    expect(access(capture.lines()).map((line) => line.route)).toEqual([
      '/customer/devices/:id',
      '/customer/devices/:id/fail',
    ]);
  });

  it('logs the full route of a mounted sub-app and keeps req.route readable in handlers', async () => {
    const capture = captureLogger();
    const app = express();
    app.use(requestContext());
    app.use(httpLogger({ logger: capture.logger }));
    const v1 = express();
    v1.get('/devices/:id', (req, res) => {
      res.json({ path: req.route?.path });
    });
    v1.get('/devices/:id/fail', (_req, _res, next) => {
      next(Object.assign(new Error('gone'), { status: 410, expose: true }));
    });
    app.use('/v1', v1);
    app.use(errorHandler({ logger: capture.logger, logClientErrors: false }));
    const ok = await request(app).get('/v1/devices/d-1').expect(200);
    expect(ok.body).toEqual({ path: '/devices/:id' });
    await request(app).get('/v1/devices/d-1/fail').expect(410);
    await request(app).get('/v1/unknown').expect(404);
    expect(access(capture.lines()).map((line) => line.route)).toEqual([
      '/v1/devices/:id',
      '/v1/devices/:id/fail',
      null,
    ]);
  });

  it('names the user from the subject that @bulwark/rbac sets on req.auth', async () => {
    const capture = captureLogger();
    const app = express();
    app.use(httpLogger({ logger: capture.logger }));
    app.use((req, _res, next) => {
      (req as unknown as { auth: unknown }).auth = { subject: 'user-7', tenantId: 'acme' };
      next();
    });
    app.get('/me', (_req, res) => {
      res.json({ ok: true });
    });
    await request(app).get('/me').expect(200);
    expect(access(capture.lines())[0]).toMatchObject({ user: 'user-7', tenant: 'acme' });
  });

  it('never logs the body, the query string or auth headers', async () => {
    const { app, raw } = loggedApp();
    await request(app)
      .post('/devices/d-1/commands?api_key=query-secret')
      .set('Authorization', 'Bearer header-secret')
      .set('Cookie', 'sid=cookie-secret')
      .send({ password: 'body-secret', note: 'plain-body-text' });
    const text = raw();
    for (const secret of [
      'query-secret',
      'header-secret',
      'cookie-secret',
      'body-secret',
      'plain-body-text',
    ]) {
      expect(text).not.toContain(secret);
    }
  });

  it('adds user and tenant when an auth middleware set req.auth', async () => {
    const { app, lines } = loggedApp();
    await request(app).post('/devices/d-1/commands').set('X-Test-User', '1').send({});
    expect(access(lines())[0]).toMatchObject({ user: 'user-1', tenant: 'acme' });
  });

  it('logs the client address req.ip names, for each trust proxy setting, on one keep-alive connection', async () => {
    const capture = captureLogger();
    const app = express();
    app.use(httpLogger({ logger: capture.logger }));
    const seen: (string | undefined)[] = [];
    app.get('/ip', (req, res) => {
      seen.push(req.ip);
      res.json({ ok: true });
    });
    const server = await listen(app);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (forwarded?: string) =>
      new Promise<void>((resolve, reject) => {
        httpGet(
          `${server.url}/ip`,
          { agent, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } },
          (res) => {
            res.resume();
            res.on('end', resolve);
          },
        ).on('error', reject);
      });
    const settings: unknown[] = [false, 'loopback', 1, (address: string) => address !== '::1'];
    try {
      for (const setting of settings) {
        app.set('trust proxy', setting);
        for (const forwarded of [undefined, '198.51.100.7', '203.0.113.5, 10.0.0.1', ' , '])
          await get(forwarded);
      }
    } finally {
      agent.destroy();
      await server.close();
    }
    const logged = access(capture.lines()).map((line) => line.ip);
    expect(seen).toHaveLength(16);
    expect(logged).toEqual(seen);
    // Behind a trusted loopback peer the header names the client; untrusted, the peer does.
    expect(seen.slice(0, 4)).toEqual(Array(4).fill('127.0.0.1'));
    expect(seen.slice(4, 8)).toEqual(['127.0.0.1', '198.51.100.7', '10.0.0.1', '127.0.0.1']);
  });

  it('logs 5xx at error and 404 at warn, with a null route when nothing matched', async () => {
    const { app, lines } = loggedApp();
    await request(app).get('/fail');
    await request(app).get('/nope');
    const [fail, missing] = access(lines());
    expect(fail).toMatchObject({ level: 'error', status: 500, route: '/fail' });
    expect(missing).toMatchObject({ level: 'warn', status: 404, route: null, path: '/nope' });
  });

  it('skips requests the skip option names', async () => {
    const { app, lines } = loggedApp({ skip: (req) => req.path === '/healthz' });
    await request(app).get('/healthz');
    expect(access(lines())).toEqual([]);
  });

  it('logs a request the client abandoned, marked aborted', async () => {
    const { app, lines } = loggedApp();
    const server = await listen(app);
    try {
      await abandon(`${server.url}/slow`);
      await expect.poll(() => access(lines())[0]).toMatchObject({ route: '/slow', aborted: true });
    } finally {
      await server.close();
    }
  });

  it("writes errorHandler()'s own line for a request whose access line went out before its handler failed", async () => {
    const capture = captureLogger();
    const app = express();
    app.use(requestContext());
    app.use(httpLogger({ logger: capture.logger }));
    let failed!: () => void;
    const done = new Promise<void>((resolve) => {
      failed = resolve;
    });
    app.get('/slow', (req, _res, next) => {
      req.once('close', () =>
        setTimeout(() => {
          next(Object.assign(new Error('too late'), { status: 409, expose: true }));
          failed();
        }, 20),
      );
    });
    app.use(errorHandler({ logger: capture.logger }));
    const server = await listen(app);
    try {
      await abandon(`${server.url}/slow`);
      await done;
      await expect
        .poll(() => capture.lines().map((line) => line.message))
        .toEqual(['request', 'request rejected']);
      expect(capture.lines()[0]).toMatchObject({ aborted: true, route: '/slow' });
      expect(capture.lines()[1]).toMatchObject({ status: 409, detail: 'too late' });
    } finally {
      await server.close();
    }
  });

  it('hands a rejection to every httpLogger() of the request when it is mounted twice', async () => {
    const first = captureLogger();
    const second = captureLogger();
    const app = express();
    app.use(requestContext());
    app.use(httpLogger({ logger: first.logger }));
    app.use(httpLogger({ logger: second.logger }));
    app.get('/orders/:id', (_req, _res, next) => {
      next(Object.assign(new Error('Not your order.'), { status: 403, expose: true }));
    });
    app.use(errorHandler({ logger: first.logger }));
    await request(app).get('/orders/7').expect(403);
    for (const { lines } of [first, second]) {
      expect(lines()).toEqual([
        expect.objectContaining({ message: 'request', status: 403, detail: 'Not your order.' }),
      ]);
    }
  });

  it('uses a custom message', async () => {
    const { app, lines } = loggedApp({ message: 'http' });
    await request(app).get('/healthz');
    expect(lines().filter((line) => line.message === 'http')).toHaveLength(1);
  });

  it('hands a logger of its own making a line with what the client sent redacted', async () => {
    const seen: Array<Record<string, unknown>> = [];
    const logger = {
      info: (_message: string, meta: Record<string, unknown>) => seen.push(meta),
      warn: () => {},
      error: () => {},
    };
    const app = express();
    app.use(httpLogger({ logger }));
    app.get('/reset/:token', (_req, res) => {
      res.json({ ok: true });
    });
    await request(app)
      .get('/reset/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl')
      .set('User-Agent', 'probe Bearer ua-s3cr3t')
      .expect(200);
    expect(seen).toEqual([
      expect.objectContaining({
        route: '/reset/:token',
        path: '/reset/[REDACTED]',
        user_agent: 'probe Bearer [REDACTED]',
      }),
    ]);
  });

  it('refuses bad options', () => {
    expect(() => httpLogger({ skp: () => true } as never)).toThrow(/Did you mean "skip"\?/);
    expect(() => httpLogger({ skip: 'healthz' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_INVALID_OPTION' }),
    );
    expect(() => httpLogger({ logger: console as never })).not.toThrow();
  });
});

describe('httpLogger access lines', () => {
  /**
   * The same requests through two apps: one whose logger takes access lines directly, and one
   * whose logger has a 'data' listener, so every line goes through winston's own streams.
   */
  async function bothWays(options: Omit<CreateLoggerOptions, 'stream' | 'transports'>) {
    const outputs: string[][] = [];
    for (const watched of [false, true]) {
      const capture = captureLogger(options);
      if (watched) capture.logger.on('data', () => {});
      const app = express();
      app.use(requestContext({ trustInbound: true }));
      app.use(httpLogger({ logger: capture.logger }));
      app.use((req, _res, next) => {
        (req as unknown as { auth: unknown }).auth = { sub: 'user-1', tenant: 'acme' };
        next();
      });
      app.get('/reset/:token', (_req, res) => {
        res.json({ ok: true });
      });
      app.get('/reject', (_req, _res, next) => {
        next(Object.assign(new Error('bad value password=hunter2'), { status: 422, expose: true }));
      });
      app.use(errorHandler({ logger: capture.logger }));
      await request(app)
        .get('/reset/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl?token=abc')
        .set('X-Request-Id', 'token:abc123')
        .set('User-Agent', 'probe Bearer ua-s3cr3t')
        .expect(200);
      await request(app).get('/reject').set('X-Request-Id', 'trace-2').expect(422);
      outputs.push(
        capture
          .raw()
          .split('\n')
          .filter(Boolean)
          .map((line) => line.replace(/("?duration_ms"?[:=])[0-9.e-]+/, '$1 0')),
      );
    }
    return outputs as [string[], string[]];
  }

  it('writes the same lines as winston’s own path, key for key, with what the client sent redacted', async () => {
    const [direct, general] = await bothWays({
      timestamp: false,
      defaultMeta: { service: 'api' },
      redactKeys: ['tenant'],
    });
    expect(direct).toEqual(general);
    expect(direct).toHaveLength(2);
    const [ok, rejected] = direct.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(ok).toEqual({
      level: 'info',
      message: 'request',
      trace_id: 'token:[REDACTED]',
      service: 'api',
      method: 'GET',
      route: '/reset/:token',
      path: '/reset/[REDACTED]',
      status: 200,
      duration_ms: 0,
      bytes: 11,
      ip: expect.any(String),
      user_agent: 'probe Bearer [REDACTED]',
      user: 'user-1',
      tenant: '[REDACTED]',
    });
    expect(rejected).toMatchObject({
      level: 'warn',
      trace_id: 'trace-2',
      status: 422,
      detail: 'bad value password=[REDACTED]',
    });
    expect(direct.join('\n')).not.toMatch(/hunter2|ua-s3cr3t|abc123|eyJzdWIi/);
  });

  it('writes the same pretty lines as winston’s own path', async () => {
    const [direct, general] = await bothWays({ format: 'pretty', timestamp: false });
    expect(direct).toEqual(general);
    expect(direct[0]).toMatch(/^INFO {2}request {2}method=GET route=\/reset\/:token /);
  });

  const FIXTURE = fileURLToPath(new URL('./fixtures/access-exit.ts', import.meta.url));
  const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

  /** Runs the fixture, whose 20 (or `batch`) answers finish in one turn of the event loop. */
  function run(mode: string, batch = 20, throughFifo = false) {
    const args = ['--import', 'tsx', FIXTURE, mode, String(batch)];
    // Node gives a child a socket as stdout; through the shell, the fixture writes to a pipe.
    const [file, argv] = throughFifo
      ? ['sh', ['-c', `${[process.execPath, ...args].map((a) => `'${a}'`).join(' ')} | cat`]]
      : [process.execPath, args];
    return new Promise<{ code: number | null; lines: string[]; stderr: string }>((resolve) => {
      const child = execFile(
        file as string,
        argv as string[],
        { cwd: PACKAGE_DIR, timeout: 45_000, env: { ...process.env, NODE_OPTIONS: '' } },
        (_err, stdout, stderr) =>
          resolve({ code: child.exitCode, lines: stdout.split('\n').filter(Boolean), stderr }),
      );
    });
  }

  it('writes the access lines of one event-loop turn to stdout together, and loses none however the process ends', async () => {
    const modes = ['natural', 'exit', 'fatal', 'crash', 'between'];
    const runs = await Promise.all(modes.map((mode) => run(mode)));
    for (const [i, { code, lines, stderr }] of runs.entries()) {
      const mode = modes[i];
      expect({ mode, code }).toEqual({ mode, code: mode === 'fatal' || mode === 'crash' ? 1 : 0 });
      const access = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(access.filter((line) => line.message === 'request')).toHaveLength(20);
      // Twenty lines, one write.
      expect(stderr).toContain('access writes: 1\n');
      if (mode === 'fatal') {
        expect(access.at(-1)).toMatchObject({ message: 'uncaught exception', level: 'error' });
      }
      if (mode === 'between') {
        // The app's own line, written in the same turn after the last answer, comes after the
        // turn's access lines, and the access lines went out with it.
        expect(access.map((line) => line.message)).toEqual([
          ...Array(20).fill('request'),
          'after the batch',
        ]);
        expect(access.at(-1)).toMatchObject({ level: 'warn', answered: 20 });
      }
    }
  }, 60_000);

  it('writes a turn of access lines to a pipe in atomic writes of at most 4096 bytes, cut at line ends, so workers sharing stdout cannot interleave inside a line', async () => {
    for (const throughFifo of [false, true]) {
      // 300 lines: more than the 256 a turn keeps before making their text.
      const { code, lines, stderr } = await run('natural', 300, throughFifo);
      expect(code).toBe(0);
      const access = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      const requests = access.filter((line) => line.message === 'request');
      expect(requests).toHaveLength(300);
      expect(new Set(requests.map((line) => line.path)).size).toBe(300);
      const writes = Number(/access writes: (\d+)/.exec(stderr)?.[1]);
      const largest = Number(/largest write: (\d+)/.exec(stderr)?.[1]);
      expect(writes, `fifo: ${throughFifo}`).toBeGreaterThan(1);
      expect(largest).toBeGreaterThan(0);
      expect(largest).toBeLessThanOrEqual(4096);
      expect(stderr).toContain('writes cut inside a line: 0\n');
    }
  }, 60_000);
});
