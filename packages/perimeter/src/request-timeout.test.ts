// requestTimeout() over real HTTP: slow handlers get 503 and an aborted signal; so does a departed client.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { type Listening, listen } from '@bulwark/test-utils';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonErrors } from '../test/app.js';
import { requestTimeout } from './request-timeout.js';

const running: Listening[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.close();
});

function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

describe('requestTimeout', () => {
  it('answers 503 request_timeout and aborts req.signal when the handler is too slow', async () => {
    const events: unknown[] = [];
    const onTimeout = (m: unknown) => events.push(m);
    subscribe('bulwark:perimeter:timeout', onTimeout);
    let seen: Promise<unknown> | undefined;
    const app = express();
    app.use(requestTimeout(100));
    app.get('/slow', (req, _res) => {
      // A handler that only stops when told to, like a query given the signal.
      seen = aborted(req.signal);
    });
    app.use(jsonErrors);
    const server = await listen(app);
    running.push(server);
    try {
      const res = await fetch(`${server.url}/slow`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ code: 'request_timeout', message: 'Request timed out' });
      const reason = (await seen) as DOMException;
      expect(reason.name).toBe('TimeoutError');
      expect(events).toEqual([
        expect.objectContaining({ path: '/slow', ms: 100, headersSent: false }),
      ]);
    } finally {
      unsubscribe('bulwark:perimeter:timeout', onTimeout);
    }
  });

  it('cancels downstream work started with req.signal when the deadline passes', async () => {
    let upstreamClosed: (() => void) | undefined;
    const upstreamGone = new Promise<void>((resolve) => (upstreamClosed = resolve));
    const upstream = await listen((req) => {
      // Never answers; records when the caller gives up.
      req.socket.once('close', () => upstreamClosed?.());
    });
    running.push(upstream);
    const app = express();
    app.use(requestTimeout({ ms: 150, retryAfter: 5 }));
    app.get('/proxy', async (req, res, next) => {
      try {
        const answer = await fetch(upstream.url, { signal: req.signal });
        res.json(await answer.json());
      } catch (err) {
        if (!req.signal.aborted) next(err);
      }
    });
    app.use(jsonErrors);
    const server = await listen(app);
    running.push(server);
    const res = await fetch(`${server.url}/proxy`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    await upstreamGone;
  });

  it('aborts req.signal with an AbortError when the client goes away first', async () => {
    let seen: Promise<unknown> | undefined;
    let started: () => void = () => {};
    const handlerStarted = new Promise<void>((resolve) => (started = resolve));
    const app = express();
    app.use(requestTimeout(10_000));
    app.get('/wait', (req) => {
      seen = aborted(req.signal);
      started();
    });
    const server = await listen(app);
    running.push(server);
    const client = httpRequest({
      host: '127.0.0.1',
      port: server.port,
      path: '/wait',
      agent: false,
    });
    client.on('error', () => {});
    client.end();
    await handlerStarted;
    client.destroy();
    const reason = (await seen) as DOMException;
    expect(reason.name).toBe('AbortError');
  });

  it('leaves the signal alone for a handler that answers in time, and exposes it on res.locals', async () => {
    let signal: AbortSignal | undefined;
    let closed: () => void = () => {};
    const done = new Promise<void>((resolve) => (closed = resolve));
    const app = express();
    app.use(requestTimeout(5_000));
    app.get('/fast', (req, res) => {
      signal = req.signal;
      expect(res.locals.signal).toBe(req.signal);
      res.on('close', () => closed());
      res.json({ ok: true });
    });
    const server = await listen(app);
    running.push(server);
    const res = await fetch(`${server.url}/fast`);
    expect(res.status).toBe(200);
    await done;
    expect(signal?.aborted).toBe(false);
  });

  it("carries the request's deadline on req.signal under Symbol.for('bulwark.deadline') and on res.locals.deadline", async () => {
    let seen: { deadline: unknown; locals: unknown; keys: string[] } | undefined;
    const app = express();
    app.use(requestTimeout(2_000));
    app.get('/deadline', (req, res) => {
      seen = {
        deadline: (req.signal as unknown as Record<symbol, unknown>)[
          Symbol.for('bulwark.deadline')
        ],
        locals: res.locals.deadline,
        keys: Object.keys(req.signal),
      };
      res.json({ ok: true });
    });
    const server = await listen(app);
    running.push(server);
    const before = Date.now();
    const res = await fetch(`${server.url}/deadline`);
    const after = Date.now();
    expect(res.status).toBe(200);
    expect(seen?.deadline).toBe(seen?.locals);
    expect(seen?.deadline).toBeGreaterThanOrEqual(before + 2_000);
    expect(seen?.deadline).toBeLessThanOrEqual(after + 2_000);
    // Not enumerable: a signal logged or spread does not show it.
    expect(seen?.keys).toEqual([]);
  });

  it('sets req.signal where the request inherits a read-only signal getter, as on Node.js 24 and later', async () => {
    let own: PropertyDescriptor | undefined;
    let seen: Promise<unknown> | undefined;
    const app = express();
    // Node.js 24+ has exactly this on IncomingMessage.prototype; older Nodes get it here, so the
    // regression (assigning to a getter answered 500) is pinned on every version.
    Object.defineProperty(app.request, 'signal', {
      get: () => new AbortController().signal,
      configurable: true,
    });
    app.use(requestTimeout(100));
    app.get('/slow', (req) => {
      own = Object.getOwnPropertyDescriptor(req, 'signal');
      seen = aborted(req.signal);
    });
    app.use(jsonErrors);
    const server = await listen(app);
    running.push(server);
    const res = await fetch(`${server.url}/slow`);
    expect(res.status).toBe(503);
    expect(own?.value).toBeInstanceOf(AbortSignal);
    expect(own?.writable).toBe(false);
    expect(((await seen) as DOMException).name).toBe('TimeoutError');
  });

  it('drops a late answer from a callback instead of throwing after the 503', async () => {
    let lateCall: Promise<string> | undefined;
    const app = express();
    app.use(requestTimeout(100));
    app.get('/late', (req, res) => {
      lateCall = new Promise((resolve) => {
        req.signal.addEventListener('abort', () => {
          // A callback-style handler that answers anyway, after the 503 went out.
          setTimeout(() => {
            try {
              res.status(200).json({ late: true });
              resolve('no error');
            } catch (err) {
              resolve(String(err));
            }
          }, 50);
        });
      });
    });
    app.use(jsonErrors);
    const server = await listen(app);
    running.push(server);
    const res = await fetch(`${server.url}/late`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ code: 'request_timeout', message: 'Request timed out' });
    expect(await lateCall).toBe('no error');
  });

  it('cuts a response that had already started streaming when the deadline passes', async () => {
    const app = express();
    app.use(requestTimeout(100));
    app.get('/stream', (_req, res) => {
      res.write('partial');
    });
    const server = await listen(app);
    running.push(server);
    const res = await fetch(`${server.url}/stream`);
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  it('keeps a body that arrives after the 503 from reaching the route, so a retried write is not done twice', async () => {
    const orders: unknown[] = [];
    const app = express();
    app.use(requestTimeout(200));
    app.post('/orders', express.json(), (req, res) => {
      orders.push(req.body);
      res.status(201).json({ created: true });
    });
    app.use(jsonErrors);
    const server = await listen(app);
    running.push(server);
    const started = Date.now();
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = connect({ host: '127.0.0.1', port: server.port }, () => {
        socket.write(
          'POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n',
        );
        // The body comes 500 ms later, well after the deadline; a closed socket refuses it.
        setTimeout(() => {
          if (!socket.destroyed) socket.write('{"item":"tv"}', () => {});
        }, 500);
      });
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
      });
    });
    expect(answer.startsWith('HTTP/1.1 503 ')).toBe(true);
    expect(answer).toContain('request_timeout');
    expect(answer.toLowerCase()).toContain('connection: close');
    // Give a late body every chance to be parsed and handed on before looking.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 900 - (Date.now() - started))));
    expect(orders).toEqual([]);
  });

  it('refuses a missing, zero, negative or fractional timeout at construction', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, undefined]) {
      expect(() => requestTimeout(bad as number), String(bad)).toThrow(
        expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_NUMBER' }),
      );
    }
    expect(() => requestTimeout({ ms: 100, retry: 5 } as never)).toThrow(
      /Did you mean `retryAfter`/,
    );
  });
});
