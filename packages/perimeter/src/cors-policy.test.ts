// corsPolicy() over real HTTP: allowed and disallowed origins, preflights, patterns and bad config.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { request as httpRequest } from 'node:http';
import { type Listening, listen } from '@bulwark/test-utils';
import cors from 'cors';
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { corsPolicy } from './cors-policy.js';

function appWith(options: Parameters<typeof corsPolicy>[0]) {
  const app = express();
  app.use(corsPolicy(options));
  app.get('/items', (_req, res) => {
    res.json([1, 2]);
  });
  app.post('/items', (_req, res) => {
    res.status(201).json({ created: true });
  });
  return app;
}

const events: unknown[] = [];
const onEvent = (message: unknown) => events.push(message);

describe('corsPolicy', () => {
  afterEach(() => {
    unsubscribe('bulwark:perimeter:origin-rejected', onEvent);
    events.length = 0;
  });

  it('answers an allowed origin with exactly that origin and Vary: Origin', async () => {
    const app = appWith({ origins: 'https://app.example.com, https://admin.example.com' });
    const res = await request(app)
      .get('/items')
      .set('Origin', 'https://admin.example.com')
      .expect(200);
    expect(res.headers['access-control-allow-origin']).toBe('https://admin.example.com');
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    expect(res.headers.vary).toMatch(/Origin/);
  });

  it('sends no CORS headers to a disallowed origin, so the browser blocks the read', async () => {
    const app = appWith({ origins: ['https://app.example.com'] });
    const res = await request(app).get('/items').set('Origin', 'https://evil.example').expect(200);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers.vary).toMatch(/Origin/);
  });

  it('refuses a preflight from a disallowed origin with 403 origin_rejected', async () => {
    subscribe('bulwark:perimeter:origin-rejected', onEvent);
    const app = appWith({ origins: ['https://app.example.com'] });
    const res = await request(app)
      .options('/items')
      .set('Origin', 'https://evil.example')
      .set('Access-Control-Request-Method', 'POST')
      .expect(403);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['access-control-allow-methods']).toBeUndefined();
    expect(events).toEqual([
      expect.objectContaining({ origin: 'https://evil.example', preflight: true }),
    ]);
  });

  it('answers a preflight from an allowed origin with the configured methods and max age', async () => {
    const app = appWith({
      origins: ['https://app.example.com'],
      methods: ['GET', 'POST'],
      maxAge: 300,
    });
    const res = await request(app)
      .options('/items')
      .set('Origin', 'https://app.example.com')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type')
      .expect(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(res.headers['access-control-allow-methods']).toBe('GET,POST');
    expect(res.headers['access-control-allow-headers']).toBe(
      'Authorization,Content-Type,X-Request-Id',
    );
    expect(res.headers['access-control-max-age']).toBe('300');
  });

  it('never reflects a look-alike origin', async () => {
    const app = appWith({ origins: ['https://app.example.com'] });
    for (const origin of [
      'https://app.example.com.evil.net',
      'https://evilapp.example.com',
      'http://app.example.com',
      'https://app.example.com:8443',
      'null',
    ]) {
      const res = await request(app).get('/items').set('Origin', origin);
      expect(res.headers['access-control-allow-origin'], origin).toBeUndefined();
    }
  });

  it('matches subdomain patterns but not the bare domain or a suffix trick', async () => {
    const app = appWith({ origins: ['https://*.example.com'] });
    const sub = await request(app).get('/items').set('Origin', 'https://a.b.example.com');
    expect(sub.headers['access-control-allow-origin']).toBe('https://a.b.example.com');
    for (const origin of [
      'https://example.com',
      'https://badexample.com',
      'https://x.example.com.evil.net',
    ]) {
      const res = await request(app).get('/items').set('Origin', origin);
      expect(res.headers['access-control-allow-origin'], origin).toBeUndefined();
    }
  });

  it('sends credentials only when enabled', async () => {
    const app = appWith({ origins: ['https://app.example.com'], credentials: true });
    const res = await request(app).get('/items').set('Origin', 'https://app.example.com');
    expect(res.headers['access-control-allow-credentials']).toBe('true');
  });

  it('allows any origin with * for a public API, without credentials', async () => {
    const res = await request(appWith({ origins: '*' }))
      .get('/items')
      .set('Origin', 'https://x.test');
    expect(res.headers['access-control-allow-origin']).toBe('*');
  });

  it('refuses * with credentials at construction', () => {
    expect(() => corsPolicy({ origins: '*', credentials: true })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_CORS_WILDCARD_CREDENTIALS' }),
    );
  });

  it('refuses an unset or empty origin list, as from a missing environment variable', () => {
    expect(() => corsPolicy({ origins: undefined })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_CORS_NO_ORIGINS' }),
    );
    expect(() => corsPolicy({ origins: ' , ' })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_CORS_NO_ORIGINS' }),
    );
  });

  it('refuses unanchored and stateful RegExps, paths, null and broad wildcards', () => {
    for (const bad of [
      /example\.com$/,
      /^https:\/\/a\.example\.com/,
      /^https:\/\/a\.example\.com$|evil/,
      /^https:\/\/a\.example\.com$/g,
      'https://app.example.com/path',
      'null',
      'https://*.com',
      'https://app.*.com',
      'app.example.com',
    ]) {
      expect(() => corsPolicy({ origins: [bad] }), String(bad)).toThrow(
        expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_CORS_ORIGIN' }),
      );
    }
  });

  it('refuses methods given as a comma-separated string with a configuration error, not a TypeError', () => {
    for (const bad of ['GET,POST', ['GET', '*'], [42]]) {
      expect(
        () => corsPolicy({ origins: ['https://app.example.com'], methods: bad as never }),
        String(bad),
      ).toThrow(
        expect.objectContaining({
          code: 'ERR_BULWARK_PERIMETER_INVALID_OPTION',
          message: expect.stringContaining("such as ['GET', 'POST']"),
        }),
      );
    }
  });

  it('accepts an anchored RegExp with grouped alternation', async () => {
    const app = appWith({ origins: [/^https:\/\/(a|b)\.example\.com$/] });
    const res = await request(app).get('/items').set('Origin', 'https://b.example.com');
    expect(res.headers['access-control-allow-origin']).toBe('https://b.example.com');
  });

  it('sends an allowed origin exactly the headers cors sends, in the same order, on every kind of request', async () => {
    const configs = [
      { origins: ['https://app.example.com'] },
      {
        origins: ['https://app.example.com'],
        credentials: true,
        exposedHeaders: ['X-Request-Id', 'RateLimit'],
      },
      { origins: '*', exposedHeaders: ['X-Request-Id'] },
      { origins: ['https://app.example.com'], allowedHeaders: [], maxAge: 0 },
    ];
    const servers: Listening[] = [];
    try {
      for (const options of configs) {
        const both = [corsPolicy(options), reference(options)].map((middleware) => {
          const app = express();
          // A Vary set before the middleware is merged into, not replaced.
          app.use((req, res, next) => {
            if (req.query.vary !== undefined) res.setHeader('Vary', String(req.query.vary));
            next();
          });
          app.use(middleware);
          app.all('/items', (_req, res) => {
            res.json([1]);
          });
          return app;
        });
        const [ours, theirs] = await Promise.all(both.map((app) => listen(app)));
        servers.push(ours as Listening, theirs as Listening);
        for (const [method, path, headers] of [
          ['GET', '/items', {}],
          ['POST', '/items?vary=Accept-Encoding', {}],
          ['GET', '/items?vary=*', {}],
          ['PUT', '/items', {}],
          ['OPTIONS', '/items', { 'Access-Control-Request-Method': 'PUT' }],
          ['OPTIONS', '/items', {}],
        ] as const) {
          const answers = await Promise.all(
            [ours, theirs].map((server) =>
              rawAnswer(`${server?.url}${path}`, method, {
                Origin: 'https://app.example.com',
                ...headers,
              }),
            ),
          );
          expect(answers[0], `${JSON.stringify(options)} ${method} ${path}`).toEqual(answers[1]);
        }
      }
    } finally {
      for (const server of servers) await server.close();
    }
  });
});

/** Status, headers in the order they were sent (without Date and ETag), and body. */
function rawAnswer(url: string, method: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: string[][]; body: string }>((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        const pairs: string[][] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i] as string;
          if (!/^(date|etag)$/i.test(name)) pairs.push([name, res.rawHeaders[i + 1] as string]);
        }
        resolve({ status: res.statusCode ?? 0, headers: pairs, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Plain `cors` configured as corsPolicy() configures it for an allowed origin. */
function reference(options: Parameters<typeof corsPolicy>[0]) {
  return cors({
    methods: [...(options.methods ?? ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'])],
    allowedHeaders: [
      ...(options.allowedHeaders ?? ['Authorization', 'Content-Type', 'X-Request-Id']),
    ],
    exposedHeaders: [...(options.exposedHeaders ?? [])],
    credentials: options.credentials ?? false,
    maxAge: options.maxAge ?? 600,
    preflightContinue: false,
    optionsSuccessStatus: 204,
    origin: options.origins === '*' ? '*' : true,
  });
}
