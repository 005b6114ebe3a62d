// Tests for the mount-order check: routes after errorHandler() are refused on Express 4 and 5.
import { createRequire } from 'node:module';
import express5 from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { requestContext } from './context.js';
import { errorHandler, notFound } from './error-handler.js';
import { httpLogger } from './http-logger.js';
import { captureLogger } from './test-helpers.js';

const express4 = createRequire(import.meta.url)('express4') as typeof express5;
const PROBLEM = 'application/problem+json; charset=utf-8';
const DOCS =
  'https://github.com/bulwark-js/bulwark/blob/main/docs/errors/error-handler.md#err_bulwark_errors_handler_not_last';

/** What a route querying a missing table throws: the message names the SQL. */
function sqlFailure(): Error {
  return Object.assign(new Error('relation "orders" does not exist'), {
    code: '42P01',
    position: '15',
  });
}

function misconfigured(line: Record<string, unknown> | undefined) {
  return (line?.err as Record<string, unknown> | undefined) ?? {};
}

describe.each([
  ['Express 5', express5],
  ['Express 4', express4],
])('the mount-order check on %s', (_name, express) => {
  it('refuses an app with errorHandler() mounted before the routes with a message naming the fix, instead of the HTML page with the stack and SQL', async () => {
    const { logger, lines } = captureLogger();
    const app = express();
    app.use(requestContext());
    app.use(errorHandler({ logger }));
    app.get('/orders/:id', () => {
      throw sqlFailure();
    });
    const res = await request(app).get('/orders/7');
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toBe(PROBLEM);
    expect(res.body).toMatchObject({ status: 500, code: 'internal_error' });
    expect(res.text).not.toMatch(/<html|<pre|relation|orders|at |ERR_BULWARK/i);
    const line = lines().find((entry) => entry.message === 'request failed');
    expect(line).toMatchObject({ level: 'error', status: 500, trace_id: res.body.trace_id });
    const err = misconfigured(line);
    expect(err.code).toBe('ERR_BULWARK_ERRORS_HANDLER_NOT_LAST');
    expect(err.message).toContain('errorHandler() is mounted before the route GET /orders/:id');
    expect(err.message).toContain(
      'Mount the routes first, then notFound(), then errorHandler() last.',
    );
    expect(err.message).toContain(DOCS);
  });

  it('refuses the routes after errorHandler() that succeed too, so the mistake shows on the first request', async () => {
    const { logger, lines } = captureLogger();
    const app = express();
    app.use(requestContext());
    app.use(errorHandler({ logger }));
    app.get('/health', (_req, res) => {
      res.json({ ok: true });
    });
    const first = await request(app).get('/health');
    const second = await request(app).get('/health');
    expect([first.status, second.status]).toEqual([500, 500]);
    expect(misconfigured(lines()[0]).code).toBe('ERR_BULWARK_ERRORS_HANDLER_NOT_LAST');
  });

  it('answers normally when notFound() and errorHandler() come after every route', async () => {
    const { logger, lines } = captureLogger();
    const app = express();
    app.use(requestContext());
    app.use(httpLogger({ logger }));
    app.get('/orders/:id', () => {
      throw sqlFailure();
    });
    app.get('/health', (_req, res) => {
      res.json({ ok: true });
    });
    app.use(notFound());
    app.use(errorHandler({ logger }));
    const ok = await request(app).get('/health');
    const failed = await request(app).get('/orders/7');
    const missing = await request(app).get('/nowhere');
    expect([ok.status, failed.status, missing.status]).toEqual([200, 500, 404]);
    expect(misconfigured(lines().find((entry) => entry.status === 500)).message).toBe(
      'relation "orders" does not exist',
    );
    expect(JSON.stringify(lines())).not.toContain('ERR_BULWARK_ERRORS_HANDLER_NOT_LAST');
  });

  it('names the middleware, router or notFound() mounted after errorHandler()', async () => {
    const cases: Array<[string, (app: ReturnType<typeof express>) => void]> = [
      [
        'the middleware audit()',
        (app) =>
          app.use(function audit(_req, _res, next) {
            next();
          }),
      ],
      [
        'the route GET /x in a router',
        (app) =>
          app.use(
            '/api',
            express.Router().get('/x', (_req, res) => {
              res.end();
            }),
          ),
      ],
      ['a sub-app', (app) => app.use('/v2', express())],
      ['the middleware notFound()', (app) => app.use(notFound())],
    ];
    for (const [named, mount] of cases) {
      const { logger, lines } = captureLogger();
      const app = express();
      app.use(requestContext());
      app.get('/before', (_req, res) => {
        res.end();
      });
      app.use(errorHandler({ logger }));
      mount(app);
      const res = await request(app).get('/before');
      expect(res.status).toBe(500);
      expect(misconfigured(lines()[0]).message).toContain(`mounted before ${named}`);
    }
  });

  it('accepts an errorHandler() before the routes when another one comes after them', async () => {
    const { logger } = captureLogger();
    const app = express();
    app.use(requestContext());
    app.use(errorHandler({ logger }));
    app.get('/orders/:id', () => {
      throw sqlFailure();
    });
    app.get('/health', (_req, res) => {
      res.json({ ok: true });
    });
    app.use(errorHandler({ logger }));
    expect((await request(app).get('/health')).status).toBe(200);
    expect((await request(app).get('/orders/1')).body.code).toBe('internal_error');
  });

  it("accepts a router's own errorHandler() followed by routes when the app's errorHandler() comes after the router", async () => {
    const { logger } = captureLogger();
    const router = express.Router();
    router.use(errorHandler({ logger }));
    router.get('/orders', (_req, res) => {
      res.json([]);
    });
    const app = express();
    app.use(requestContext());
    app.use('/api', router);
    app.use(notFound());
    app.use(errorHandler({ logger }));
    expect((await request(app).get('/api/orders')).status).toBe(200);
  });

  it('refuses routes followed only by dbErrors(), which passes every error on', async () => {
    const { logger, lines } = captureLogger();
    const app = express();
    app.use(requestContext());
    app.use(errorHandler({ logger }));
    app.get('/orders/:id', () => {
      throw sqlFailure();
    });
    // The shape of @bulwark/db-safety's dbErrors(): maps some database errors, passes all on.
    app.use(function dbErrors(
      err: unknown,
      _req: unknown,
      _res: unknown,
      next: (err: unknown) => void,
    ) {
      next(err);
    });
    const res = await request(app).get('/orders/7');
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toBe(PROBLEM);
    expect(misconfigured(lines()[0]).message).toContain('mounted before the route GET /orders/:id');
  });

  it('leaves an app alone whose routes after errorHandler() are followed by an error handler of its own', async () => {
    const { logger } = captureLogger();
    const api = express.Router();
    api.get('/orders', (_req, res) => {
      res.json([]);
    });
    api.use(errorHandler({ logger }));
    const app = express();
    app.use(requestContext());
    app.use('/api', api);
    app.get('/legacy', () => {
      throw sqlFailure();
    });
    app.use(
      (
        _err: unknown,
        _req: unknown,
        res: { status(n: number): { json(b: unknown): void } },
        _next: unknown,
      ) => {
        res.status(500).json({ error: 'legacy failure' });
      },
    );
    expect((await request(app).get('/api/orders')).status).toBe(200);
    const legacy = await request(app).get('/legacy');
    expect(legacy.status).toBe(500);
    expect(legacy.body).toEqual({ error: 'legacy failure' });
  });

  it('checks again when a route is added after the first request', async () => {
    const { logger, lines } = captureLogger();
    const app = express();
    app.use(requestContext());
    app.get('/health', (_req, res) => {
      res.json({ ok: true });
    });
    app.use(errorHandler({ logger }));
    expect((await request(app).get('/health')).status).toBe(200);
    app.get('/late', (_req, res) => {
      res.json({ late: true });
    });
    expect((await request(app).get('/health')).status).toBe(500);
    expect(misconfigured(lines()[0]).message).toContain('the route GET /late');
  });

  it('refuses through httpLogger() when requestContext() is not mounted, and still writes the access line', async () => {
    const { logger, lines } = captureLogger();
    const app = express();
    app.use(httpLogger({ logger }));
    app.use(errorHandler({ logger }));
    app.get('/orders/:id', () => {
      throw sqlFailure();
    });
    const res = await request(app).get('/orders/7');
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toBe(PROBLEM);
    expect(misconfigured(lines()[0]).code).toBe('ERR_BULWARK_ERRORS_HANDLER_NOT_LAST');
    await expect
      .poll(() => lines().find((entry) => entry.message === 'request'))
      .toMatchObject({ status: 500, code: 'internal_error' });
  });

  it('leaves an app that does not use errorHandler() alone', async () => {
    const app = express();
    app.use(requestContext());
    app.get('/health', (_req, res) => {
      res.json({ ok: true });
    });
    expect((await request(app).get('/health')).status).toBe(200);
  });
});
