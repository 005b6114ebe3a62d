// Tests for HttpProblem: one-line HTTP errors rendered as problem+json on Express 4 and 5.
import { createRequire } from 'node:module';
import express5, { type Express } from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { asyncHandler } from './async-handler.js';
import { requestContext } from './context.js';
import { errorHandler, notFound } from './error-handler.js';
import { HttpProblem, type HttpProblemOptions } from './http-problem.js';
import { captureLogger } from './test-helpers.js';

const express4 = createRequire(import.meta.url)('express4') as typeof express5;
const PROBLEM = 'application/problem+json; charset=utf-8';

describe.each([
  ['Express 5', express5, false],
  ['Express 4', express4, true],
])('HttpProblem on %s', (_name, express, wrap) => {
  /** An app whose async route throws what `make` returns after an await. */
  function throwingApp(make: () => unknown) {
    const capture = captureLogger();
    const app: Express = express();
    app.use(requestContext());
    const handler = async () => {
      await Promise.resolve();
      throw make();
    };
    app.get('/orders/:id', wrap ? asyncHandler(handler) : handler);
    app.use(notFound());
    app.use(errorHandler({ logger: capture.logger }));
    return { app, ...capture };
  }

  it('renders each shortcut as the problem+json errorHandler gives every error, with its status and default code', async () => {
    const cases: Array<[() => HttpProblem, number, string, string]> = [
      [() => HttpProblem.badRequest(), 400, 'bad_request', 'Bad request'],
      [() => HttpProblem.unauthorized('Sign in first.'), 401, 'unauthorized', 'Sign in first.'],
      [() => HttpProblem.forbidden('Not your order.'), 403, 'forbidden', 'Not your order.'],
      [() => HttpProblem.notFound('No such order.'), 404, 'not_found', 'No such order.'],
      [() => HttpProblem.conflict('Already paid.'), 409, 'conflict', 'Already paid.'],
      [
        () => HttpProblem.unprocessableEntity('Too many items.'),
        422,
        'unprocessable_entity',
        'Too many items.',
      ],
      [() => HttpProblem.tooManyRequests(), 429, 'too_many_requests', 'Too many requests'],
      [() => new HttpProblem(410, 'Archived.'), 410, 'gone', 'Archived.'],
    ];
    for (const [make, status, code, detail] of cases) {
      const { app } = throwingApp(make);
      const res = await request(app).get('/orders/7');
      expect(res.status).toBe(status);
      expect(res.headers['content-type']).toBe(PROBLEM);
      expect(res.body).toEqual({
        type: 'about:blank',
        title: expect.any(String),
        status,
        detail,
        code,
        trace_id: res.headers['x-request-id'],
      });
    }
  });

  it('throws a not-found in one line with its own code, errors and details', async () => {
    const { app, lines } = throwingApp(() =>
      HttpProblem.notFound('No such order.', {
        code: 'order_not_found',
        details: { orderId: '7' },
      }),
    );
    const res = await request(app).get('/orders/7');
    expect(res.body).toMatchObject({
      status: 404,
      code: 'order_not_found',
      detail: 'No such order.',
      details: { orderId: '7' },
    });
    expect(lines()[0]).toMatchObject({
      message: 'request rejected',
      status: 404,
      code: 'order_not_found',
      error_name: 'HttpProblem',
    });
  });

  it('answers a 422 with field errors, and logs their pointers', async () => {
    const { app, lines } = throwingApp(() =>
      HttpProblem.unprocessableEntity('The order is not valid.', {
        code: 'invalid_order',
        errors: [
          { location: 'body', pointer: '/body/items/0/quantity', message: 'must be at most 99' },
          { location: 'body', pointer: '/body/currency', message: 'must be a currency code' },
        ],
      }),
    );
    const res = await request(app).get('/orders/7');
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([
      { location: 'body', pointer: '/body/items/0/quantity', message: 'must be at most 99' },
      { location: 'body', pointer: '/body/currency', message: 'must be a currency code' },
    ]);
    expect(lines()[0]!.pointers).toEqual(['/body/items/0/quantity', '/body/currency']);
  });

  it('sends Retry-After from retryAfter on a 429, and on an unexposed 503 with its generic body', async () => {
    const limited = await request(
      throwingApp(() => HttpProblem.tooManyRequests('Slow down.', { retryAfter: 30 })).app,
    ).get('/orders/7');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('30');
    expect(limited.body).toMatchObject({ code: 'too_many_requests', detail: 'Slow down.' });

    const down = await request(
      throwingApp(() =>
        HttpProblem.serviceUnavailable('Payments are down at /srv/pay.js:12', { retryAfter: 120 }),
      ).app,
    ).get('/orders/7');
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toBe('120');
    expect(down.body).toMatchObject({
      code: 'service_unavailable',
      detail: 'Service unavailable',
    });
    expect(down.text).not.toContain('/srv/pay.js');

    const when = new Date('2030-01-01T00:00:00Z');
    const shown = await request(
      throwingApp(() =>
        HttpProblem.serviceUnavailable('Down for maintenance until midnight.', {
          retryAfter: when,
          expose: true,
          code: 'maintenance',
        }),
      ).app,
    ).get('/orders/7');
    expect(shown.headers['retry-after']).toBe(when.toUTCString());
    expect(shown.body).toMatchObject({
      code: 'maintenance',
      detail: 'Down for maintenance until midnight.',
    });
  });

  it('sends the WWW-Authenticate challenge a 401 carries', async () => {
    const { app } = throwingApp(() =>
      HttpProblem.unauthorized('Sign in first.', {
        headers: { 'WWW-Authenticate': 'Bearer realm="orders"' },
      }),
    );
    const res = await request(app).get('/orders/7');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="orders"');
  });

  it('logs the cause of a problem and never shows it to the client', async () => {
    const { app, lines } = throwingApp(() =>
      HttpProblem.conflict('The order was changed by someone else.', {
        cause: new Error('row version 41 != 42 for order 7 at /srv/orders.js'),
      }),
    );
    const res = await request(app).get('/orders/7');
    expect(res.status).toBe(409);
    expect(res.text).not.toMatch(/row version|srv/);
    expect(lines()[0]).toMatchObject({ code: 'conflict', cause_name: 'Error' });
  });

  it('is answered with its status and Retry-After by Express without errorHandler()', async () => {
    const app: Express = express();
    const handler = async () => {
      await Promise.resolve();
      throw HttpProblem.tooManyRequests('Slow down.', { retryAfter: 5 });
    };
    app.get('/', wrap ? asyncHandler(handler) : handler);
    const res = await request(app).get('/');
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('5');
  });
});

