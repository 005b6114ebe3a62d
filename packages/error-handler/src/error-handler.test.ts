// Tests for errorHandler() and notFound(): every mapping over real HTTP, headers, logs and events.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import http from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { createTestDatabase, listen, requireService, type TestDatabase } from '@bulwark/test-utils';
import express, { type Express } from 'express';
import createError from 'http-errors';
import pg from 'pg';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { requestContext } from './context.js';
import { errorHandler, notFound } from './error-handler.js';
import type { ErrorEvent } from './events.js';
import { httpLogger } from './http-logger.js';
import { HttpProblem } from './http-problem.js';
import { captureLogger } from './test-helpers.js';
import type { ErrorHandlerOptions } from './types.js';

const PROBLEM = 'application/problem+json; charset=utf-8';

function appWith(mount: (app: Express) => void, options: ErrorHandlerOptions = {}) {
  const capture = captureLogger();
  const app = express();
  app.use(requestContext());
  mount(app);
  app.use(notFound());
  app.use(errorHandler({ logger: capture.logger, ...options }));
  return { app, ...capture };
}

const savedEnv = process.env.NODE_ENV;
afterEach(() => {
  process.env.NODE_ENV = savedEnv;
});

describe('errorHandler with unknown errors', () => {
  it('answers a thrown error with the generic 500 problem and its trace id', async () => {
    const { app, lines } = appWith((a) =>
      a.get('/boom', () => {
        throw new Error('relation "users" does not exist');
      }),
    );
    const res = await request(app).get('/boom');
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toBe(PROBLEM);
    expect(res.body).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'Internal server error',
      code: 'internal_error',
      trace_id: res.headers['x-request-id'],
    });
    const [line] = lines();
    expect(line).toMatchObject({
      level: 'error',
      trace_id: res.body.trace_id,
      status: 500,
      code: 'internal_error',
    });
    expect((line!.err as Record<string, unknown>).message).toBe('relation "users" does not exist');
    expect((line!.err as Record<string, unknown>).stack).toContain('error-handler.test.ts');
  });

  it('answers a rejected async handler the same way', async () => {
    const { app } = appWith((a) =>
      a.get('/async', async () => {
        await Promise.resolve();
        throw new TypeError("Cannot read properties of undefined (reading 'id')");
      }),
    );
    const res = await request(app).get('/async');
    expect(res.status).toBe(500);
    expect(res.body.detail).toBe('Internal server error');
  });

  it('answers thrown non-errors (strings, plain objects, numbers) with the generic 500', async () => {
    const values: unknown[] = [
      'raw string /etc/passwd',
      { message: 'object /etc/passwd', status: 'x' },
      42,
    ];
    const { app } = appWith((a) =>
      a.get('/:i', (req) => {
        throw values[Number(req.params.i)];
      }),
    );
    for (const i of values.keys()) {
      const res = await request(app).get(`/${i}`);
      expect(res.status).toBe(500);
      expect(res.body.code).toBe('internal_error');
      expect(res.text).not.toContain('passwd');
    }
  });

  it('keeps the status and Retry-After of an unexposed HTTP error, with a generic body', async () => {
    const { app } = appWith((a) =>
      a.get('/', () => {
        // http-errors marks every 5xx expose: false.
        throw createError(503, 'pool exhausted at /srv/app/db.js:12', {
          headers: { 'retry-after': '5', Location: 'http://10.0.3.7/status' },
        });
      }),
    );
    const res = await request(app).get('/');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.headers.location).toBeUndefined();
    expect(res.body).toMatchObject({
      title: 'Service Unavailable',
      detail: 'Service unavailable',
      code: 'service_unavailable',
    });
    expect(res.text).not.toContain('/srv/app');
  });

  it("does not pass an upstream's status and headers on from an HTTP client's error", async () => {
    const { app } = appWith((a) => {
      a.use((_req, res, next) => {
        res.setHeader('Access-Control-Allow-Origin', 'https://app.example.com');
        next();
      });
      // What axios and undici throw when the service they called answered 401.
      a.get('/billing', () => {
        throw Object.assign(new Error('Response status code 401: Unauthorized'), {
          status: 401,
          statusCode: 401,
          headers: {
            'www-authenticate': 'Bearer realm="internal-billing"',
            'access-control-allow-origin': '*',
            server: 'billing-svc/2.3.1',
            location: 'http://10.0.3.7/login',
            'retry-after': '60',
          },
        });
      });
      a.get('/login', () => {
        throw createError(401, 'Authentication required', {
          code: 'unauthorized',
          headers: { 'WWW-Authenticate': 'Bearer realm="api"' },
        });
      });
    });
    const upstream = await request(app).get('/billing');
    expect(upstream.status).toBe(500);
    expect(upstream.body).toMatchObject({
      code: 'internal_error',
      detail: 'Internal server error',
    });
    expect(upstream.headers['access-control-allow-origin']).toBe('https://app.example.com');
    for (const name of ['www-authenticate', 'server', 'location', 'retry-after']) {
      expect(upstream.headers[name]).toBeUndefined();
    }
    expect(upstream.text).not.toMatch(/billing|10\.0\.3\.7/);

    const own = await request(app).get('/login');
    expect([own.status, own.body.code, own.headers['www-authenticate']]).toEqual([
      401,
      'unauthorized',
      'Bearer realm="api"',
    ]);
    expect(own.headers['access-control-allow-origin']).toBe('https://app.example.com');
  });

  it('does not show the message of a 4xx error that is not marked expose', async () => {
    const { app } = appWith((a) =>
      a.get('/', () => {
        throw Object.assign(new Error('SELECT * FROM users WHERE id = 1'), {
          status: 400,
          expose: false,
        });
      }),
    );
    const res = await request(app).get('/');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ detail: 'Bad request', code: 'bad_request' });
  });

  it('treats a status outside 400-599 as a 500', async () => {
    const { app } = appWith((a) =>
      a.get('/', () => {
        throw Object.assign(new Error('odd'), { status: 302, expose: true });
      }),
    );
    expect((await request(app).get('/')).status).toBe(500);
  });

  it('publishes bulwark:error-handler:error for each 5xx, without the message', async () => {
    const events: ErrorEvent[] = [];
    const listener = (message: unknown) => events.push(message as ErrorEvent);
    subscribe('bulwark:error-handler:error', listener);
    try {
      const { app } = appWith((a) =>
        a.get('/devices/:id', () => {
          throw new RangeError('secret detail');
        }),
      );
      const res = await request(app).get('/devices/7');
      await request(app).get('/missing');
      expect(events).toEqual([
        {
          status: 500,
          code: 'internal_error',
          traceId: res.body.trace_id,
          errorName: 'RangeError',
          method: 'GET',
          route: '/devices/:id',
        },
      ]);
    } finally {
      unsubscribe('bulwark:error-handler:error', listener);
    }
  });
});

