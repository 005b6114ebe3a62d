// Tests for requestContext() and trace id propagation over real HTTP and a real pg query.
import { AsyncResource } from 'node:async_hooks';
import { createServer, type IncomingMessage } from 'node:http';
import { setImmediate as immediate } from 'node:timers/promises';
import { createTestDatabase, listen, requireService, type TestDatabase } from '@bulwark/test-utils';
import express from 'express';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  currentTraceId,
  requestContext,
  runWithTraceId,
  traceIdFromTraceparent,
} from './context.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function echoApp(options?: Parameters<typeof requestContext>[0]) {
  const app = express();
  app.use(requestContext(options));
  app.get('/', (req, res) => {
    res.json({ id: req.id, current: currentTraceId() });
  });
  return app;
}

describe('requestContext ids', () => {
  it('generates a UUID, sets req.id and echoes it in X-Request-Id', async () => {
    const res = await request(echoApp()).get('/');
    expect(res.body.id).toMatch(UUID);
    expect(res.body.current).toBe(res.body.id);
    expect(res.headers['x-request-id']).toBe(res.body.id);
  });

  it('accepts a safe inbound X-Request-Id', async () => {
    const id = 'edge-01:req.42_A-b';
    const res = await request(echoApp()).get('/').set('X-Request-Id', id);
    expect(res.body.id).toBe(id);
    expect(res.headers['x-request-id']).toBe(id);
  });

  it('accepts an inbound id of exactly 128 characters and refuses 129', async () => {
    const ok = 'a'.repeat(128);
    expect((await request(echoApp()).get('/').set('X-Request-Id', ok)).body.id).toBe(ok);
    const long = 'a'.repeat(129);
    const res = await request(echoApp()).get('/').set('X-Request-Id', long);
    expect(res.body.id).toMatch(UUID);
  });

  it('refuses inbound ids with characters that could forge log lines or markup', async () => {
    for (const bad of ['a b', 'x"}{"level":"error', '<script>', 'id%0d%0a', 'é', '']) {
      const res = await request(echoApp()).get('/').set('X-Request-Id', bad);
      expect(res.body.id).toMatch(UUID);
      expect(res.headers['x-request-id']).toBe(res.body.id);
    }
  });

  it('uses the trace id of a valid traceparent when there is no inbound id', async () => {
    const res = await request(echoApp()).get('/').set('traceparent', TRACEPARENT);
    expect(res.body.id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('prefers a valid X-Request-Id over traceparent', async () => {
    const res = await request(echoApp())
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

  it('reads and writes a custom header', async () => {
    const res = await request(echoApp({ header: 'X-Correlation-Id' }))
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
