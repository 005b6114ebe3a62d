// Tests for validateResponses() and describeRoute() over real HTTP, on Express 4 and 5.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { errorHandler } from '@bulwark/error-handler';
import { listen } from '@bulwark/test-utils';
import type { Express, Request, Response } from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeRoute } from './describe-route.js';
import type { ResponseInvalidEvent } from './events.js';
import { EXPRESS } from './test-app.js';
import { validateResponses } from './validate-responses.js';

const device = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'device-id', maxLength: 64 },
    name: { type: 'string', maxLength: 100 },
    seen: { type: 'string', format: 'date-time' },
    readings: { type: 'object', additionalProperties: { type: 'number' } },
  },
  required: ['id', 'name'],
  additionalProperties: false,
} as const;

const formats = { 'device-id': (value: string) => /^[a-z0-9-]{1,64}$/.test(value) };
interface Logger {
  error(message: string, meta?: unknown): void;
  warn(message: string, meta?: unknown): void;
  info(message: string, meta?: unknown): void;
}
const silent: Logger = { error() {}, warn() {}, info() {} };

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** An app whose handler answers what the test says, behind validateResponses(). */
function appWith(
  major: 4 | 5,
  answer: (req: Request, res: Response) => void,
  options: Parameters<typeof validateResponses>[0] = { formats },
  logger: Logger = silent,
): Express {
  const express = EXPRESS[major];
  const app = express();
  app.use(validateResponses(options));
  const router = express.Router();
  router.get(
    '/devices/:id',
    describeRoute({
      responses: {
        200: { description: 'The device', schema: device },
        404: { description: 'No such device' },
      },
    }),
    answer,
  );
  router.get('/undescribed', answer);
  app.use('/v1', router);
  app.use(errorHandler({ logger }));
  return app;
}

async function get(app: Express, path = '/v1/devices/dev-1'): Promise<Answer> {
  const server = await listen(app);
  try {
    const response = await fetch(`${server.url}${path}`);
    return { status: response.status, body: (await response.json()) as Answer['body'] };
  } finally {
    await server.close();
  }
}

describe.each([4, 5] as const)('validateResponses on Express %i', (major) => {
  it('sends an answer that matches its declared schema, after toJSON()', async () => {
    const seen = new Date('2026-12-06T10:00:00Z');
    const result = await get(
      appWith(major, (_req, res) => {
        res.json({ id: 'dev-1', name: 'Boiler', seen, readings: { temp: 21.5 } });
      }),
    );
    expect(result).toEqual({
      status: 200,
      body: {
        id: 'dev-1',
        name: 'Boiler',
        seen: '2026-12-06T10:00:00.000Z',
        readings: { temp: 21.5 },
      },
    });
  });

  it('answers 500 response_invalid with the route, status, pointer and message for a mismatch', async () => {
    const result = await get(
      appWith(major, (_req, res) => {
        res.json({ id: 'dev-1', name: 42 });
      }),
    );
    expect(result.status).toBe(500);
    expect(result.body).toMatchObject({
      code: 'response_invalid',
      detail:
        'GET /devices/:id: the 200 response does not match its declared schema: /name must be string. Fix the handler or the schema in describeRoute().',
      details: { status: 200, pointer: '/name' },
    });
  });

  it('checks formats: the standard ones and those given in formats', async () => {
    const badDate = await get(
      appWith(major, (_req, res) => {
        res.json({ id: 'dev-1', name: 'Boiler', seen: 'yesterday' });
      }),
    );
    expect(badDate.body.details).toEqual({ status: 200, pointer: '/seen' });
    const badId = await get(
      appWith(major, (_req, res) => {
        res.json({ id: 'Dev 1', name: 'Boiler' });
      }),
    );
    expect(badId.body.detail).toContain('/id must match format "device-id"');
  });

  it('never shows a key the schema does not name: the pointer stops at its parent', async () => {
    const result = await get(
      appWith(major, (_req, res) => {
        res.json({ id: 'dev-1', name: 'Boiler', readings: { 'owner@example.com': 'hot' } });
      }),
    );
    expect(result.body.details).toEqual({ status: 200, pointer: '/readings' });
    expect(JSON.stringify(result.body)).not.toContain('owner@example.com');
    expect(JSON.stringify(result.body)).not.toContain('hot');
  });

  it('fails a success status the route does not declare', async () => {
    const result = await get(
      appWith(major, (_req, res) => {
        res.status(202).json({ queued: true });
      }),
    );
    expect(result.status).toBe(500);
    expect(result.body.detail).toContain('status 202 is not declared (declared: 200, 404)');
  });

  it('leaves error answers, bodies the route does not describe and undescribed routes alone', async () => {
    expect(
      await get(
        appWith(major, (_req, res) => {
          res.status(404).json({ anything: true });
        }),
      ),
    ).toEqual({ status: 404, body: { anything: true } });
    expect(
      await get(
        appWith(major, (_req, res) => {
          res.status(409).json({ conflict: true });
        }),
      ),
    ).toEqual({ status: 409, body: { conflict: true } });
    expect(
      await get(
        appWith(major, (_req, res) => {
          res.json({ free: 'form' });
        }),
        '/v1/undescribed',
      ),
    ).toEqual({ status: 200, body: { free: 'form' } });
  });

  it('publishes each failure on bulwark:openapi:response-invalid, without the body', async () => {
    const events: ResponseInvalidEvent[] = [];
    const listener = (event: unknown) => events.push(event as ResponseInvalidEvent);
    subscribe('bulwark:openapi:response-invalid', listener);
    try {
      await get(
        appWith(major, (_req, res) => {
          res.json({ id: 'dev-1' });
        }),
      );
    } finally {
      unsubscribe('bulwark:openapi:response-invalid', listener);
    }
    expect(events).toEqual([
      {
        method: 'GET',
        route: '/devices/:id',
        status: 200,
        pointer: '',
        message: "must have required property 'name'",
      },
    ]);
  });

  it('answers 500 and logs the fix when a response schema uses a format it was not given', async () => {
    const logged: unknown[] = [];
    const logger: Logger = {
      ...silent,
      error: (_message, meta) => {
        logged.push(meta);
      },
    };
    const result = await get(
      appWith(
        major,
        (_req, res) => {
          res.json({ id: 'dev-1', name: 'Boiler' });
        },
        {},
        logger,
      ),
    );
    expect(result.status).toBe(500);
    expect(result.body.code).toBe('internal_error');
    expect(JSON.stringify(logged)).toContain('ERR_BULWARK_OPENAPI_RESPONSE_SCHEMA');
    expect(JSON.stringify(logged)).toContain('validateResponses({ formats })');
  });

  it('passes every answer through when switched off with enabled: false', async () => {
    const result = await get(
      appWith(
        major,
        (_req, res) => {
          res.json({ id: 'dev-1', name: 42 });
        },
        { enabled: false },
      ),
    );
    expect(result).toEqual({ status: 200, body: { id: 'dev-1', name: 42 } });
  });
});

