// Whole stacks on one authenticated JSON route: bare Express, the usual hand-assembled stack, and Bulwark.
import { createSecretKey } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { errorHandler, requestContext } from '@bulwark/error-handler';
import { corsPolicy, secureHeaders, trustedHosts } from '@bulwark/perimeter';
import { rateLimit } from '@bulwark/rate-limit';
import { authenticate, createPermissionStore, migrate, requirePermission } from '@bulwark/rbac';
import { createTestDatabase } from '@bulwark/test-utils';
import { validate } from '@bulwark/validators';
import cors from 'cors';
import express, {
  type ErrorRequestHandler,
  type Express,
  type Request,
  type RequestHandler,
} from 'express';
import { expressjwt } from 'express-jwt';
import anchorRateLimit from 'express-rate-limit';
import { param, validationResult } from 'express-validator';
import helmet from 'helmet';
import jsonwebtoken from 'jsonwebtoken';
import pg from 'pg';
import { type LoadResult, loadFromChild } from '../load.js';
import { interleavedRows } from '../rounds.js';
import type { BenchRow, BenchSuite, BenchSuiteResult } from '../types.js';

const ROUNDS = 4;
const ROUND_S = 3;
const CONNECTIONS = 10;
export const ORIGIN = 'https://app.example.com';
const ISSUER = 'https://auth.example.test/';
const AUDIENCE = 'bench-api';
const SECRET = createSecretKey(Buffer.alloc(32, 7));
const MEMORY_REQUESTS = 200_000;
const MEMORY_KEYS = 100_000;

const token = jsonwebtoken.sign(
  { tenant_id: 'acme', scope_type: 'customer', permissions: ['devices:read'] },
  SECRET,
  { algorithm: 'HS256', subject: 'user-1', issuer: ISSUER, audience: AUDIENCE, expiresIn: 3600 },
);

const reading = (id: string) => ({ id, temperature: 21.5, humidity: 40, battery: 88 });

function bareApp(): Express {
  const app = express();
  app.get('/devices/:id', (req, res) => {
    res.json(reading(String(req.params.id)));
  });
  return app;
}

/** Headers Express sets by itself, left out of the floor's fixed list. */
const OWN_HEADERS = new Set([
  'date',
  'content-type',
  'content-length',
  'etag',
  'connection',
  'keep-alive',
  'x-powered-by',
]);

/**
 * The floor of any nine-layer stack: Express with as many middlewares as the Bulwark stack, in
 * the same places, setting the same response headers as fixed strings and doing nothing else.
 */
function floorApp(headers: [string, string][]): Express {
  const app = express();
  const layers = 6;
  const per = Math.ceil(headers.length / layers);
  for (let i = 0; i < layers; i++) {
    const mine = headers.slice(i * per, (i + 1) * per);
    app.use((_req, res, next) => {
      for (const [name, value] of mine) res.setHeader(name, value);
      next();
    });
  }
  const pass: RequestHandler = (_req, _res, next) => next();
  app.get('/devices/:id', pass, pass, (req, res) => {
    res.json(reading(String(req.params.id)));
  });
  const handler: ErrorRequestHandler = (_err, _req, res, _next) => {
    res.status(500).end();
  };
  app.use(handler);
  return app;
}

/** The headers a Bulwark stack answer carries beyond Express's own, read off one real request. */
async function headersOf(app: Express): Promise<[string, string][]> {
  const { url, close } = await serve(app);
  try {
    const response = await fetch(url, {
      headers: { origin: ORIGIN, authorization: `Bearer ${token}` },
    });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`bulwark stack answered ${response.status}`);
    return [...response.headers].filter(([name]) => !OWN_HEADERS.has(name));
  } finally {
    await close();
  }
}

/** What teams assemble today: helmet, cors, express-jwt, express-rate-limit, express-validator, own handler. */
function anchorApp(): Express {
  const app = express();
  app.use(helmet());
  app.use(cors({ origin: [ORIGIN] }));
  app.use(
    expressjwt({ secret: SECRET, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE }),
  );
  app.use(anchorRateLimit({ windowMs: 60_000, limit: 1e9 }));
  const canRead: RequestHandler = (req, res, next) => {
    const auth = (req as Request & { auth?: { permissions?: string[] } }).auth;
    if (!auth?.permissions?.includes('devices:read')) {
      res.status(403).json({ error: 'forbidden' });
      return;
    }
    next();
  };
  app.get(
    '/devices/:id',
    canRead,
    param('id')
      .isString()
      .matches(/^[a-z0-9][a-z0-9-]{0,63}$/),
    (req, res) => {
      const errors = validationResult(req);
      if (!errors.isEmpty()) {
        res.status(422).json({ errors: errors.array() });
        return;
      }
      res.json(reading(String(req.params.id)));
    },
  );
  const handler: ErrorRequestHandler = (err, _req, res, _next) => {
    const status = typeof err?.status === 'number' ? err.status : 500;
    res.status(status).json({ error: status >= 500 ? 'internal error' : err.message });
  };
  app.use(handler);
  return app;
}

