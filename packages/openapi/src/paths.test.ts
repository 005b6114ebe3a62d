// Tests for route and mount paths in both Express syntaxes: each documented template is a path
// the real app answers.
import { listen } from '@bulwark/test-utils';
import type { Express } from 'express';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from './document.js';
import { EXPRESS } from './test-app.js';

const info = { title: 'Paths', version: '1.0.0' };

type Answer = { params: Record<string, unknown> };

function app(major: 4 | 5, build: (app: Express, express: (typeof EXPRESS)[4]) => void): Express {
  const express = EXPRESS[major];
  const app = express();
  build(app, express);
  return app;
}

function echo(req: { params: Record<string, unknown> }, res: { json(body: Answer): void }) {
  res.json({ params: { ...req.params } });
}

/** Every path template of the app's document, in order. */
function templates(target: Express): string[] {
  return Object.keys(openApiDocument(target, { info }).paths);
}

async function answers(target: Express, path: string): Promise<{ status: number; body: Answer }> {
  const server = await listen(target);
  try {
    const response = await fetch(`${server.url}${path}`);
    return { status: response.status, body: (await response.json()) as Answer };
  } finally {
    await server.close();
  }
}

describe('Express 5 paths', () => {
  it('turns :param, *wildcard, quoted names and several parameters in one segment into templates', async () => {
    const target = app(5, (a) => {
      a.get('/report/:file.:ext', echo);
      a.get('/assets/*rest', echo);
      a.get('/by/:"user id"', echo);
    });
    expect(templates(target)).toEqual(['/report/{file}.{ext}', '/assets/{rest}', '/by/{user id}']);
    expect((await answers(target, '/report/q1.csv')).body.params).toEqual({
      file: 'q1',
      ext: 'csv',
    });
  });

  it('expands optional groups, nested ones included, into one path each', async () => {
    const target = app(5, (a) => {
      a.get('/logs{/:year{/:month}}', echo);
    });
    expect(templates(target)).toEqual(['/logs', '/logs/{year}', '/logs/{year}/{month}']);
    for (const path of ['/logs', '/logs/2026', '/logs/2026/12']) {
      expect((await answers(target, path)).status).toBe(200);
    }
  });

  it('joins nested routers mounted at paths with parameters and optional parts', async () => {
    const target = app(5, (a, express) => {
      const inner = express.Router({ mergeParams: true });
      inner.get('/', echo);
      inner.get('/items/:item', echo);
      const outer = express.Router({ mergeParams: true });
      outer.use('/shelves/:shelf', inner);
      a.use('/v{:version}', outer);
    });
    expect(templates(target)).toEqual([
      '/v/shelves/{shelf}',
      '/v{version}/shelves/{shelf}',
      '/v/shelves/{shelf}/items/{item}',
      '/v{version}/shelves/{shelf}/items/{item}',
    ]);
    expect((await answers(target, '/v2/shelves/s1/items/i9')).body.params).toEqual({
      version: '2',
      shelf: 's1',
      item: 'i9',
    });
  });

  it('documents a route given several paths under each of them', () => {
    const target = app(5, (a) => {
      a.get(['/colour', '/color'], echo);
    });
    expect(templates(target)).toEqual(['/colour', '/color']);
  });
});

describe('Express 4 paths', () => {
  it('turns :param?, :param(regex) and * into templates, the regex into a pattern', async () => {
    const target = app(4, (a) => {
      a.get('/orders/:id(\\d+)', echo);
      a.get('/export.:format?', echo);
      a.get('/files/*', echo);
    });
    const doc = openApiDocument(target, { info });
    expect(Object.keys(doc.paths)).toEqual([
      '/orders/{id}',
      '/export',
      '/export.{format}',
      '/files/{0}',
    ]);
    expect(doc.paths['/orders/{id}']?.get?.parameters).toEqual([
      { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^(?:\\d+)$' } },
    ]);
    expect((await answers(target, '/orders/42')).status).toBe(200);
    expect((await answers(target, '/export.csv')).body.params).toEqual({ format: 'csv' });
  });

  it('reads mount paths back from the regular expressions Express 4 keeps', async () => {
    const target = app(4, (a, express) => {
      const inner = express.Router({ mergeParams: true });
      inner.get('/items/:item', echo);
      const outer = express.Router({ mergeParams: true });
      outer.use('/shelves/:shelf?', inner);
      a.use('/api.v1/:tenant', outer);
    });
    expect(templates(target)).toEqual([
      '/api.v1/{tenant}/shelves/items/{item}',
      '/api.v1/{tenant}/shelves/{shelf}/items/{item}',
    ]);
    expect((await answers(target, '/api.v1/acme/shelves/s1/items/i9')).body.params).toEqual({
      tenant: 'acme',
      shelf: 's1',
      item: 'i9',
    });
  });

  it('refuses a route whose path is a regular expression, naming it and the fix', () => {
    const target = app(4, (a) => {
      a.get(/^\/legacy\/.*$/, echo);
    });
    expect(() => openApiDocument(target, { info })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_OPENAPI_ROUTE_PATH',
        message: expect.stringMatching(/\/\^\\\/legacy.*not a string.*string path/),
      }),
    );
  });

  it('refuses a route path with regular-expression characters Express 4 passes through', () => {
    const target = app(4, (a) => {
      a.get('/ab+cd', echo);
    });
    expect(() => openApiDocument(target, { info })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_OPENAPI_ROUTE_PATH',
        message: expect.stringContaining('"/ab+cd" uses the regular-expression character "+"'),
      }),
    );
  });
});