describe('validateResponses configuration', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('is off by default in production, and refuses enabled: true there', async () => {
    vi.stubEnv('NODE_ENV', 'production');
    const result = await get(
      appWith(5, (_req, res) => {
        res.json({ id: 'dev-1', name: 42 });
      }),
    );
    expect(result.status).toBe(200);
    expect(() => validateResponses({ enabled: true })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_OPENAPI_RESPONSE_VALIDATION_ENV',
        message: expect.stringContaining('NODE_ENV is "production"'),
      }),
    );
  });

  it('refuses unknown options, bad formats and being mounted without the call', () => {
    expect(() => validateResponses({ format: {} } as never)).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_OPENAPI_UNKNOWN_OPTION',
        message: expect.stringContaining('Did you mean `formats`?'),
      }),
    );
    expect(() => validateResponses({ formats: { x: 'abc' } } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_OPENAPI_INVALID_OPTION' }),
    );
    const request = { method: 'GET', headers: {}, url: '/' };
    expect(() => validateResponses(request as never)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_OPENAPI_NOT_CALLED' }),
    );
  });
});

describe('describeRoute configuration', () => {
  it('refuses a schema that does not compile, at construction', () => {
    expect(() =>
      describeRoute({
        responses: { 200: { description: 'x', schema: { type: 'object', propertys: {} } } },
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_OPENAPI_INVALID_SCHEMA',
        message: expect.stringContaining(
          'responses[200] does not compile: strict mode: unknown keyword: "propertys"',
        ),
      }),
    );
  });

  it('refuses a bad status, a response without description, and a typo with a hint', () => {
    expect(() => describeRoute({ responses: { 600: { description: 'x' } } })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_OPENAPI_INVALID_OPTION' }),
    );
    expect(() => describeRoute({ responses: { 200: {} as never } })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_OPENAPI_INVALID_OPTION',
        message: expect.stringContaining('Every response needs a description'),
      }),
    );
    expect(() => describeRoute({ sumary: 'x' } as never)).toThrow(
      expect.objectContaining({ message: expect.stringContaining('Did you mean `summary`?') }),
    );
  });

  it('does nothing to the request and carries a frozen, versioned description', async () => {
    const described = describeRoute({ summary: 'One device', tags: ['devices'] });
    expect((described as unknown as { openapi: unknown }).openapi).toEqual({
      version: 1,
      kind: 'route',
      summary: 'One device',
      tags: ['devices'],
    });
    expect(Object.isFrozen((described as unknown as { openapi: unknown }).openapi)).toBe(true);
    const app = EXPRESS[5]();
    app.get('/x', described, (req, res) => {
      res.json({ query: req.query });
    });
    expect(await get(app as unknown as Express, '/x?a=1')).toEqual({
      status: 200,
      body: { query: { a: '1' } },
    });
  });
});

describe('describeRoute with schemas that carry an $id', () => {
  it('accepts the same $id on two routes and checks each answer against its own schema', async () => {
    const named = () => ({
      $id: 'https://schemas.example.test/count',
      type: 'object',
      properties: { n: { type: 'integer' } },
      required: ['n'],
    });
    const app = EXPRESS[5]();
    app.use(validateResponses());
    app.get(
      '/a',
      describeRoute({ responses: { 200: { description: 'A', schema: named() } } }),
      (_req, res) => {
        res.json({ n: 1 });
      },
    );
    app.get(
      '/b',
      describeRoute({ responses: { 200: { description: 'B', schema: named() } } }),
      (_req, res) => {
        res.json({ n: 'one' });
      },
    );
    app.use(errorHandler({ logger: silent }));
    const target = app as unknown as Express;
    expect(await get(target, '/a')).toEqual({ status: 200, body: { n: 1 } });
    const b = await get(target, '/b');
    expect(b.status).toBe(500);
    expect(b.body.details).toEqual({ status: 200, pointer: '/n' });
  });
});