export type Store = ReturnType<typeof createPermissionStore>;

/** One middleware of the Bulwark stack, and where it is mounted. */
export interface Layer {
  name: string;
  place: 'app' | 'route' | 'error';
  handler: RequestHandler | ErrorRequestHandler;
}

/** The Bulwark stack's middlewares in order, with permissions loaded from PostgreSQL through the cache. */
export function bulwarkLayers(permissions: Store, key?: (req: Request) => string): Layer[] {
  return [
    { name: 'requestContext()', place: 'app', handler: requestContext() },
    { name: 'trustedHosts()', place: 'app', handler: trustedHosts(['127.0.0.1', 'localhost']) },
    { name: 'secureHeaders()', place: 'app', handler: secureHeaders() },
    { name: 'corsPolicy()', place: 'app', handler: corsPolicy({ origins: [ORIGIN] }) },
    {
      name: 'authenticate()',
      place: 'app',
      handler: authenticate({
        jwt: { algorithms: ['HS256'], secret: SECRET, issuer: ISSUER, audience: AUDIENCE },
        permissions,
      }),
    },
    {
      name: 'rateLimit()',
      place: 'app',
      handler: rateLimit({
        name: key ? 'memory' : 'bench',
        limit: 1_000_000_000,
        windowMs: 60_000,
        ...(key ? { key } : {}),
      }),
    },
    { name: 'requirePermission()', place: 'route', handler: requirePermission('devices:read') },
    {
      name: 'validate()',
      place: 'route',
      handler: validate({
        params: {
          type: 'object',
          properties: { id: { type: 'string', format: 'device-id', maxLength: 64 } },
          required: ['id'],
          additionalProperties: false,
        },
      }),
    },
    {
      name: 'errorHandler()',
      place: 'error',
      handler: errorHandler({ logger: { error() {}, warn() {}, info() {} } as never }),
    },
  ];
}

const passThrough: RequestHandler = (_req, _res, next) => next();
const emptyErrorHandler: ErrorRequestHandler = (_err, _req, res, _next) => {
  res.status(500).end();
};

/**
 * An app of the Bulwark stack's shape: the first `real` layers are Bulwark's own, the others
 * empty middlewares in the same places, so every variant has the same number of router layers.
 */
export function layeredApp(layers: Layer[], real = layers.length): Express {
  const app = express();
  const at = (i: number) => (i < real ? layers[i]!.handler : undefined);
  const route: RequestHandler[] = [];
  let error: ErrorRequestHandler = emptyErrorHandler;
  layers.forEach((layer, i) => {
    const handler = at(i);
    if (layer.place === 'app') app.use((handler as RequestHandler) ?? passThrough);
    else if (layer.place === 'route') route.push((handler as RequestHandler) ?? passThrough);
    else if (handler) error = handler as ErrorRequestHandler;
  });
  app.get('/devices/:id', ...route, (req, res) => {
    res.json(reading(String(req.params.id)));
  });
  app.use(error);
  return app;
}

/** The Bulwark stack, with permissions loaded from PostgreSQL through the cache. */
function bulwarkApp(permissions: Store, key?: (req: Request) => string): Express {
  return layeredApp(bulwarkLayers(permissions, key));
}

export async function serve(app: Express) {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/devices/acme-sensor-1`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export async function cannon(app: Express, seconds: number): Promise<LoadResult> {
  const { url, close } = await serve(app);
  try {
    const result = await loadFromChild({
      url,
      connections: CONNECTIONS,
      duration: seconds,
      headers: { origin: ORIGIN, authorization: `Bearer ${token}` },
    });
    if (result.non2xx > 0 || result.errors > 0) {
      throw new Error(
        `${result.non2xx} non-2xx answers and ${result.errors} errors: check the app`,
      );
    }
    return result;
  } finally {
    await close();
  }
}

/**
 * RSS of this process after 200k requests spread over 100k client keys through the Bulwark stack,
 * measured after each half: the first half creates every key, the second reuses them, so a store
 * that stays bounded shows (nearly) the same RSS after both.
 */
async function memoryRow(
  permissions: Store,
): Promise<BenchRow & { rssBeforeMb: number; rssHalfMb: number }> {
  const app = bulwarkApp(permissions, (req) => req.get('x-client') ?? 'none');
  const { url, close } = await serve(app);
  const gc = () => (globalThis as { gc?: () => void }).gc?.();
  const rss = () => process.memoryUsage().rss / 2 ** 20;
  gc();
  const rssBeforeMb = rss();
  const half = () =>
    loadFromChild({
      url,
      connections: CONNECTIONS,
      amount: MEMORY_REQUESTS / 2,
      headers: { origin: ORIGIN, authorization: `Bearer ${token}` },
      clientKeys: MEMORY_KEYS,
    });
  try {
    const started = performance.now();
    const first = await half();
    gc();
    const rssHalfMb = rss();
    const second = await half();
    const seconds = (performance.now() - started) / 1000;
    gc();
    const rssMb = rss();
    for (const result of [first, second]) {
      if (result.non2xx > 0 || result.errors > 0) {
        throw new Error(`memory run: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
      }
    }
    return {
      name: `bulwark stack, ${MEMORY_REQUESTS / 1000}k requests over ${MEMORY_KEYS / 1000}k client keys`,
      opsPerSec: (first.requests.total + second.requests.total) / seconds,
      p50Ms: second.latency.p50,
      p99Ms: second.latency.p99,
      rssMb,
      rssBeforeMb,
      rssHalfMb,
    };
  } finally {
    await close();
  }
}

