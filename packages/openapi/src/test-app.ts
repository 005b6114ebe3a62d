// Test support: one app using every feature the document covers, on Express 4 or 5.
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { createLogger, errorHandler, notFound } from '@bulwark/error-handler';
import { abuseGuard, rateLimit } from '@bulwark/rate-limit';
import {
  authenticate,
  requireAnyPermission,
  requireCustomer,
  requireOperator,
  requirePermission,
} from '@bulwark/rbac';
import { jsonBody, paginate, queryLimits, uploadLimits, validate } from '@bulwark/validators';
import express5, { type Express, type Request, type Response } from 'express';
import { describeRoute } from './describe-route.js';

/** Express 4, installed as `express4`, loaded the way a CommonJS app loads it. */
export const express4 = createRequire(import.meta.url)('express4') as typeof express5;

export const EXPRESS = { 4: express4, 5: express5 } as const;

/** An API key the test verifier accepts: a customer of tenant `acme` who may read devices. */
export const READER_KEY = 'reader-key-0001';
/** An operator's API key with every permission. */
export const OPERATOR_KEY = 'operator-key-0001';

const apiKeys = {
  verify(key: string) {
    if (key === READER_KEY) {
      return {
        id: 'reader',
        tenantId: 'acme',
        scope: 'customer' as const,
        scopes: ['devices:read'],
      };
    }
    if (key === OPERATOR_KEY) {
      return { id: 'operator', tenantId: null, scope: 'operator' as const, scopes: ['*'] };
    }
    return null;
  },
};

const jwt = {
  algorithms: ['HS256' as const],
  secret: 'openapi-test-secret-of-32-bytes!',
  issuer: 'https://auth.example.test/',
  audience: 'devices-api',
};

const quietLogger = () =>
  createLogger({ level: 'error', stream: new Writable({ write: (_c, _e, done) => done() }) });

export const deviceSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', maxLength: 64 },
    name: { type: 'string', maxLength: 100 },
    tags: { type: 'array', items: { type: 'string', maxLength: 50 }, maxItems: 10 },
  },
  required: ['id', 'name'],
  additionalProperties: false,
} as const;

const location = {
  $id: 'https://schemas.example.test/location',
  type: 'object',
  properties: {
    lat: { type: 'number', minimum: -90, maximum: 90 },
    lon: { type: 'number', minimum: -180, maximum: 180 },
  },
  required: ['lat', 'lon'],
  additionalProperties: false,
} as const;

const tenantParams = {
  type: 'object',
  properties: { tenantId: { type: 'string', format: 'slug', maxLength: 50 } },
  required: ['tenantId'],
} as const;

const deviceParams = {
  type: 'object',
  properties: {
    tenantId: { type: 'string', format: 'slug', maxLength: 50 },
    id: { type: 'string', format: 'device-id', maxLength: 64 },
  },
  required: ['tenantId', 'id'],
  additionalProperties: false,
} as const;

/** Paths that differ between the two syntaxes: an optional segment and a wildcard. */
export const SYNTAX = {
  4: { file: '/files/:name?', wildcard: '/static/*' },
  5: { file: '/files{/:name}', wildcard: '/static/*path' },
} as const;

const ok = (_req: Request, res: Response) => {
  res.json({ ok: true });
};

/**
 * The app: a tenant router mounted at a path with a parameter, an operator router, optional
 * authentication, rate limits, an abuse guard, uploads, an optional segment, a wildcard, shared
 * `$id` schemas, local `$defs`, a route without schemas, and the error handler.
 */
export function featureApp(major: 4 | 5): Express {
  const express = EXPRESS[major];
  const app = express();
  app.disable('x-powered-by');
  const auth = authenticate({ jwt, apiKeys });
  app.use(abuseGuard({ failures: 50 }));
  app.use(queryLimits({ maxParams: 20 }));
  app.use(jsonBody({ limit: '16kb' }));

  const devices = express.Router({ mergeParams: true });
  devices.use(describeRoute({ tags: ['devices'] }));
  devices.get(
    '/devices',
    describeRoute({
      summary: 'List devices',
      operationId: 'listDevices',
      responses: {
        200: {
          description: 'A page of devices',
          schema: { type: 'array', items: deviceSchema, maxItems: 100 },
        },
      },
    }),
    requirePermission('devices:read'),
    validate({
      params: tenantParams,
      query: {
        type: 'object',
        properties: {
          tag: { type: 'string', maxLength: 50 },
          limit: { type: 'integer', minimum: 1, maximum: 1000 },
          offset: { type: 'integer', minimum: 0, maximum: 10_000 },
        },
        additionalProperties: false,
      },
    }),
    paginate({ maxLimit: 100 }),
    (_req, res) => {
      res.json([{ id: 'dev-1', name: 'Boiler' }]);
    },
  );
  devices.post(
    '/devices',
    describeRoute({
      summary: 'Register a device',
      responses: {
        201: {
          description: 'The device',
          schema: deviceSchema,
          headers: { Location: { description: 'The new device', schema: { type: 'string' } } },
        },
      },
    }),
    rateLimit({ name: 'device-writes', limit: 10, windowMs: 60_000, methods: ['POST'] }),
    requirePermission('devices:write'),
    validate(
      {
        params: tenantParams,
        body: {
          type: 'object',
          properties: {
            name: { type: 'string', maxLength: 100 },
            location: { $ref: 'https://schemas.example.test/location' },
            readings: { type: 'array', items: { $ref: '#/$defs/reading' }, maxItems: 10 },
          },
          required: ['name'],
          additionalProperties: false,
          $defs: {
            reading: {
              type: 'object',
              properties: { metric: { type: 'string', maxLength: 40 }, value: { type: 'number' } },
              required: ['metric', 'value'],
              additionalProperties: false,
            },
          },
        },
      },
      { schemas: [location] },
    ),
    (_req, res) => {
      res.status(201).json({ id: 'dev-2', name: 'Pump' });
    },
  );
  devices.get(
    '/devices/:id',
    describeRoute({
      responses: {
        200: { description: 'The device', schema: deviceSchema },
        404: { description: 'No such device in the tenant' },
      },
    }),
    requireAnyPermission('devices:read', 'devices:admin'),
    validate({ params: deviceParams }),
    (req, res) => {
      res.json({ id: req.params.id, name: 'Boiler' });
    },
  );
  devices.put(
    '/devices/:id/firmware',
    requirePermission('devices:write'),
    uploadLimits({ maxBytes: '1mb', allowedTypes: ['application/gzip'] }),
    (_req, res) => {
      res.status(204).end();
    },
  );
  app.use('/tenants/:tenantId', auth, requireCustomer(), devices);

  const operator = express.Router();
  operator.get(
    '/status',
    describeRoute({
      summary: 'Service status',
      responses: {
        200: {
          description: 'Status',
          schema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
        },
      },
    }),
    ok,
  );
  app.use('/operator', auth, requireOperator(), operator);

  app.get(
    '/feed',
    authenticate({ jwt, optional: true }),
    rateLimit({ name: 'feed', limit: 2, windowMs: 60_000, legacyHeaders: false }),
    validate({
      headers: {
        type: 'object',
        properties: { 'x-client': { type: 'string', maxLength: 40 } },
      },
    }),
    ok,
  );
  app.get(SYNTAX[major].file, ok);
  app.get(SYNTAX[major].wildcard, ok);
  app.get('/health', ok);
  app.use(notFound());
  app.use(errorHandler({ logger: quietLogger() }));
  return app;
}