describe('errorHandler with exposed errors', () => {
  it('keeps the message, code, errors and details of an http-errors 4xx', async () => {
    const { app, lines } = appWith((a) =>
      a.post('/devices', () => {
        throw createError(422, 'The request body is invalid.', {
          code: 'validation_failed',
          errors: [{ location: 'body', pointer: '/name', message: 'must be a string' }],
          details: { schema: 'device' },
        });
      }),
    );
    const res = await request(app).post('/devices');
    expect(res.status).toBe(422);
    expect(res.headers['content-type']).toBe(PROBLEM);
    expect(res.body).toEqual({
      type: 'about:blank',
      title: 'Unprocessable Entity',
      status: 422,
      detail: 'The request body is invalid.',
      code: 'validation_failed',
      trace_id: res.headers['x-request-id'],
      errors: [{ location: 'body', pointer: '/name', message: 'must be a string' }],
      details: { schema: 'device' },
    });
    expect(lines()[0]).toMatchObject({
      level: 'info',
      status: 422,
      code: 'validation_failed',
      trace_id: res.body.trace_id,
    });
    expect(lines()[0]).not.toHaveProperty('err');
  });

  it('sets Retry-After, WWW-Authenticate and Allow headers the error carries', async () => {
    const { app } = appWith((a) => {
      a.get('/limited', () => {
        throw createError(429, 'Too many requests', {
          code: 'rate_limited',
          headers: { 'Retry-After': '30' },
        });
      });
      a.get('/auth', () => {
        throw createError(401, 'Authentication required', {
          code: 'unauthorized',
          headers: { 'WWW-Authenticate': 'Bearer realm="api"' },
        });
      });
      a.get('/method', () => {
        throw createError(405, 'Method not allowed', { headers: { Allow: 'GET, POST' } });
      });
    });
    const limited = await request(app).get('/limited');
    expect([limited.status, limited.headers['retry-after'], limited.body.code]).toEqual([
      429,
      '30',
      'rate_limited',
    ]);
    const auth = await request(app).get('/auth');
    expect([auth.status, auth.headers['www-authenticate']]).toEqual([401, 'Bearer realm="api"']);
    const method = await request(app).get('/method');
    expect([method.status, method.headers.allow, method.body.code]).toEqual([
      405,
      'GET, POST',
      'method_not_allowed',
    ]);
  });

  it('ignores error headers that would replace the response representation or are invalid', async () => {
    const { app } = appWith((a) =>
      a.get('/', () => {
        throw createError(400, 'bad', {
          headers: {
            'Content-Type': 'text/html',
            'Set-Cookie': 'a=b',
            'X-Bad': 'line\r\nInjected: 1',
            'X-Ok': 'yes',
          },
        });
      }),
    );
    const res = await request(app).get('/');
    expect(res.headers['content-type']).toBe(PROBLEM);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.headers.injected).toBeUndefined();
    expect(res.headers['x-ok']).toBe('yes');
  });

  it('closes the connection after a 413 that asks for it, so a client cannot keep streaming its body', async () => {
    let received = 0;
    let receivedAt413 = -1;
    const { app } = appWith((a) =>
      // Reads like @bulwark/validators' jsonBody: past the limit it answers 413 and keeps
      // discarding what still arrives, relying on Connection: close to end the upload.
      a.post('/upload', (req, _res, next) => {
        req.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (receivedAt413 === -1 && received > 1024) {
            receivedAt413 = received;
            next(
              Object.assign(new Error('Request body is too large'), {
                status: 413,
                expose: true,
                code: 'payload_too_large',
                headers: { Connection: 'close' },
              }),
            );
          }
        });
      }),
    );
    const server = await listen(app);
    try {
      const outcome = await new Promise<{ head: string; closed: boolean; sent: number }>(
        (resolve) => {
          let head = '';
          let sent = 0;
          let closed = false;
          const socket = connect(server.port, '127.0.0.1');
          socket.on('data', (data) => {
            head += String(data);
          });
          socket.on('error', () => {}); // EPIPE / ECONNRESET once the server closes
          const done = () => {
            closed = true;
          };
          socket.once('end', done);
          socket.once('close', done);
          socket.write(
            'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
          );
          const chunk = `10000\r\n${'x'.repeat(0x10000)}\r\n`;
          const started = Date.now();
          const pump = () => {
            while (!closed && !socket.destroyed && Date.now() - started < 3_000) {
              sent += 0x10000;
              if (!socket.write(chunk)) {
                socket.once('drain', pump);
                return;
              }
            }
            socket.destroy();
            resolve({ head, closed, sent });
          };
          socket.once('connect', pump);
          // A stalled write never drains once the server stops reading: end there too.
          setTimeout(() => {
            socket.destroy();
            resolve({ head, closed, sent });
          }, 3_500).unref();
        },
      );
      expect(outcome.head).toMatch(/^HTTP\/1\.1 413 /);
      expect(outcome.head).toMatch(/\r\nConnection: close\r\n/i);
      expect(outcome.closed).toBe(true);
      // Whatever was in flight when the 413 left, never a stream without end.
      expect(received - receivedAt413).toBeLessThan(16 * 1024 * 1024);
    } finally {
      await server.close();
    }
  });

  it('falls back to the status code name when the code is not snake_case', async () => {
    const { app } = appWith((a) =>
      a.get('/', () => {
        throw createError(403, 'invalid csrf token', { code: 'EBADCSRFTOKEN' });
      }),
    );
    expect((await request(app).get('/')).body.code).toBe('forbidden');
  });

  it('still redacts secret-shaped text an exposed error carries', async () => {
    const { app } = appWith((a) =>
      a.get('/', () => {
        throw createError(400, 'token Bearer abc.def.ghi rejected', {
          details: { dsn: 'postgres://app:pw@db/iot' },
          errors: [{ pointer: '/password', message: 'password=hunter2 too short' }],
        });
      }),
    );
    const res = await request(app).get('/');
    expect(res.text).not.toMatch(/abc\.def|:pw@|hunter2/);
    expect(res.body.detail).toBe('token Bearer [REDACTED] rejected');
  });

  it('renders a problem type from problemType', async () => {
    const { app } = appWith(() => {}, {
      problemType: (code) => `https://docs.example.com/errors#${code}`,
    });
    const res = await request(app).get('/nothing');
    expect(res.body.type).toBe('https://docs.example.com/errors#not_found');
  });
});

