// requestClasses() and createAppServer() with real Express apps on real sockets: requests are made
// on the app's prototypes, everything Express puts there still works, sub-apps and TLS included.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, IncomingMessage, type Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPki } from '@bulwark/test-utils';
import express from 'express';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createAppServer, requestClasses } from './app-server.js';

const servers: Server[] = [];
const dir = mkdtempSync(join(tmpdir(), 'bulwark-app-server-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** What a route saw of its request and response. */
function inspect(app: express.Express) {
  return (req: express.Request, res: express.Response) => {
    res.locals.seen = true;
    res.json({
      requestPrototype: Object.getPrototypeOf(req) === app.request,
      responsePrototype: Object.getPrototypeOf(res) === app.response,
      isIncomingMessage: req instanceof IncomingMessage,
      isServerResponse: res instanceof ServerResponse,
      requestConstructor: req.constructor === IncomingMessage,
      responseConstructor: res.constructor === ServerResponse,
      sameApp: req.app === app,
      params: req.params,
      query: req.query,
      host: req.get('host'),
      locals: res.locals.seen,
    });
  };
}

describe('createAppServer', () => {
  it("serves each request and response on the app's own prototypes, with Express's API intact", async () => {
    const app = express();
    app.get('/devices/:id', inspect(app));
    const server = createAppServer(app);
    // Before Express sees them, the two objects already have the app's prototypes.
    const madeWith: boolean[] = [];
    server.prependListener('request', (req, res) => {
      madeWith.push(
        Object.getPrototypeOf(req) === app.request && Object.getPrototypeOf(res) === app.response,
      );
    });
    const base = await listen(server);
    const res = await fetch(`${base}/devices/d-1?full=yes`);
    expect(madeWith).toEqual([true]);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.json()).toEqual({
      requestPrototype: true,
      responsePrototype: true,
      isIncomingMessage: true,
      isServerResponse: true,
      requestConstructor: true,
      responseConstructor: true,
      sameApp: true,
      params: { id: 'd-1' },
      query: { full: 'yes' },
      host: base.slice('http://'.length),
      locals: true,
    });
  });

  it('keeps what was added to app.request and app.response before, and sees what is added after', async () => {
    const app = express();
    Object.defineProperty(app.request, 'tenant', {
      get(this: express.Request) {
        return this.get('x-tenant') ?? 'none';
      },
      configurable: true,
    });
    (app.response as { brand?: string }).brand = 'before';
    const answer: express.RequestHandler = (req, res) => {
      const r = req as express.Request & { tenant: string; region: string };
      res.json({ tenant: r.tenant, region: r.region, brand: (res as { brand?: string }).brand });
    };
    // A sub-app mounted before sees the app's prototypes, as Express lets it, additions included.
    const early = express();
    early.get('/', answer);
    app.use('/early', early);
    const server = createAppServer(app);
    (app.request as { region?: string }).region = 'after';
    app.get('/', answer);
    const base = await listen(server);
    for (const path of ['/', '/early/']) {
      const res = await fetch(`${base}${path}`, { headers: { 'x-tenant': 'acme' } });
      expect(await res.json(), path).toEqual({ tenant: 'acme', region: 'after', brand: 'before' });
    }
  });

  it('routes into sub-apps mounted before and after, each request on the sub-app prototype inside it', async () => {
    const app = express();
    const early = express();
    early.get('/where', inspect(early));
    app.use('/early', early);
    const server = createAppServer(app);
    const late = express();
    late.get('/where', inspect(late));
    app.use('/late', late);
    app.get('/where', inspect(app));
    const base = await listen(server);
    for (const path of ['/early/where', '/late/where', '/where']) {
      const body = await (await fetch(`${base}${path}`)).json();
      expect(body, path).toMatchObject({
        requestPrototype: true,
        responsePrototype: true,
        sameApp: true,
        locals: true,
      });
    }
  });

  it('runs error handlers and answers unknown paths as Express does', async () => {
    const app = express();
    app.get('/fail', () => {
      throw new Error('boom');
    });
    app.use(
      (err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        res.status(500).json({ caught: err.message });
      },
    );
    const base = await listen(createAppServer(app));
    const failed = await fetch(`${base}/fail`);
    expect(failed.status).toBe(500);
    expect(await failed.json()).toEqual({ caught: 'boom' });
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
  });

  it('serves keep-alive requests one after the other on one connection', async () => {
    const app = express();
    app.get('/n/:n', (req, res) => {
      res.json({ n: Number(req.params.n), proto: Object.getPrototypeOf(req) === app.request });
    });
    const base = await listen(createAppServer(app));
    const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const ports = new Set<number>();
      for (let n = 0; n < 5; n++) {
        const body = await new Promise<string>((resolve, reject) => {
          httpRequest(`${base}/n/${n}`, { agent }, (res) => {
            ports.add(res.socket.localPort!);
            let text = '';
            res.on('data', (chunk) => (text += chunk));
            res.on('end', () => resolve(text));
          })
            .on('error', reject)
            .end();
        });
        expect(JSON.parse(body)).toEqual({ n, proto: true });
      }
      expect(ports.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  it('hardens the server it makes with the given limits, and refuses a bad one', () => {
    const app = express();
    const server = createAppServer(app, { headersTimeout: 2_000, maxConnections: 50 });
    expect(server.headersTimeout).toBe(2_000);
    expect(server.requestTimeout).toBe(30_000);
    expect(server.maxConnections).toBe(50);
    expect(() => createAppServer(express(), { keepAliveTimeout: -1 })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_NUMBER' }),
    );
  });
});

describe('requestClasses', () => {
  it('serves an https server created with the classes', async () => {
    const pki = createTestPki(join(dir, 'pki'), { clients: [] });
    const app = express();
    app.get('/devices/:id', inspect(app));
    const server = createHttpsServer(
      {
        key: readFileSync(pki.serverKeyFile),
        cert: readFileSync(pki.serverCertFile),
        ...requestClasses(app),
      },
      app,
    );
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const body = await new Promise<string>((resolve, reject) => {
      httpsRequest(
        {
          host: '127.0.0.1',
          port,
          path: '/devices/d-2',
          ca: readFileSync(pki.caFile),
          servername: 'localhost',
        },
        (res) => {
          let text = '';
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => resolve(text));
        },
      )
        .on('error', reject)
        .end();
    });
    expect(JSON.parse(body)).toMatchObject({
      requestPrototype: true,
      responsePrototype: true,
      params: { id: 'd-2' },
    });
  });

  it('returns the same classes for the same app, and new ones once the app has new prototypes', () => {
    const app = express();
    const first = requestClasses(app);
    expect(requestClasses(app)).toBe(first);
    expect(app.request).toBe(first.IncomingMessage.prototype);
    expect(app.response).toBe(first.ServerResponse.prototype);
    app.request = Object.create(app.request);
    const second = requestClasses(app);
    expect(second).not.toBe(first);
    expect(app.request).toBe(second.IncomingMessage.prototype);
  });

  it.each([
    ['undefined', undefined, 'undefined'],
    ['null', null, 'null'],
    ['a plain object', { request: {}, response: {} }, 'an object'],
    ['a request listener', (_req: unknown, _res: unknown) => {}, 'a function'],
    [
      'a function with unrelated prototypes',
      Object.assign(() => {}, { request: {}, response: {} }),
      'a function',
    ],
  ])('refuses %s with ERR_BULWARK_PERIMETER_NOT_AN_APP', (_name, value, shown) => {
    let thrown: unknown;
    try {
      requestClasses(value as never);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({
      name: 'PerimeterConfigError',
      code: 'ERR_BULWARK_PERIMETER_NOT_AN_APP',
      message: `requestClasses: ${shown} is not an Express app. Pass what express() returns.`,
    });
  });
});
