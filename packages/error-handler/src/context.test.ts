// Tests for requestContext() and trace id propagation over real HTTP and a real pg query.
import { AsyncResource } from 'node:async_hooks';
import { createServer, type IncomingMessage } from 'node:http';
import { setImmediate as immediate } from 'node:timers/promises';
import { createTestDatabase, listen, requireService, type TestDatabase } from '@bulwark/test-utils';
import express from 'express';
import createError from 'http-errors';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientRequestIdOf,
  currentTraceId,
  requestContext,
  runWithTraceId,
  traceIdFromTraceparent,
} from './context.js';
import { errorHandler } from './error-handler.js';
import { httpLogger } from './http-logger.js';
import { captureLogger } from './test-helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/**
 * An app answering with the request's ids. `trustProxy` is Express's `trust proxy` setting; the
 * tests connect over loopback, so `'loopback'` makes every test request come from a trusted proxy.
 */
function echoApp(options?: Parameters<typeof requestContext>[0], trustProxy?: unknown) {
  const app = express();
  if (trustProxy !== undefined) app.set('trust proxy', trustProxy);
  app.use(requestContext(options));
  app.get('/', (req, res) => {
    res.json({ id: req.id, current: currentTraceId() });
  });
  return app;
}

/** An app behind a proxy on loopback, which Express trusts. */
const proxiedApp = (options?: Parameters<typeof requestContext>[0]) => echoApp(options, 'loopback');

/** The full stack, with its access and error lines kept: requestContext, httpLogger, errorHandler. */
function loggedApp(options?: Parameters<typeof requestContext>[0], trustProxy?: unknown) {
  const capture = captureLogger();
  const app = express();
  if (trustProxy !== undefined) app.set('trust proxy', trustProxy);
  app.use(requestContext(options));
  app.use(httpLogger({ logger: capture.logger }));
  app.get('/ok', (req, res) => {
    capture.logger.info('handled');
    res.json({ id: req.id });
  });
  app.get('/fail', () => {
    throw new Error('database unavailable');
  });
  app.get('/missing', (_req, _res, next) => {
    next(createError(404, 'No such device.', { code: 'device_not_found' }));
  });
  app.get('/slow', (_req, res) => {
    setTimeout(() => res.send('late'), 200);
  });
  app.use(errorHandler({ logger: capture.logger }));
  return { app, ...capture };
}