describe('HttpProblem fields', () => {
  it('has the fields errorHandler and http-errors read, and no undefined ones', () => {
    const problem = HttpProblem.notFound('No such order.', { code: 'order_not_found' });
    expect(problem).toBeInstanceOf(Error);
    expect(problem).toBeInstanceOf(HttpProblem);
    expect(problem).toMatchObject({
      name: 'HttpProblem',
      message: 'No such order.',
      status: 404,
      statusCode: 404,
      expose: true,
      code: 'order_not_found',
    });
    expect(Object.hasOwn(problem, 'details')).toBe(false);
    expect(Object.hasOwn(problem, 'headers')).toBe(false);
    expect(Object.hasOwn(problem, 'cause')).toBe(false);
    expect(HttpProblem.serviceUnavailable().expose).toBe(false);
  });
});

describe('HttpProblem arguments', () => {
  const refused = (make: () => unknown, code: string, text: RegExp) => {
    expect(make).toThrow(expect.objectContaining({ code }));
    expect(make).toThrow(text);
  };

  it('refuses a status outside 400-599, naming the shortcuts', () => {
    refused(
      () => new HttpProblem(200),
      'ERR_BULWARK_ERRORS_INVALID_OPTION',
      /status: 200 .*400 to 599/,
    );
    refused(
      () => new HttpProblem('404' as never),
      'ERR_BULWARK_ERRORS_INVALID_OPTION',
      /HttpProblem.notFound\(\)/,
    );
  });

  it('refuses a code that errorHandler would not show', () => {
    refused(
      () => HttpProblem.notFound('x', { code: 'Order-Not-Found' }),
      'ERR_BULWARK_ERRORS_INVALID_OPTION',
      /code: "Order-Not-Found" is not valid. Use a snake_case code/,
    );
  });

  it('refuses a misspelled option with a hint', () => {
    refused(
      () => HttpProblem.tooManyRequests('x', { retryafter: 3 } as HttpProblemOptions),
      'ERR_BULWARK_ERRORS_UNKNOWN_OPTION',
      /Did you mean "retryAfter"\?/,
    );
  });

  it('refuses headers errorHandler would drop, invalid header values and a second Retry-After', () => {
    refused(
      () => HttpProblem.badRequest('x', { headers: { 'Set-Cookie': 'session=s3cr3t' } }),
      'ERR_BULWARK_ERRORS_INVALID_OPTION',
      /"Set-Cookie" cannot be set by an error/,
    );
    refused(
      () => HttpProblem.badRequest('x', { headers: { Allow: 'GET\r\nX-Token: s3cr3t' } }),
      'ERR_BULWARK_ERRORS_INVALID_OPTION',
      /without line breaks/,
    );
    expect(() =>
      HttpProblem.badRequest('x', { headers: { 'Set-Cookie': 'session=s3cr3t' } }),
    ).not.toThrow(/s3cr3t/);
    expect(() =>
      HttpProblem.badRequest('x', { headers: { Allow: 'GET\r\nX-Token: s3cr3t' } }),
    ).not.toThrow(/s3cr3t/);
    refused(
      () => HttpProblem.tooManyRequests('x', { retryAfter: 3, headers: { 'retry-after': '4' } }),
      'ERR_BULWARK_ERRORS_INVALID_OPTION',
      /Give Retry-After once/,
    );
    refused(
      () => HttpProblem.tooManyRequests('x', { retryAfter: -1 }),
      'ERR_BULWARK_ERRORS_INVALID_OPTION',
      /whole number of seconds/,
    );
  });

  it('refuses field errors without a pointer and message', () => {
    refused(
      () =>
        HttpProblem.unprocessableEntity('x', {
          errors: [{ field: 'email' } as never],
        }),
      'ERR_BULWARK_ERRORS_INVALID_OPTION',
      /pointer, message/,
    );
  });
});
