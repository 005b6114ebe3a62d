// Tests for openApiDocument(): a real app on Express 4 and 5, its document checked by an OpenAPI
// 3.1 validator and against the app itself over HTTP.
import { listen } from '@bulwark/test-utils';
import { validate } from '@bulwark/validators';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRoute } from './describe-route.js';
import { type OpenApiDocument, openApiDocument } from './document.js';
import { EXPRESS, featureApp, OPERATOR_KEY, READER_KEY } from './test-app.js';

type Operation = Record<string, unknown> & {
  parameters?: { name: string; in: string; required?: boolean; schema: Record<string, unknown> }[];
  responses: Record<string, Record<string, unknown>>;
  security?: Record<string, string[]>[];
};

const info = { title: 'Devices API', version: '1.2.3' };

function operation(doc: OpenApiDocument, path: string, method: string): Operation {
  const op = doc.paths[path]?.[method];
  if (!op) throw new Error(`no ${method} ${path} in ${Object.keys(doc.paths).join(', ')}`);
  return op as Operation;
}

/** The path with each `{param}` filled in, as a client would call it. */
function concrete(template: string): string {
  return template.replace(/\{([^}]+)\}/g, (_m, name: string) =>
    name === 'tenantId' ? 'acme' : name === 'path' || name === '0' ? 'css/site.css' : 'dev-1',
  );
}

