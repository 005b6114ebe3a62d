// Tests for jsonBody() over real HTTP: size, depth, width, prototype keys, encodings and types.
import { request as httpRequest } from 'node:http';
import { listen } from '@bulwark/test-utils';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { jsonBody } from './json-body.js';
import { createApp, finish } from './test-app.js';

function bodyApp(options?: Parameters<typeof jsonBody>[0]) {
  const app = createApp();
  app.use(jsonBody(options));
  app.post('/echo-shape', (req, res) => {
    res.json({
      type: Array.isArray(req.body) ? 'array' : typeof req.body,
      keys: req.body ? Object.keys(req.body).length : 0,
    });
  });
  return finish(app);
}

const post = (body: string, type = 'application/json', options?: Parameters<typeof jsonBody>[0]) =>
  request(bodyApp(options)).post('/echo-shape').set('content-type', type).send(body);

describe('jsonBody', () => {
  it('parses JSON objects and arrays, including +json types', async () => {
    await post('{"a":1,"b":[1,2]}').expect(200, { type: 'object', keys: 2 });
    await post('[1,2,3]', 'application/vnd.api+json').expect(200, { type: 'array', keys: 3 });
    await post('{"a":1}', 'application/json; charset=UTF-8').expect(200, {
      type: 'object',
      keys: 1,
    });
  });

  it('answers 413 payload_too_large for a body over the limit', async () => {
    const res = await post(JSON.stringify({ a: 'x'.repeat(2000) }), 'application/json', {
      limit: '1kb',
    }).expect(413);
    expect(res.body).toMatchObject({ code: 'payload_too_large', details: { limit: 1024 } });
    expect(res.headers.connection).toBe('close');
  });

  it('stops reading a chunked body as soon as it passes the limit', async () => {
    const server = await listen(bodyApp({ limit: 1024 }));
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${server.url}/echo-shape`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          req.destroy();
        });
        req.on('error', reject);
        req.write('{"a":"');
        // Keep streaming without ever finishing: the answer must come before the end.
        const timer = setInterval(() => {
          if (!req.destroyed) req.write('x'.repeat(512));
        }, 5);
        req.on('close', () => clearInterval(timer));
      });
      expect(status).toBe(413);
    } finally {
      await server.close();
    }
  });

  it('answers 400 json_too_deep for nesting deeper than maxDepth', async () => {
    const deep = `${'['.repeat(33)}${']'.repeat(33)}`;
    const res = await post(deep).expect(400);
    expect(res.body.code).toBe('json_too_deep');
    await post(`${'['.repeat(32)}${']'.repeat(32)}`).expect(200);
  });

  it('refuses deep nesting that would exhaust the parser before parsing it', async () => {
    const res = await post(`${'['.repeat(50_000)}${']'.repeat(50_000)}`).expect(400);
    expect(res.body.code).toBe('json_too_deep');
  });

  it('answers 413 for too many keys or too long an array', async () => {
    const wide = JSON.stringify(
      Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`k${i}`, i])),
    );
    expect((await post(wide).expect(413)).body.code).toBe('json_too_many_keys');
    const long = JSON.stringify(Array.from({ length: 11 }, () => 0));
    expect(
      (await post(long, 'application/json', { maxArrayLength: 10 }).expect(413)).body.code,
    ).toBe('json_array_too_long');
  });

  it('answers 400 for prototype-poisoning and duplicate keys', async () => {
    expect((await post('{"__proto__":{"isAdmin":true}}').expect(400)).body.code).toBe(
      'json_forbidden_key',
    );
    expect(
      (await post('{"a":{"constructor":{"prototype":{"isAdmin":true}}}}').expect(400)).body.code,
    ).toBe('json_forbidden_key');
    expect((await post('{"role":"user","role":"admin"}').expect(400)).body.code).toBe(
      'json_duplicate_key',
    );
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  it('answers 422 json_number_too_large for a number that would parse as Infinity', async () => {
    expect((await post('{"limit":1e400}').expect(422)).body.code).toBe('json_number_too_large');
    expect((await post('[-1e999]').expect(422)).body.code).toBe('json_number_too_large');
    await post('{"limit":1e308,"tiny":1e-400}').expect(200);
  });

  it('answers 400 invalid_json for broken JSON, bare values and invalid UTF-8', async () => {
    expect((await post('{"a":').expect(400)).body.code).toBe('invalid_json');
    expect((await post('"just a string"').expect(400)).body.code).toBe('invalid_json');
    expect((await post('42').expect(400)).body.code).toBe('invalid_json');
    const server = await listen(bodyApp());
    try {
      const res = await fetch(`${server.url}/echo-shape`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]),
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe('invalid_json');
    } finally {
      await server.close();
    }
  });

  it('answers 415 for another charset or a compressed body', async () => {
    expect((await post('{}', 'application/json; charset=latin1').expect(415)).body.code).toBe(
      'unsupported_charset',
    );
    const res = await request(bodyApp())
      .post('/echo-shape')
      .set('content-type', 'application/json')
      .set('content-encoding', 'gzip')
      .send('{}')
      .expect(415);
    expect(res.body.code).toBe('unsupported_content_encoding');
  });

  it('leaves other media types alone unless requireJson is set', async () => {
    await post('a=1', 'application/x-www-form-urlencoded').expect(200, {
      type: 'undefined',
      keys: 0,
    });
    expect((await post('a=1', 'text/plain', { requireJson: true }).expect(415)).body.code).toBe(
      'unsupported_media_type',
    );
  });

  it('never echoes the body in an error', async () => {
    const res = await post('{"secret-token-x":1,"secret-token-x":2}').expect(400);
    expect(res.text).not.toContain('secret-token-x');
  });

  it('refuses bad options at construction', () => {
    expect(() => jsonBody({ limit: '100 kilobytes' })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_VALIDATORS_INVALID_OPTION' }),
    );
    expect(() => jsonBody({ maxDepth: 0 })).toThrow(/maxDepth: 0 is not valid/);
    expect(() => jsonBody({ maxdepth: 3 } as never)).toThrow(/Did you mean `maxDepth`\?/);
  });
});