/**
 * Runs `measure` with a permission store over a fresh test database in which user-1 holds the
 * viewer role in tenant acme, and drops the database afterwards.
 */
export async function withPermissions<T>(
  database: string,
  measure: (permissions: Store) => Promise<T>,
): Promise<T> {
  const db = await createTestDatabase(database);
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  const permissions = createPermissionStore({ db: pool, listen: false });
  try {
    await migrate(pool);
    await pool.query(`INSERT INTO bulwark_rbac.tenants (id, name) VALUES ('acme', 'Acme')`);
    await permissions.grant('user-1', 'viewer', { tenantId: 'acme' });
    return await measure(permissions);
  } finally {
    await permissions.close();
    await pool.end();
    await db.drop();
  }
}

export const suite: BenchSuite = {
  name: 'stacks',
  run: () =>
    withPermissions('bench_stacks', async (permissions): Promise<BenchSuiteResult> => {
      const bulwark = bulwarkApp(permissions);
      const floorHeaders = await headersOf(bulwark);
      const apps: Record<string, Express> = {
        'bare express': bareApp(),
        'nine empty layers + same headers': floorApp(floorHeaders),
        'anchor stack': anchorApp(),
        'bulwark stack': bulwark,
      };
      // Warm-up: JIT, and the permission cache for user-1 (one database load, then cached).
      for (const app of Object.values(apps)) await cannon(app, 1);
      const rows = await interleavedRows(apps, ROUNDS, (app) => cannon(app, ROUND_S));
      const memory = await memoryRow(permissions);
      const { rssBeforeMb, rssHalfMb, ...memoryBenchRow } = memory;
      rows.push(memoryBenchRow);
      const ops = (name: string) => rows.find((row) => row.name === name)!.opsPerSec;
      const vsBare = ops('bulwark stack') / ops('bare express');
      const vsAnchor = ops('bulwark stack') / ops('anchor stack');
      return {
        suite: 'stacks',
        baseline: 'bare express',
        rows,
        ratios: {
          'bulwark stack / bare express': vsBare,
          'bulwark stack / anchor stack': vsAnchor,
          'anchor stack / bare express': ops('anchor stack') / ops('bare express'),
          'nine empty layers + same headers / bare express':
            ops('nine empty layers + same headers') / ops('bare express'),
        },
        targets: [
          { name: 'bulwark stack / bare express', ratio: vsBare, min: 0.8, met: vsBare >= 0.8 },
          {
            name: 'bulwark stack / anchor stack',
            ratio: vsAnchor,
            min: 1.0,
            met: vsAnchor > 1.0,
          },
        ],
        notes: [
          `autocannon, ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${ROUND_S} s per app, GET /devices/acme-sensor-1 with an HS256 Bearer token and an allowed Origin, on loopback; the load generator (autocannon) runs in a child process of its own.`,
          `nine empty layers + same headers: Express with six app.use() layers and two route middlewares, where the Bulwark stack has its own, setting the ${floorHeaders.length} response headers a Bulwark answer carries (read off a real one) as fixed strings, and an error handler; no other work. It is the floor any stack of this shape and these headers pays on Express, before it checks anything.`,
          'anchor stack: helmet(), cors(), express-jwt, express-rate-limit (memory store), a permission check on the token claims, express-validator on the id, a hand-written error handler.',
          'bulwark stack: requestContext(), trustedHosts(), secureHeaders(), corsPolicy(), authenticate() (HS256 KeyObject; permissions from PostgreSQL through createPermissionStore, cached after the first request), rateLimit() (bounded memory store), requirePermission(), validate() on the id, errorHandler().',
          `memory: RSS of the process serving the apps (the load comes from a child process) was ${rssBeforeMb.toFixed(1)} MB before, ${rssHalfMb.toFixed(1)} MB after the first ${MEMORY_REQUESTS / 2} requests (every one of the ${MEMORY_KEYS} rate-limit keys created) and ${memory.rssMb!.toFixed(1)} MB after all ${MEMORY_REQUESTS} (keys reused); the default bounded store holds at most 100 000 keys.`,
        ],
      };
    }),
};