describe('notFound', () => {
  it('answers 404 not_found without reflecting the path', async () => {
    const { app } = appWith(() => {});
    const res = await request(app).get('/<script>alert(1)</script>/etc/passwd?q=secret');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({
      code: 'not_found',
      detail: 'The requested resource was not found.',
    });
    expect(res.text).not.toMatch(/script|passwd|secret/);
  });

  it('refuses options', () => {
    expect(() => notFound({ x: 1 } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_UNKNOWN_OPTION' }),
    );
  });
});

describe('errorHandler with body-parser failures', () => {
  const json = (a: Express) => {
    a.use(express.json({ limit: 100 }));
    a.use(
      express.urlencoded({ extended: true, parameterLimit: 5, depth: 2 } as Parameters<
        typeof express.urlencoded
      >[0]),
    );
    a.post('/', (req, res) => {
      res.json({ got: req.body });
    });
  };

  it('answers unparsable JSON with 400 invalid_json, echoing nothing of the body', async () => {
    const { app, raw } = appWith(json);
    const res = await request(app)
      .post('/')
      .set('Content-Type', 'application/json')
      .send('{"password":"hunter2",');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      code: 'invalid_json',
      detail: 'The request body is not valid JSON.',
    });
    expect(res.text).not.toContain('hunter2');
    expect(raw()).not.toContain('hunter2');
  });

  it('answers a JSON body that is not a token-shaped value with invalid_json too', async () => {
    const { app } = appWith(json);
    const res = await request(app)
      .post('/')
      .set('Content-Type', 'application/json')
      .send('postgres://u:pw@h/db');
    expect(res.status).toBe(400);
    expect(res.text).not.toContain('pw@');
  });

  it('answers a body over the limit with 413 payload_too_large and the limit', async () => {
    const { app } = appWith(json);
    const res = await request(app)
      .post('/')
      .set('Content-Type', 'application/json')
      .send({ data: 'x'.repeat(500) });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ code: 'payload_too_large', details: { limit: 100 } });
  });

  it('answers an unsupported charset with 415 without echoing it', async () => {
    const { app } = appWith(json);
    const res = await request(app)
      .post('/')
      .set('Content-Type', 'application/json; charset=evil-charset')
      .send('{}');
    expect(res.status).toBe(415);
    expect(res.body.code).toBe('unsupported_charset');
    expect(res.text.toLowerCase()).not.toContain('evil');
  });

  it('answers an unsupported Content-Encoding with 415', async () => {
    const { app } = appWith(json);
    const res = await request(app)
      .post('/')
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'x-secret-codec')
      .send('{}');
    expect(res.status).toBe(415);
    expect(res.body.code).toBe('unsupported_content_encoding');
    expect(res.text).not.toContain('x-secret-codec');
  });

  it('answers a corrupt gzip body with a 400 and no stack', async () => {
    const { app } = appWith(json);
    const body = gzipSync('{"a":1}').subarray(0, 8);
    const res = await request(app)
      .post('/')
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'gzip')
      .send(body);
    expect(res.status).toBe(400);
    expect(res.text).not.toContain('at ');
  });

  it('answers too many form parameters with 413 and too deep nesting with 400', async () => {
    const { app } = appWith(json);
    const many = await request(app).post('/').type('form').send('a=1&b=2&c=3&d=4&e=5&f=6&g=7');
    expect([many.status, many.body.code]).toEqual([413, 'too_many_parameters']);
    const deep = await request(app).post('/').type('form').send('a[b][c][d][e]=1');
    expect([deep.status, deep.body.code]).toEqual([400, 'invalid_body']);
  });

  it('logs request_aborted when the client goes away mid-body', async () => {
    const { app, lines } = appWith(json);
    const server = await listen(app);
    try {
      await new Promise<void>((resolve, reject) => {
        const socket = connect(server.port, '127.0.0.1', () => {
          socket.write(
            'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"a":',
          );
          setTimeout(() => {
            socket.destroy();
            resolve();
          }, 50);
        });
        socket.on('error', reject);
      });
      await expect
        .poll(() => lines().find((line) => line.code === 'request_aborted'))
        .toMatchObject({ status: 400 });
    } finally {
      await server.close();
    }
  });
});

