// asyncHandler() over real HTTP on Express 4 and 5: rejected promises become problem+json 500s.
import { createRequire } from 'node:module';
import express5 from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { asyncHandler } from './async-handler.js';
import { requestContext } from './context.js';
import { errorHandler, notFound } from './error-handler.js';
import { captureLogger } from './test-helpers.js';

// Express 4 is installed under an alias; its API is the one these tests use from Express 5's types.
const express4 = createRequire(import.meta.url)('express4') as typeof express5;

const versions = [
  ['Express 4', express4],
  ['Express 5', express5],
] as const;

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

describe.each(versions)('asyncHandler on %s', (_name, express) => {
  function appWith(mount: (app: ReturnType<typeof express>) => void) {
    const capture = captureLogger();
    const app = express();
    app.use(requestContext());
    mount(app);
    app.use(notFound());
    app.use(errorHandler({ logger: capture.logger }));
    return { app, ...capture };
  }

  it('hands a rejected promise from a route to errorHandler as a problem+json 500 that leaks nothing', async () => {
    const before = unhandled.length;
    const { app, lines } = appWith((a) =>
      a.get(
        '/devices/:id',
        asyncHandler(async (req) => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          throw new Error(`relation "devices" does not exist (device ${req.params.id})`);
        }),
      ),
    );
    const res = await request(app).get('/devices/7');
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.body).toMatchObject({ code: 'internal_error', detail: 'Internal server error' });
    expect(JSON.stringify(res.body)).not.toContain('relation');
    const [line] = lines();
    expect(line).toMatchObject({ level: 'error', status: 500, trace_id: res.body.trace_id });
    expect((line?.err as { message?: string } | undefined)?.message).toContain(
      'relation "devices"',
    );
    expect(unhandled.length).toBe(before);
  });

  it('passes an HTTP error thrown after an await through with its status and code', async () => {
    const { app } = appWith((a) =>
      a.get(
        '/orders/:id',
        asyncHandler(async () => {
          await Promise.resolve();
          throw Object.assign(new Error('No such order'), {
            status: 404,
            expose: true,
            code: 'order_not_found',
          });
        }),
      ),
    );
    const res = await request(app).get('/orders/1');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ code: 'order_not_found', detail: 'No such order' });
  });

  it('turns a promise rejected without a reason into a 500 instead of a hanging request', async () => {
    const { app } = appWith((a) =>
      a.get(
        '/empty',
        // biome-ignore lint/complexity/useArrowFunction: an async function that rejects with undefined
        asyncHandler(async function () {
          return Promise.reject(undefined);
        }),
      ),
    );
    const res = await request(app).get('/empty').timeout(5_000);
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ code: 'internal_error' });
  });

  it('leaves handlers that answer, call next() or throw synchronously as Express runs them', async () => {
    const { app } = appWith((a) => {
      a.get(
        '/ok',
        asyncHandler(async (_req, res) => {
          res.json({ ok: true });
        }),
      );
      a.get(
        '/next',
        asyncHandler((_req, _res, next) => next()),
        (_req, res) => res.json({ reached: 'second' }),
      );
      a.get(
        '/sync',
        asyncHandler(() => {
          throw Object.assign(new Error('bad'), { status: 400, expose: true, code: 'bad_input' });
        }),
      );
    });
    expect((await request(app).get('/ok')).body).toEqual({ ok: true });
    expect((await request(app).get('/next')).body).toEqual({ reached: 'second' });
    const sync = await request(app).get('/sync');
    expect(sync.status).toBe(400);
    expect(sync.body).toMatchObject({ code: 'bad_input' });
  });

  it('works as application middleware before the routes', async () => {
    const { app } = appWith((a) => {
      a.use(
        asyncHandler(async (req, _res, next) => {
          await Promise.resolve();
          if (req.get('x-tenant') === undefined) {
            throw Object.assign(new Error('Tenant missing'), {
              status: 400,
              expose: true,
              code: 'tenant_missing',
            });
          }
          next();
        }),
      );
      a.get('/', (_req, res) => res.json({ ok: true }));
    });
    expect((await request(app).get('/')).body).toMatchObject({ code: 'tenant_missing' });
    expect((await request(app).get('/').set('x-tenant', 'acme')).body).toEqual({ ok: true });
  });
});

describe('asyncHandler configuration', () => {
  it('refuses something that is not a function when the route is declared', () => {
    expect(() => asyncHandler(undefined as never)).toThrow(
      /asyncHandler: expected a function \(req, res, next\), got undefined/,
    );
  });
});
