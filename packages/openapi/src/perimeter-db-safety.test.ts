// openApiDocument() on an app behind the perimeter and db-safety middleware: their error answers
// appear in the document, which an OpenAPI 3.1 validator accepts, and match what the app sends.
import { Writable } from 'node:stream';
import { createLogger, errorHandler } from '@bulwark/error-handler';
import { Validator } from '@seriousme/openapi-schema-validator';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
// Built packages by path: @bulwark/openapi depends on neither, at run time or in its manifest.
import { createPool, dbErrors, healthRoute } from '../../db-safety/dist/index.js';
import {
  csrfProtection,
  ipAllowlist,
  requestTimeout,
  trustedHosts,
} from '../../perimeter/dist/index.js';
import { describeRoute } from './describe-route.js';
import { openApiDocument } from './document.js';
import { EXPRESS } from './test-app.js';

type Responses = Record<string, Record<string, unknown>>;

const HOST = 'api.example.test';
const PROBLEM = {
  'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
};
const RETRY_AFTER = { 'Retry-After': { schema: { type: 'integer' } } };

const pool = createPool({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
afterAll(() => pool.end());

function guardedApp(major: 4 | 5) {
  const app = EXPRESS[major]();
  app.use(trustedHosts([HOST]));
  app.use(requestTimeout({ ms: 5000, retryAfter: 5 }));
  app.get('/ready', healthRoute(pool));
  app.use('/admin', ipAllowlist(['10.0.0.0/8'], { status: 403 }));
  app.get('/admin/stats', (_req, res) => {
    res.json({ devices: 0 });
  });
  app.post(
    '/devices',
    csrfProtection(),
    describeRoute({ responses: { 201: { description: 'Created' } } }),
    (_req, res) => {
      res.status(201).json({ id: 'dev-1' });
    },
  );
  app.use(dbErrors());
  app.use(
    errorHandler({
      logger: createLogger({
        level: 'error',
        stream: new Writable({ write: (_c, _e, done) => done() }),
      }),
    }),
  );
  return app;
}

describe.each([4, 5] as const)(
  'openApiDocument behind perimeter and db-safety on Express %i',
  (major) => {
    const app = guardedApp(major);
    const doc = openApiDocument(app, { info: { title: 'Guarded', version: '1.0.0' } });
    const responses = (path: string, method: string): Responses => {
      const op = doc.paths[path]?.[method] as { responses: Responses } | undefined;
      if (!op) throw new Error(`no ${method} ${path} in the document`);
      return op.responses;
    };

    it('builds a document that an OpenAPI 3.1 validator accepts', async () => {
      const validator = new Validator();
      const result = await validator.validate(
        structuredClone(doc) as unknown as Record<string, unknown>,
      );
      expect(result.errors ?? []).toEqual([]);
      expect(result.valid).toBe(true);
      expect(validator.version).toBe('3.1');
    });

    it('documents the perimeter refusals a route can get: invalid_host, csrf_rejected and request_timeout with Retry-After', () => {
      const create = responses('/devices', 'post');
      expect(create['400']).toMatchObject({
        content: PROBLEM,
        'x-bulwark-codes': ['invalid_host'],
      });
      expect(create['403']).toMatchObject({
        content: PROBLEM,
        'x-bulwark-codes': ['csrf_rejected'],
      });
      expect(create['503']).toMatchObject({ content: PROBLEM, headers: RETRY_AFTER });
      expect(create['503']?.['x-bulwark-codes']).toContain('request_timeout');
      expect(responses('/admin/stats', 'get')['403']).toMatchObject({
        content: PROBLEM,
        'x-bulwark-codes': ['ip_not_allowed'],
      });
    });

    it('documents the database answers of dbErrors() on every route, with Retry-After where it is sent', () => {
      const create = responses('/devices', 'post');
      expect(create['409']).toMatchObject({
        content: PROBLEM,
        headers: RETRY_AFTER,
        'x-bulwark-codes': ['conflict', 'reference_conflict', 'transaction_conflict'],
      });
      expect(create['422']).toMatchObject({
        content: PROBLEM,
        'x-bulwark-codes': ['invalid_value'],
      });
      expect(create['503']?.['x-bulwark-codes']).toEqual([
        'request_timeout',
        'database_timeout',
        'database_busy',
        'database_unavailable',
      ]);
      expect(responses('/admin/stats', 'get')['409']?.['x-bulwark-codes']).toContain('conflict');
    });

    it('documents healthRoute() answers as plain JSON, with the Problem schema of the error handler nowhere on them', () => {
      const ready = responses('/ready', 'get');
      expect(ready['200']).toMatchObject({
        content: { 'application/json': { schema: { required: ['status'] } } },
      });
      expect(ready['503']).toMatchObject({
        headers: RETRY_AFTER,
        content: { 'application/json': { schema: { required: ['status', 'code'] } } },
      });
      expect(ready['503']?.content).not.toHaveProperty('application/problem+json');
      expect(ready['2XX']).toBeUndefined();
    });

    it('sends the documented codes: a real refusal carries one listed for its status', async () => {
      const codes = (path: string, method: string, status: number) =>
        responses(path, method)[String(status)]?.['x-bulwark-codes'];

      const badHost = await request(app).post('/devices').set('Host', 'evil.example.test');
      expect(badHost.status).toBe(400);
      expect(codes('/devices', 'post', 400)).toContain(badHost.body.code);

      const crossSite = await request(app)
        .post('/devices')
        .set('Host', HOST)
        .set('Origin', 'https://evil.example.test');
      expect(crossSite.status).toBe(403);
      expect(crossSite.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(codes('/devices', 'post', 403)).toContain(crossSite.body.code);

      const outside = await request(app).get('/admin/stats').set('Host', HOST);
      expect(outside.status).toBe(403);
      expect(codes('/admin/stats', 'get', 403)).toContain(outside.body.code);

      const ready = await request(app).get('/ready').set('Host', HOST);
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({ status: 'ok' });
    });
  },
);