describe('errorHandler with malformed URLs', () => {
  it('answers a path that does not decode with 400 bad_request, without the path', async () => {
    const { app } = appWith((a) =>
      a.get('/files/:name', (req, res) => {
        res.json({ name: req.params.name });
      }),
    );
    const res = await request(app).get('/files/%E0%A4%A');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      code: 'bad_request',
      detail: 'The request URL is malformed.',
    });
    expect(res.text).not.toContain('%E0');
  });
});

describe('errorHandler response hygiene', () => {
  it('keeps headers set by earlier middleware and drops those of the failed response', async () => {
    const { app } = appWith((a) => {
      a.use((_req, res, next) => {
        res.setHeader('Access-Control-Allow-Origin', 'https://app.example.com');
        next();
      });
      a.get('/', (_req, res) => {
        res.setHeader('Content-Disposition', 'attachment; filename="report.csv"');
        res.setHeader('Cache-Control', 'public, max-age=3600');
        res.setHeader('ETag', '"abc"');
        throw new Error('export failed');
      });
    });
    const res = await request(app).get('/');
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(res.headers['content-disposition']).toBeUndefined();
    expect(res.headers.etag).toBeUndefined();
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('sends headers but no body to a HEAD request', async () => {
    const { app } = appWith(() => {});
    const res = await request(app).head('/missing');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe(PROBLEM);
    expect(res.text).toBeUndefined();
  });

  it('makes a trace id and sets X-Request-Id when requestContext is not mounted', async () => {
    const capture = captureLogger();
    const app = express();
    app.get('/', () => {
      throw new Error('x');
    });
    app.use(errorHandler({ logger: capture.logger }));
    const res = await request(app).get('/');
    expect(res.body.trace_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers['x-request-id']).toBe(res.body.trace_id);
    expect(capture.lines()[0]!.trace_id).toBe(res.body.trace_id);
  });

  it('closes the connection and logs when the response had already started', async () => {
    const { app, lines } = appWith((a) =>
      a.get('/stream', (_req, res, next) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('partial ');
        next(new Error('stream broke at /srv/app/export.js'));
      }),
    );
    const server = await listen(app);
    try {
      const res = await fetch(`${server.url}/stream`);
      expect(res.status).toBe(200);
      await expect(res.text()).rejects.toThrow();
      const line = lines().find((l) => l.level === 'error');
      expect(line).toMatchObject({
        message: 'error after the response started; closing the connection',
      });
      expect(line!.trace_id).toBe(res.headers.get('x-request-id'));
    } finally {
      await server.close();
    }
  });

  it('keeps the connection and logs when the response had already been sent in full', async () => {
    const { app, lines } = appWith((a) => {
      a.get('/late', (_req, res, next) => {
        res.status(503).json({ code: 'request_timeout' });
        next(new Error('query cancelled after the answer'));
      });
      a.get('/next', (_req, res) => {
        res.json({ ok: true });
      });
    });
    const server = await listen(app);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<{ status: number; body: string; socket: unknown }>((resolve, reject) => {
        http
          .get(`${server.url}${path}`, { agent }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              body += chunk;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body, socket: res.socket }));
          })
          .on('error', reject);
      });
    try {
      const first = await get('/late');
      expect(first.status).toBe(503);
      expect(JSON.parse(first.body)).toEqual({ code: 'request_timeout' });
      await new Promise((resolve) => setTimeout(resolve, 20));
      const second = await get('/next');
      expect(second.status).toBe(200);
      expect(second.socket).toBe(first.socket);
      const line = lines().find((l) => l.level === 'error');
      expect(line).toMatchObject({ message: 'error after the response was sent' });
    } finally {
      agent.destroy();
      await server.close();
    }
  });

  it('does not hand an error after the response started to Express, which prints it unredacted', async () => {
    const written: string[] = [];
    const stderrWrite = vi
      .spyOn(process.stderr, 'write')
      .mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      });
    const consoleError = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      written.push(args.map(String).join(' '));
    });
    const { app, raw } = appWith((a) => {
      // Outside 'test', Express's final handler prints err.stack to stderr.
      a.set('env', 'development');
      a.get('/stream', (_req, res, next) => {
        res.write('partial');
        next(new Error('connect failed postgres://app:S3cretPw@db/iot token=tok_abc'));
      });
    });
    const server = await listen(app);
    try {
      const res = await fetch(`${server.url}/stream`);
      await expect(res.text()).rejects.toThrow();
      await expect.poll(() => raw()).toContain('error after the response started');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(raw()).toContain('postgres://app:[REDACTED]@db/iot token=[REDACTED]');
      expect(raw()).not.toMatch(/S3cretPw|tok_abc/);
      expect(written.join('')).not.toMatch(/S3cretPw|tok_abc/);
    } finally {
      stderrWrite.mockRestore();
      consoleError.mockRestore();
      await server.close();
    }
  });

  it('still answers when the logger throws', async () => {
    const broken = {
      error() {
        throw new Error('log down');
      },
      warn() {},
      info() {},
    };
    const app = express();
    app.get('/', () => {
      throw new Error('x');
    });
    app.use(errorHandler({ logger: broken }));
    const res = await request(app).get('/');
    expect(res.status).toBe(500);
    expect(res.body.code).toBe('internal_error');
  });

  it('gives a logger of its own a plain, redacted error record', async () => {
    const seen: Array<Record<string, unknown>> = [];
    const own = {
      error(_message: string, meta: Record<string, unknown>) {
        seen.push(meta);
      },
      warn() {},
      info() {},
    };
    const app = express();
    app.get('/', () => {
      throw new Error('connect postgres://app:pw@db/iot failed');
    });
    app.use(errorHandler({ logger: own }));
    await request(app).get('/');
    const err = seen[0]!.err as Record<string, unknown>;
    expect(err).not.toBeInstanceOf(Error);
    expect(err.message).toBe('connect postgres://app:[REDACTED]@db/iot failed');
    expect(String(err.stack)).toContain('error-handler.test.ts');
  });

  it('does not log client errors when logClientErrors is false', async () => {
    const { app, lines } = appWith(() => {}, { logClientErrors: false });
    await request(app).get('/missing');
    expect(lines()).toEqual([]);
  });
});