describe('requestContext ids', () => {
  it('generates a UUID, sets req.id and echoes it in X-Request-Id', async () => {
    const res = await request(echoApp()).get('/');
    expect(res.body.id).toMatch(UUID);
    expect(res.body.current).toBe(res.body.id);
    expect(res.headers['x-request-id']).toBe(res.body.id);
  });

  it('accepts a safe inbound X-Request-Id from a trusted proxy', async () => {
    const id = 'edge-01:req.42_A-b';
    const res = await request(proxiedApp()).get('/').set('X-Request-Id', id);
    expect(res.body.id).toBe(id);
    expect(res.body.current).toBe(id);
    expect(res.headers['x-request-id']).toBe(id);
  });

  it('accepts an inbound id of exactly 128 characters and refuses 129', async () => {
    const ok = 'a'.repeat(128);
    expect((await request(proxiedApp()).get('/').set('X-Request-Id', ok)).body.id).toBe(ok);
    const long = 'a'.repeat(129);
    const res = await request(proxiedApp()).get('/').set('X-Request-Id', long);
    expect(res.body.id).toMatch(UUID);
  });

  it('refuses inbound ids with characters that could forge log lines or markup', async () => {
    for (const bad of ['a b', 'x"}{"level":"error', '<script>', 'id%0d%0a', 'é', '']) {
      const res = await request(proxiedApp()).get('/').set('X-Request-Id', bad);
      expect(res.body.id).toMatch(UUID);
      expect(res.headers['x-request-id']).toBe(res.body.id);
    }
  });

  it('uses the trace id of a valid traceparent when there is no inbound id', async () => {
    const res = await request(proxiedApp()).get('/').set('traceparent', TRACEPARENT);
    expect(res.body.id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('prefers a valid X-Request-Id over traceparent', async () => {
    const res = await request(proxiedApp())
      .get('/')
      .set('traceparent', TRACEPARENT)
      .set('X-Request-Id', 'abc');
    expect(res.body.id).toBe('abc');
  });

  it('ignores invalid traceparent headers', () => {
    expect(traceIdFromTraceparent(TRACEPARENT)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(
      traceIdFromTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'),
    ).toBeUndefined();
    expect(
      traceIdFromTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01'),
    ).toBeUndefined();
    expect(
      traceIdFromTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'),
    ).toBeUndefined();
    expect(
      traceIdFromTraceparent('00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'),
    ).toBeUndefined();
    expect(traceIdFromTraceparent(`${TRACEPARENT}-extra`)).toBeUndefined();
    expect(
      traceIdFromTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future'),
    ).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('always makes its own id when inbound ids are not trusted', async () => {
    const res = await request(echoApp({ trustInbound: false, traceparent: false }))
      .get('/')
      .set('X-Request-Id', 'client-chosen')
      .set('traceparent', TRACEPARENT);
    expect(res.body.id).toMatch(UUID);
  });

  it('makes its own id with trustInbound: false, even behind a trusted proxy', async () => {
    const app = proxiedApp({ trustInbound: false });
    const res = await request(app).get('/').set('X-Request-Id', 'proxy-chosen');
    expect(res.body.id).toMatch(UUID);
    const traced = await request(app).get('/').set('traceparent', TRACEPARENT);
    expect(traced.body.id).toMatch(UUID);
  });

  it('reads and writes a custom header', async () => {
    const res = await request(proxiedApp({ header: 'X-Correlation-Id' }))
      .get('/')
      .set('X-Correlation-Id', 'corr-1');
    expect(res.body.id).toBe('corr-1');
    expect(res.headers['x-correlation-id']).toBe('corr-1');
  });

  it('keeps one id when mounted twice', async () => {
    const app = express();
    const inner = express.Router();
    inner.use(requestContext());
    inner.get('/', (req, res) => {
      res.json({ id: req.id, current: currentTraceId() });
    });
    app.use(requestContext());
    app.use(inner);
    const res = await request(app).get('/');
    expect(res.body.id).toMatch(UUID);
    expect(res.body.current).toBe(res.body.id);
    expect(res.headers['x-request-id']).toBe(res.body.id);
  });

  it('uses a custom generator', async () => {
    let n = 0;
    const res = await request(echoApp({ generate: () => `gen-${++n}` })).get('/');
    expect(res.body.id).toMatch(/^gen-\d+$/);
  });
});

describe('requestContext and untrusted clients', () => {
  it("keeps a direct client's X-Request-Id out of req.id, the response header and trace_id", async () => {
    const { app, lines } = loggedApp();
    const res = await request(app).get('/ok').set('X-Request-Id', 'collide-with-me');
    expect(res.status).toBe(200);
    expect(res.body.id).toMatch(UUID);
    expect(res.headers['x-request-id']).toBe(res.body.id);
    expect(lines().length).toBeGreaterThan(0);
    for (const line of lines()) expect(line.trace_id).toBe(res.body.id);
  });

  it("ignores a direct client's traceparent", async () => {
    const res = await request(echoApp()).get('/').set('traceparent', TRACEPARENT);
    expect(res.body.id).toMatch(UUID);
    expect(res.headers['x-request-id']).toBe(res.body.id);
  });

  it("writes a direct client's safe id as client_request_id in its log, access and error lines", async () => {
    const { app, lines } = loggedApp();
    const ok = await request(app).get('/ok').set('X-Request-Id', 'support-ticket-77');
    const failed = await request(app).get('/fail').set('X-Request-Id', 'support-ticket-78');
    const missing = await request(app).get('/missing').set('X-Request-Id', 'support-ticket-79');
    expect([ok.status, failed.status, missing.status]).toEqual([200, 500, 404]);
    const find = (message: string, traceId: string) =>
      lines().find((line) => line.message === message && line.trace_id === traceId);
    expect(find('handled', ok.body.id)).toMatchObject({ client_request_id: 'support-ticket-77' });
    expect(find('request', ok.body.id)).toMatchObject({
      status: 200,
      client_request_id: 'support-ticket-77',
    });
    expect(find('request failed', failed.body.trace_id)).toMatchObject({
      status: 500,
      client_request_id: 'support-ticket-78',
    });
    expect(find('request', failed.body.trace_id)).toMatchObject({
      status: 500,
      client_request_id: 'support-ticket-78',
    });
    expect(missing.body.trace_id).toMatch(UUID);
    const clientError = lines().find(
      (line) => line.trace_id === missing.body.trace_id && line.code === 'device_not_found',
    );
    expect(clientError).toMatchObject({ client_request_id: 'support-ticket-79' });
    expect(find('request', missing.body.trace_id)).toMatchObject({
      status: 404,
      client_request_id: 'support-ticket-79',
    });
  });

  it('writes client_request_id on the access line of a request the client abandoned', async () => {
    const { app, lines } = loggedApp();
    const server = await listen(app);
    try {
      const controller = new AbortController();
      const pending = fetch(`${server.url}/slow`, {
        signal: controller.signal,
        headers: { 'X-Request-Id': 'support-ticket-81' },
      }).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 50));
      controller.abort();
      await pending;
      await expect
        .poll(() => lines().find((line) => line.message === 'request'))
        .toMatchObject({ aborted: true, client_request_id: 'support-ticket-81' });
    } finally {
      await server.close();
    }
  });

  it('forgets a client id once its response has closed', async () => {
    const seen: Array<string | undefined> = [];
    const app = express();
    app.use(requestContext());
    app.get('/', (req, res) => {
      seen.push(clientRequestIdOf(req.id!));
      res.json({ id: req.id });
    });
    const res = await request(app).get('/').set('X-Request-Id', 'support-ticket-82');
    expect(seen).toEqual(['support-ticket-82']);
    await expect.poll(() => clientRequestIdOf(res.body.id)).toBeUndefined();
  });

  it('never writes an unsafe client id, nor echoes it', async () => {
    const { app, lines, raw } = loggedApp();
    const forged = 'x"}{"level":"error","trace_id":"victim';
    const res = await request(app).get('/ok').set('X-Request-Id', forged);
    expect(res.headers['x-request-id']).toBe(res.body.id);
    expect(raw()).not.toContain('victim');
    for (const line of lines()) expect(line).not.toHaveProperty('client_request_id');
  });

  it('writes no client_request_id when the id was adopted from a trusted proxy', async () => {
    const { app, lines } = loggedApp(undefined, 'loopback');
    const res = await request(app).get('/ok').set('X-Request-Id', 'edge-req-1');
    expect(res.body.id).toBe('edge-req-1');
    expect(res.headers['x-request-id']).toBe('edge-req-1');
    const access = lines().find((line) => line.message === 'request');
    expect(access).toMatchObject({ trace_id: 'edge-req-1', status: 200 });
    for (const line of lines()) expect(line).not.toHaveProperty('client_request_id');
  });

  it('adopts ids from a proxy trusted by hop count, and not from one trust proxy does not name', async () => {
    const byHops = await request(echoApp(undefined, 1)).get('/').set('X-Request-Id', 'hop-1');
    expect(byHops.body.id).toBe('hop-1');
    const elsewhere = await request(echoApp(undefined, '10.0.0.1'))
      .get('/')
      .set('X-Request-Id', 'spoofed')
      .set('X-Forwarded-For', '10.0.0.1');
    expect(elsewhere.body.id).toMatch(UUID);
  });

  it('adopts any client id with trustInbound: true, as before', async () => {
    const { app, lines } = loggedApp({ trustInbound: true });
    const res = await request(app).get('/ok').set('X-Request-Id', 'client-chosen');
    expect(res.body.id).toBe('client-chosen');
    expect(res.headers['x-request-id']).toBe('client-chosen');
    expect(lines().find((line) => line.message === 'request')).toMatchObject({
      trace_id: 'client-chosen',
    });
    const traced = await request(echoApp({ trustInbound: true }))
      .get('/')
      .set('traceparent', TRACEPARENT);
    expect(traced.body.id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('keeps client_request_id when mounted twice', async () => {
    const capture = captureLogger();
    const app = express();
    const inner = express.Router();
    inner.use(requestContext());
    inner.get('/', (req, res) => {
      capture.logger.info('inner');
      res.json({ id: req.id });
    });
    app.use(requestContext());
    app.use(inner);
    const res = await request(app).get('/').set('X-Request-Id', 'support-ticket-80');
    expect(capture.lines()[0]).toMatchObject({
      trace_id: res.body.id,
      client_request_id: 'support-ticket-80',
    });
  });
});

describe('requestContext propagation', () => {
  it('keeps the id across await, timers, setImmediate and event callbacks', async () => {
    const app = express();
    app.use(requestContext());
    app.get('/', async (req, res) => {
      const seen: Record<string, string | undefined> = {};
      await Promise.resolve();
      seen.await = currentTraceId();
      await new Promise((resolve) => setTimeout(resolve, 5));
      seen.timeout = currentTraceId();
      await immediate();
      seen.immediate = currentTraceId();
      seen.interval = await new Promise((resolve) => {
        const timer = setInterval(() => {
          clearInterval(timer);
          resolve(currentTraceId());
        }, 1);
      });
      seen.nextTick = await new Promise((resolve) =>
        process.nextTick(() => resolve(currentTraceId())),
      );
      res.json({ id: req.id, seen });
    });
    const res = await request(app).get('/');
    for (const value of Object.values(res.body.seen)) expect(value).toBe(res.body.id);
  });

  it('keeps concurrent requests apart', async () => {
    const app = express();
    app.set('trust proxy', 'loopback');
    app.use(requestContext());
    app.get('/:n', async (req, res) => {
      await new Promise((resolve) => setTimeout(resolve, (Number(req.params.n) % 4) * 3));
      res.json({ id: req.id, current: currentTraceId() });
    });
    const server = await listen(app);
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, n) =>
          fetch(`${server.url}/${n}`, { headers: { 'X-Request-Id': `req-${n}` } }).then((r) =>
            r.json(),
          ),
        ),
      );
      results.forEach((body, n) => {
        expect(body).toEqual({ id: `req-${n}`, current: `req-${n}` });
      });
    } finally {
      await server.close();
    }
  });

  it('has no id outside a request', () => {
    expect(currentTraceId()).toBeUndefined();
  });

  it('runWithTraceId sets an id for work outside HTTP and refuses unsafe ids', async () => {
    const seen = await runWithTraceId('job-7', async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return currentTraceId();
    });
    expect(seen).toBe('job-7');
    expect(() => runWithTraceId('bad id\n', () => 1)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_INVALID_OPTION' }),
    );
  });
});

const hasPg = await requireService('postgres');

describe.runIf(hasPg)('requestContext with PostgreSQL', () => {
  let db: TestDatabase;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase('error_handler_ctx');
    pool = new pg.Pool({ connectionString: db.url, max: 2, statement_timeout: 200 });
  });

  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  // pg runs query callbacks from its connection's socket events, which belong to whichever
  // request opened the pooled connection; awaiting a promise, or binding the callback, keeps
  // the caller's id.
  it('keeps the id after a real pg query, awaited or with a bound callback', async () => {
    const app = express();
    app.set('trust proxy', 'loopback');
    app.use(requestContext());
    app.get('/', async (req, res) => {
      const { rows } = await pool.query('SELECT 1 AS one');
      const afterPromise = currentTraceId();
      const afterCallback = await new Promise<string | undefined>((resolve, reject) => {
        pool.query(
          'SELECT pg_sleep(0.01)',
          AsyncResource.bind((err: Error | undefined) =>
            err ? reject(err) : resolve(currentTraceId()),
          ),
        );
      });
      res.json({ id: req.id, one: rows[0].one, afterPromise, afterCallback });
    });
    const server = await listen(app);
    try {
      const bodies = await Promise.all(
        ['pg-a', 'pg-b', 'pg-c'].map((id) =>
          fetch(server.url, { headers: { 'X-Request-Id': id } }).then((r) => r.json()),
        ),
      );
      for (const [i, id] of ['pg-a', 'pg-b', 'pg-c'].entries()) {
        expect(bodies[i]).toEqual({ id, one: 1, afterPromise: id, afterCallback: id });
      }
    } finally {
      await server.close();
    }
  });
});