describe.each([4, 5] as const)('openApiDocument on Express %i', (major) => {
  const app = featureApp(major);
  const doc = openApiDocument(app, {
    info,
    servers: [{ url: 'https://api.example.test' }],
    tags: [{ name: 'devices', description: 'Devices of a tenant' }],
  });
  let base = '';
  let close: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const server = await listen(app);
    base = server.url;
    close = server.close;
  });
  afterAll(() => close());

  it('builds a document that an OpenAPI 3.1 validator accepts, every $ref resolving', async () => {
    const validator = new Validator();
    const result = await validator.validate(
      structuredClone(doc) as unknown as Record<string, unknown>,
    );
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(() => validator.resolveRefs()).not.toThrow();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toEqual(info);
    expect(doc.servers).toEqual([{ url: 'https://api.example.test' }]);
  });

  it('lists every route at its full mounted path, optional segments and wildcards included', () => {
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/tenants/{tenantId}/devices',
        '/tenants/{tenantId}/devices/{id}',
        '/tenants/{tenantId}/devices/{id}/firmware',
        '/operator/status',
        '/feed',
        '/files',
        '/files/{name}',
        major === 5 ? '/static/{path}' : '/static/{0}',
        '/health',
      ].sort(),
    );
    expect(Object.keys(doc.paths['/tenants/{tenantId}/devices'] ?? {})).toEqual(['get', 'post']);
  });

  it('answers every documented operation at its documented path, never with 404', async () => {
    for (const [template, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item)) {
        const response = await fetch(`${base}${concrete(template)}`, {
          method: method.toUpperCase(),
          headers: { 'x-api-key': OPERATOR_KEY },
        });
        await response.arrayBuffer();
        expect(response.status, `${method} ${template}`).not.toBe(404);
      }
    }
  });

  it('takes path, query and header parameters from validate() and paginate()', () => {
    const list = operation(doc, '/tenants/{tenantId}/devices', 'get');
    expect(list.parameters).toEqual([
      {
        name: 'tenantId',
        in: 'path',
        required: true,
        schema: { type: 'string', format: 'slug', maxLength: 50 },
      },
      { name: 'tag', in: 'query', schema: { type: 'string', maxLength: 50 } },
      {
        name: 'limit',
        in: 'query',
        description: 'Rows to return; more than 100 returns 100.',
        schema: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
      },
      {
        name: 'offset',
        in: 'query',
        description: 'Rows to skip.',
        schema: { type: 'integer', minimum: 0, maximum: 10_000, default: 0 },
      },
      {
        name: 'cursor',
        in: 'query',
        description: 'A cursor from an earlier page; not together with offset.',
        schema: { type: 'string', maxLength: 512, pattern: '^[A-Za-z0-9_\\-.=~]+$' },
      },
    ]);
    expect(operation(doc, '/feed', 'get').parameters).toEqual([
      { name: 'x-client', in: 'header', schema: { type: 'string', maxLength: 40 } },
    ]);
    const one = operation(doc, '/tenants/{tenantId}/devices/{id}', 'get');
    expect(one.parameters?.map((p) => [p.name, p.in, p.schema.format])).toEqual([
      ['tenantId', 'path', 'slug'],
      ['id', 'path', 'device-id'],
    ]);
  });

  it('describes a path parameter no schema covers as a string, and a wildcard as segments', () => {
    expect(operation(doc, '/files/{name}', 'get').parameters).toEqual([
      { name: 'name', in: 'path', required: true, schema: { type: 'string' } },
    ]);
    expect(operation(doc, '/files', 'get').parameters).toBeUndefined();
    const wildcard = major === 5 ? '/static/{path}' : '/static/{0}';
    expect(operation(doc, wildcard, 'get').parameters).toEqual([
      {
        name: major === 5 ? 'path' : '0',
        in: 'path',
        required: true,
        description: 'One or more path segments.',
        schema: { type: 'string' },
      },
    ]);
  });

  it('puts the body schema in requestBody, with shared $id schemas and $defs as components', () => {
    const create = operation(doc, '/tenants/{tenantId}/devices', 'post');
    expect(create.requestBody).toEqual({
      required: true,
      description: 'At most 16384 bytes.',
      content: {
        'application/json': {
          schema: { $ref: '#/components/schemas/PostTenantsTenantIdDevicesBody' },
        },
      },
    });
    const body = doc.components.schemas?.PostTenantsTenantIdDevicesBody as {
      properties: Record<string, { items?: unknown }>;
    };
    expect(body.properties.location).toEqual({ $ref: '#/components/schemas/location' });
    expect(body.properties.readings?.items).toEqual({
      $ref: '#/components/schemas/PostTenantsTenantIdDevicesBody/$defs/reading',
    });
    expect(doc.components.schemas?.location).toMatchObject({
      type: 'object',
      required: ['lat', 'lon'],
    });
    expect(doc.components.schemas?.location).not.toHaveProperty('$id');
  });

  it('describes an upload body by its allowed media types and size', () => {
    const upload = operation(doc, '/tenants/{tenantId}/devices/{id}/firmware', 'put');
    expect(upload.requestBody).toEqual({
      required: true,
      description:
        'The file itself as the body, at most 1048576 bytes; its type is checked from its bytes.',
      content: { 'application/gzip': {} },
    });
    expect(upload.responses['413']?.['x-bulwark-codes']).toContain('upload_too_large');
    expect(upload.responses['415']?.['x-bulwark-codes']).toEqual(
      expect.arrayContaining(['unsupported_file_type', 'file_type_mismatch']),
    );
  });

  it('declares the security schemes and each operation’s requirement with its permissions', () => {
    expect(doc.components.securitySchemes).toEqual({
      bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
    });
    const create = operation(doc, '/tenants/{tenantId}/devices', 'post');
    expect(create.security).toEqual([{ bearer: ['devices:write'] }, { apiKey: ['devices:write'] }]);
    expect(create['x-bulwark-permissions']).toEqual(['devices:write']);
    expect(create['x-bulwark-scope']).toBe('customer');
    const one = operation(doc, '/tenants/{tenantId}/devices/{id}', 'get');
    expect(one.security).toEqual([
      { bearer: ['devices:read'] },
      { bearer: ['devices:admin'] },
      { apiKey: ['devices:read'] },
      { apiKey: ['devices:admin'] },
    ]);
    expect(one['x-bulwark-any-permissions']).toEqual([['devices:read', 'devices:admin']]);
    expect(operation(doc, '/operator/status', 'get')['x-bulwark-scope']).toBe('operator');
    expect(operation(doc, '/feed', 'get').security).toEqual([{ bearer: [] }, {}]);
    expect(operation(doc, '/health', 'get').security).toBeUndefined();
  });

  it('documents 401 and 403 as problem+json answers with their WWW-Authenticate header', () => {
    const create = operation(doc, '/tenants/{tenantId}/devices', 'post');
    const problem = {
      'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
    };
    expect(create.responses['401']).toMatchObject({
      content: problem,
      headers: { 'WWW-Authenticate': { schema: { type: 'string' } } },
      'x-bulwark-codes': ['unauthorized'],
    });
    expect(create.responses['403']).toMatchObject({
      content: problem,
      'x-bulwark-codes': ['forbidden'],
    });
    expect(String(create.responses['403']?.description)).toMatch(/^Forbidden\.\n\n- `forbidden`: /);
    expect(operation(doc, '/health', 'get').responses['401']).toBeUndefined();
  });

  it('documents 429 with the headers each rate-limit policy sends, on the methods it counts', () => {
    const create = operation(doc, '/tenants/{tenantId}/devices', 'post');
    expect(create.responses['429']?.['x-bulwark-codes']).toEqual(['client_banned', 'rate_limited']);
    expect(Object.keys(create.responses['429']?.headers as object).sort()).toEqual(
      [
        'RateLimit',
        'RateLimit-Policy',
        'Retry-After',
        'X-RateLimit-Limit',
        'X-RateLimit-Remaining',
        'X-RateLimit-Reset',
      ].sort(),
    );
    expect(create['x-bulwark-rate-limits']).toEqual([
      { policy: 'device-writes', limit: 10, windowMs: 60_000 },
    ]);
    // The write policy counts POST only; the abuse guard covers every route.
    const list = operation(doc, '/tenants/{tenantId}/devices', 'get');
    expect(list['x-bulwark-rate-limits']).toBeUndefined();
    expect(list.responses['429']?.['x-bulwark-codes']).toEqual(['client_banned']);
    const feed = operation(doc, '/feed', 'get');
    expect(Object.keys(feed.responses['429']?.headers as object).sort()).toEqual(
      ['RateLimit', 'RateLimit-Policy', 'Retry-After'].sort(),
    );
  });

  it('documents 413, 415 and 422 from the validators, and 400 from the query limits', () => {
    const create = operation(doc, '/tenants/{tenantId}/devices', 'post');
    expect(create.responses['413']?.['x-bulwark-codes']).toEqual(
      expect.arrayContaining(['payload_too_large', 'json_too_many_keys']),
    );
    expect(create.responses['415']?.['x-bulwark-codes']).toEqual(
      expect.arrayContaining(['unsupported_charset', 'unsupported_content_encoding']),
    );
    expect(create.responses['422']?.['x-bulwark-codes']).toEqual(
      expect.arrayContaining(['validation_failed', 'json_number_too_large']),
    );
    expect(create.responses['400']?.['x-bulwark-codes']).toEqual(
      expect.arrayContaining(['invalid_json', 'too_many_query_params']),
    );
    const list = operation(doc, '/tenants/{tenantId}/devices', 'get');
    expect(list.responses['413']).toBeUndefined();
    expect(list.responses['400']?.['x-bulwark-codes']).toContain('invalid_pagination');
    expect(create.responses['500']?.['x-bulwark-codes']).toEqual(['internal_error']);
  });

  it('takes summaries, tags, operationIds and success responses from describeRoute()', () => {
    const list = operation(doc, '/tenants/{tenantId}/devices', 'get');
    expect(list).toMatchObject({
      summary: 'List devices',
      operationId: 'listDevices',
      tags: ['devices'],
    });
    expect(list.responses['200']).toEqual({
      description: 'A page of devices',
      content: {
        'application/json': {
          schema: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                id: { type: 'string', maxLength: 64 },
                name: { type: 'string', maxLength: 100 },
                tags: { type: 'array', items: { type: 'string', maxLength: 50 }, maxItems: 10 },
              },
              required: ['id', 'name'],
              additionalProperties: false,
            },
            maxItems: 100,
          },
        },
      },
    });
    const create = operation(doc, '/tenants/{tenantId}/devices', 'post');
    expect(create.responses['201']).toMatchObject({
      headers: { Location: { description: 'The new device', schema: { type: 'string' } } },
    });
    expect(create.responses['2XX']).toBeUndefined();
    expect(doc.tags).toEqual([{ name: 'devices', description: 'Devices of a tenant' }]);
  });

  it('gives an error status a route declares itself the problem+json body', () => {
    const one = operation(doc, '/tenants/{tenantId}/devices/{id}', 'get');
    expect(one.responses['404']).toEqual({
      description: 'No such device in the tenant',
      content: {
        'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
      },
    });
  });

  it('keeps a route without schemas, marked x-bulwark-unvalidated, with a generic success', () => {
    const health = operation(doc, '/health', 'get');
    expect(health['x-bulwark-unvalidated']).toBe(true);
    expect(health.responses['2XX']).toEqual({
      description: 'Success. The route declares no response: describe it with describeRoute().',
    });
    expect(
      operation(doc, '/tenants/{tenantId}/devices', 'get')['x-bulwark-unvalidated'],
    ).toBeUndefined();
  });

  it('describes the error answers the app really sends: each matches the Problem schema', async () => {
    const check = new Ajv2020({ strict: false }).compile(
      doc.components.schemas?.Problem as Record<string, unknown>,
    );
    const answers = [
      await fetch(`${base}/tenants/acme/devices`),
      await fetch(`${base}/tenants/acme/devices`, {
        method: 'POST',
        headers: { 'x-api-key': READER_KEY, 'content-type': 'application/json' },
        body: '{}',
      }),
      await fetch(`${base}/tenants/acme/devices?limit=0`, { headers: { 'x-api-key': READER_KEY } }),
      await fetch(`${base}/tenants/acme/devices?color=red`, {
        headers: { 'x-api-key': READER_KEY },
      }),
    ];
    expect(answers.map((r) => r.status)).toEqual([401, 403, 422, 422]);
    for (const answer of answers) {
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const body = await answer.json();
      expect(check(body), JSON.stringify(check.errors)).toBe(true);
    }
  });

  it('documents the rate-limit headers a real 429 carries', async () => {
    const feed = operation(doc, '/feed', 'get');
    const documented = Object.keys(feed.responses['429']?.headers as object).map((h) =>
      h.toLowerCase(),
    );
    let limited: globalThis.Response | undefined;
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${base}/feed`);
      await response.arrayBuffer();
      if (response.status === 429) limited = response;
    }
    expect(limited?.status).toBe(429);
    for (const header of documented) expect(limited?.headers.get(header), header).toBeTruthy();
  });
});

describe('openApiDocument refuses what it cannot describe truthfully', () => {
  const express = EXPRESS[5];
  const handler = (_req: unknown, res: { json(body: unknown): void }) => res.json({});

  it('refuses missing info, an unknown option with a hint, and something that is not an app', () => {
    const app = express();
    expect(() => openApiDocument(app, {} as never)).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_OPENAPI_INVALID_OPTION',
        message: expect.stringContaining("title: 'Devices API', version: '1.4.0'"),
      }),
    );
    expect(() => openApiDocument(app, { info, exlude: ['/x'] } as never)).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_OPENAPI_UNKNOWN_OPTION',
        message: expect.stringContaining('Did you mean `exclude`?'),
      }),
    );
    expect(() => openApiDocument(app, { info, exclude: ['internal'] })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_OPENAPI_INVALID_OPTION' }),
    );
    expect(() => openApiDocument({ get() {} }, { info })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_OPENAPI_NOT_AN_APP' }),
    );
  });

  it('refuses a params schema that requires a parameter the path does not have', () => {
    const app = express();
    app.get(
      '/devices/:deviceId',
      validate({
        params: {
          type: 'object',
          properties: { id: { type: 'string', maxLength: 10 } },
          required: ['id'],
        },
      }),
      handler,
    );
    expect(() => openApiDocument(app, { info })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_OPENAPI_PATH_PARAMS',
        message: expect.stringContaining(
          'GET /devices/{deviceId} runs validate() with a params schema that requires "id"',
        ),
      }),
    );
  });

  it('refuses a mounted Express app unless its path is excluded, and leaves excluded routes out', () => {
    const app = express();
    const legacy = express();
    legacy.get('/ping', handler);
    app.use('/legacy', legacy);
    app.get('/internal/debug', handler);
    app.get('/devices', handler);
    expect(() => openApiDocument(app, { info })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_OPENAPI_SUB_APP',
        message: expect.stringContaining('mounted at "/legacy"'),
      }),
    );
    const doc = openApiDocument(app, { info, exclude: ['/legacy', '/internal'] });
    expect(Object.keys(doc.paths)).toEqual(['/devices']);
  });

  it('refuses describeRoute() with more than tags in router.use()', () => {
    const app = express();
    const router = express.Router();
    router.use(describeRoute({ tags: ['devices'], summary: 'Devices' }));
    router.get('/devices', handler);
    app.use('/v1', router);
    expect(() => openApiDocument(app, { info })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_OPENAPI_ROUTER_DESCRIPTION',
        message: expect.stringContaining(
          'describeRoute() with "summary" is mounted with use() or all() at "/v1"',
        ),
      }),
    );
  });

  it('refuses a description of a contract version it does not know', () => {
    const app = express();
    const future = Object.assign((_req: unknown, _res: unknown, next: () => void) => next(), {
      openapi: { version: 2, kind: 'validate' },
    });
    app.get('/devices', future, handler);
    expect(() => openApiDocument(app, { info })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_OPENAPI_DESCRIPTION_VERSION',
        message: expect.stringContaining('version 2 of the contract'),
      }),
    );
  });

  it('refuses one operationId on two routes, and numbers it on the paths of one optional route', () => {
    const app = express();
    app.get('/a', describeRoute({ operationId: 'getThing' }), handler);
    app.get('/b', describeRoute({ operationId: 'getThing' }), handler);
    expect(() => openApiDocument(app, { info })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_OPENAPI_DUPLICATE_OPERATION_ID' }),
    );
    const optional = express();
    optional.get('/files{/:name}', describeRoute({ operationId: 'getFile' }), handler);
    const doc = openApiDocument(optional, { info });
    expect([
      doc.paths['/files']?.get?.operationId,
      doc.paths['/files/{name}']?.get?.operationId,
    ]).toEqual(['getFile', 'getFile_2']);
  });

  it('refuses two different schemas under one $id', () => {
    const app = express();
    const shared = (maxLength: number) => ({ $id: 'name', type: 'string' as const, maxLength });
    const body = { type: 'object', properties: { name: { $ref: 'name' } } } as const;
    app.post('/a', validate({ body }, { schemas: [shared(10)] }), handler);
    app.post('/b', validate({ body }, { schemas: [shared(20)] }), handler);
    expect(() => openApiDocument(app, { info })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_OPENAPI_SCHEMA_CONFLICT',
        message: expect.stringContaining('$id "name"'),
      }),
    );
  });

  it('refuses a mount path that a router older than 2.3.0 did not keep', () => {
    const app = express();
    const router = express.Router();
    router.get('/devices', handler);
    app.use('/v1', router);
    const layers = (
      app as unknown as { router: { stack: { rawPath?: unknown; handle: unknown }[] } }
    ).router.stack;
    const mount = layers.find((layer) => layer.handle === router);
    delete mount?.rawPath;
    expect(() => openApiDocument(app, { info })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_OPENAPI_MOUNT_PATH',
        message: expect.stringContaining('npm update router'),
      }),
    );
  });

  it('returns a copy: changing the document changes neither the app nor the next document', () => {
    const app = featureApp(5);
    const first = openApiDocument(app, { info });
    (first.components.schemas?.location as Record<string, unknown>).type = 'string';
    operation(first, '/health', 'get').summary = 'changed';
    const second = openApiDocument(app, { info });
    expect(second.components.schemas?.location).toMatchObject({ type: 'object' });
    expect(operation(second, '/health', 'get').summary).toBeUndefined();
  });
});