describe('errorHandler stack option', () => {
  it('adds a redacted stack to 5xx bodies when NODE_ENV is development', async () => {
    process.env.NODE_ENV = 'development';
    const { app } = appWith(
      (a) =>
        a.get('/', () => {
          throw new Error('connect postgres://app:pw@db/iot failed');
        }),
      { exposeStack: true },
    );
    const res = await request(app).get('/');
    expect(res.body.detail).toBe('Internal server error');
    expect(res.body.stack).toContain('postgres://app:[REDACTED]@db/iot');
  });

  it('is refused when NODE_ENV is production or not set', () => {
    process.env.NODE_ENV = 'production';
    expect(() => errorHandler({ exposeStack: true })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_STACK_IN_PRODUCTION' }),
    );
    delete process.env.NODE_ENV;
    expect(() => errorHandler({ exposeStack: true })).toThrow(/NODE_ENV is not set/);
  });
});

describe('errorHandler configuration', () => {
  it('refuses a misspelled option with a hint', () => {
    expect(() => errorHandler({ exposeStak: true } as never)).toThrow(
      /Did you mean "exposeStack"\?/,
    );
  });

  it('refuses options that are not an object', () => {
    expect(() => errorHandler('verbose' as never)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_OPTIONS' }),
    );
  });

  it('refuses a logger without winston methods', () => {
    expect(() => errorHandler({ logger: { log() {} } as never })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_LOGGER' }),
    );
  });

  it('refuses non-boolean flags and a non-function problemType', () => {
    expect(() => errorHandler({ exposeStack: 'yes' as never })).toThrow(
      /exposeStack: "yes" is not valid/,
    );
    expect(() => errorHandler({ problemType: 'https://x' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_INVALID_OPTION' }),
    );
  });

  it('reports app.use(errorHandler) without the call instead of hiding errors', async () => {
    const app = express();
    // biome-ignore lint/suspicious/noExplicitAny: reproduces the mistake this check exists for
    app.use(errorHandler as any);
    const res = await request(app).get('/');
    expect(res.status).toBe(500);
    expect(res.text).toContain('errorHandler was given to Express without being called');
  });
});

describe('errorHandler lines for client errors', () => {
  /** requestContext, httpLogger and errorHandler on one logger, as the README wires them. */
  function accessLoggedApp(
    mount: (app: Express) => void,
    skip?: (req: express.Request) => boolean,
  ) {
    const capture = captureLogger();
    const app = express();
    app.use(requestContext());
    app.use(httpLogger({ logger: capture.logger, ...(skip && { skip }) }));
    app.use(express.json());
    mount(app);
    app.use(notFound());
    app.use(errorHandler({ logger: capture.logger }));
    return { app, ...capture };
  }

  it('writes a rejected request as one access line carrying the code and detail, not a second line', async () => {
    const { app, lines } = accessLoggedApp((a) =>
      a.get('/orders/:id', () => {
        throw HttpProblem.forbidden('Not your order.', { code: 'order_forbidden' });
      }),
    );
    const res = await request(app).get('/orders/7');
    expect(res.status).toBe(403);
    const own = lines().filter((line) => line.trace_id === res.body.trace_id);
    expect(own).toHaveLength(1);
    expect(own[0]).toMatchObject({
      level: 'warn',
      message: 'request',
      route: '/orders/:id',
      status: 403,
      code: 'order_forbidden',
      detail: 'Not your order.',
      error_name: 'HttpProblem',
    });
  });

  it('puts the field pointers of a 422 on its line, never the values', async () => {
    const { app, lines, raw } = accessLoggedApp((a) =>
      a.post('/orders', (_req, _res, next) => {
        next(
          createError(422, 'The request body is not valid.', {
            code: 'validation_failed',
            errors: [
              { location: 'body', pointer: '/body/email', message: 'must match format "email"' },
              { location: 'body', pointer: '/body/quantity', message: 'must be <= 99' },
            ],
          }),
        );
      }),
    );
    const res = await request(app)
      .post('/orders')
      .send({ email: 'not-an-address-4711', quantity: 1000 });
    expect(res.status).toBe(422);
    expect(lines().find((line) => line.message === 'request')).toMatchObject({
      code: 'validation_failed',
      pointers: ['/body/email', '/body/quantity'],
    });
    expect(raw()).not.toContain('not-an-address-4711');
  });

  it('still writes its own line for a rejected request that httpLogger skips', async () => {
    const { app, lines } = accessLoggedApp(
      (a) =>
        a.get('/internal/ping', () => {
          throw HttpProblem.forbidden();
        }),
      (req) => req.path.startsWith('/internal/'),
    );
    const res = await request(app).get('/internal/ping');
    expect(res.status).toBe(403);
    await expect
      .poll(() => lines().filter((line) => line.trace_id === res.body.trace_id))
      .toEqual([expect.objectContaining({ message: 'request rejected', code: 'forbidden' })]);
  });

  it('adds the code of a 5xx to the access line, next to its own error line', async () => {
    const { app, lines } = accessLoggedApp((a) =>
      a.get('/boom', () => {
        throw new Error('relation "orders" does not exist');
      }),
    );
    const res = await request(app).get('/boom');
    const own = lines().filter((line) => line.trace_id === res.body.trace_id);
    expect(own.map((line) => [line.message, line.code])).toEqual([
      ['request failed', 'internal_error'],
      ['request', 'internal_error'],
    ]);
  });
});

const hasPg = await requireService('postgres');

describe.runIf(hasPg)('errorHandler lines for database conflicts', () => {
  let db: TestDatabase;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase('error_handler_conflict');
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    await pool.query('CREATE TABLE device (id text CONSTRAINT device_pkey PRIMARY KEY)');
  });

  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('puts the SQLSTATE, constraint and table of a real unique violation on the 409 line, never the duplicate value', async () => {
    const capture = captureLogger();
    const app = express();
    app.use(requestContext());
    app.use(express.json());
    app.post('/devices', async (req, res) => {
      try {
        await pool.query('INSERT INTO device (id) VALUES ($1)', [req.body.id]);
      } catch (err) {
        throw HttpProblem.conflict('A device with this id already exists.', {
          code: 'device_exists',
          cause: err,
        });
      }
      res.status(201).end();
    });
    app.use(errorHandler({ logger: capture.logger }));
    const first = await request(app).post('/devices').send({ id: 'serial-0042-private' });
    const second = await request(app).post('/devices').send({ id: 'serial-0042-private' });
    expect([first.status, second.status]).toEqual([201, 409]);
    expect(second.body).toMatchObject({ code: 'device_exists' });
    expect(capture.lines()).toEqual([
      expect.objectContaining({
        message: 'request rejected',
        status: 409,
        code: 'device_exists',
        cause_name: 'DatabaseError',
        sqlstate: '23505',
        constraint: 'device_pkey',
        table: 'device',
      }),
    ]);
    expect(capture.raw()).not.toContain('serial-0042-private');
    expect(second.text).not.toMatch(/device_pkey|23505|serial/);
  });
});