describe('requestContext configuration', () => {
  it('refuses a bad header name', () => {
    expect(() => requestContext({ header: 'X Request Id' })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_HEADER_NAME' }),
    );
  });

  it('refuses a generator whose ids are not safe', () => {
    expect(() => requestContext({ generate: () => 'has space' })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_ID_GENERATOR' }),
    );
  });

  it("refuses a trustInbound other than 'proxy', true or false", () => {
    for (const bad of ['loopback', 'true', 1, null]) {
      expect(() => requestContext({ trustInbound: bad as never })).toThrow(
        expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_INVALID_OPTION' }),
      );
    }
    expect(() => requestContext({ trustInbound: 'loopback' as never })).toThrow(
      /trustInbound: "loopback" is not valid\. Use 'proxy'/,
    );
  });

  it('refuses a misspelled option with a hint', () => {
    expect(() => requestContext({ trustInboud: false } as never)).toThrow(
      /Did you mean "trustInbound"\?/,
    );
  });

  it('refuses being mounted without being called', async () => {
    const req = await new Promise<IncomingMessage>((resolve) => {
      const server = createServer((incoming, res) => {
        resolve(incoming);
        res.end();
        server.close();
      }).listen(0, '127.0.0.1', () => {
        const address = server.address();
        if (typeof address === 'object' && address) void fetch(`http://127.0.0.1:${address.port}/`);
      });
    });
    expect(() => requestContext(req as never)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_NOT_CALLED' }),
    );
  });
});
