// The apps the HTTP suites measure, each built inside its own process by app-child.ts.
import { createSecretKey } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import {
  createLogger,
  errorHandler,
  httpLogger,
  notFound,
  requestContext,
} from '@bulwark/error-handler';
import { corsPolicy, requestClasses, secureHeaders, trustedHosts } from '@bulwark/perimeter';
import { rateLimit } from '@bulwark/rate-limit';
import { authenticate, type createPermissionStore, requirePermission } from '@bulwark/rbac';
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
import pino from 'pino';
import { pinoHttp } from 'pino-http';

export const ORIGIN = 'https://app.example.com';
export const ISSUER = 'https://auth.example.test/';
export const AUDIENCE = 'bench-api';
export const TENANT = 'acme';
export const SECRET_HEX = '07'.repeat(32);
export const SECRET = createSecretKey(Buffer.from(SECRET_HEX, 'hex'));
export const PATH = '/devices/acme-sensor-1';

/** The claims of every benchmark token; `sub` is `user-1` unless a client number is given. */
export const CLAIMS = { tenant_id: TENANT, scope_type: 'customer', permissions: ['devices:read'] };

/** An HS256 token for `subject`, valid for an hour, as an identity provider would issue it. */
export function tokenFor(subject = 'user-1'): string {
  return jsonwebtoken.sign(CLAIMS, SECRET, {
    algorithm: 'HS256',
    subject,
    issuer: ISSUER,
    audience: AUDIENCE,
    expiresIn: 3600,
  });
}

/** Headers of the one request every app answers: a Bearer token and an allowed Origin. */
export function requestHeaders(token: string): Record<string, string> {
  return { origin: ORIGIN, authorization: `Bearer ${token}` };
}

// winston is the logger Bulwark's createLogger() is built on; the anchor uses the same copy.
const winston = createRequire(import.meta.resolve('@bulwark/error-handler'))(
  'winston',
) as WinstonModule;

interface WinstonModule {
  createLogger(options: Record<string, unknown>): LoggerLike;
  format: {
    combine(...formats: unknown[]): unknown;
    timestamp(): unknown;
    json(): unknown;
  };
  transports: { Stream: new (options: { stream: NodeJS.WritableStream }) => unknown };
}

interface LoggerLike {
  error(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  info(message: string, meta?: Record<string, unknown>): unknown;
}

const reading = (id: string) => ({ id, temperature: 21.5, humidity: 40, battery: 88 });

const route: RequestHandler = (req, res) => {
  res.json(reading(String(req.params.id)));
};

/** Express and the route handler, nothing else. */
export function bareApp(): Express {
  const app = express();
  app.get('/devices/:id', route);
  return app;
}

/** Headers Express sets by itself, left out of the floor's fixed list. */
export const OWN_HEADERS = new Set([
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
export function floorApp(headers: [string, string][]): Express {
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
  app.get('/devices/:id', pass, pass, route);
  const handler: ErrorRequestHandler = (_err, _req, res, _next) => {
    res.status(500).end();
  };
  app.use(handler);
  return app;
}

/** A winston logger writing JSON lines to stdout, as a team using winston sets one up. */
function winstonLogger(): LoggerLike {
  return winston.createLogger({
    level: 'info',
    defaultMeta: { service: 'api' },
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Stream({ stream: process.stdout })],
  });
}

const problem = (
  res: Parameters<RequestHandler>[1],
  status: number,
  title: string,
  detail: string,
) => {
  res
    .status(status)
    .type('application/problem+json')
    .send(JSON.stringify({ type: 'about:blank', title, status, detail }));
};

/**
 * The best-case hand-built stack: helmet(), cors(), express-jwt with the secret as a KeyObject,
 * express-rate-limit with the same headers Bulwark's rateLimit() sends (IETF draft 8 and
 * X-RateLimit-*), a permission check on the token's claims, express-validator on the id and a
 * problem+json error handler logging 5xx errors through winston. With `accessLog`, pino-http
 * first, writing through an asynchronous pino destination on stdout.
 */
export function anchorApp({ accessLog = false }: { accessLog?: boolean } = {}): Express {
  const app = express();
  const logger = winstonLogger();
  if (accessLog) {
    app.use(
      pinoHttp({
        logger: pino(pino.destination({ dest: 1, sync: false })),
        // The fields of Bulwark's access line, and no headers, so no credential reaches the log.
        serializers: {
          req: (req: {
            method: string;
            url: string;
            remoteAddress?: string;
            headers: Record<string, string>;
          }) => ({
            method: req.method,
            path: req.url.split('?', 1)[0],
            ip: req.remoteAddress,
            user_agent: req.headers['user-agent'],
          }),
          res: (res: { statusCode: number }) => ({ status: res.statusCode }),
        },
      }),
    );
  }
  app.use(helmet());
  app.use(cors({ origin: [ORIGIN] }));
  app.use(
    expressjwt({ secret: SECRET, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE }),
  );
  app.use(
    anchorRateLimit({
      windowMs: 60_000,
      limit: 1e9,
      standardHeaders: 'draft-8',
      legacyHeaders: true,
    }),
  );
  const canRead: RequestHandler = (req, res, next) => {
    const auth = (req as Request & { auth?: { permissions?: string[] } }).auth;
    if (!auth?.permissions?.includes('devices:read')) {
      problem(res, 403, 'Forbidden', 'Missing permission devices:read.');
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
        problem(res, 422, 'Unprocessable Content', 'The device id is not valid.');
        return;
      }
      route(req, res, () => {});
    },
  );
  const handler: ErrorRequestHandler = (err, req, res, _next) => {
    const status =
      typeof err?.status === 'number' && err.status >= 400 && err.status < 600 ? err.status : 500;
    if (status >= 500) {
      logger.error('request failed', {
        method: req.method,
        path: req.path,
        error: err instanceof Error ? err.message : String(err),
      });
      problem(res, 500, 'Internal Server Error', 'Internal server error');
      return;
    }
    problem(res, status, status === 401 ? 'Unauthorized' : 'Bad Request', 'Request refused.');
  };
  app.use(handler);
  return app;
}

export type Store = ReturnType<typeof createPermissionStore>;

/** One middleware of the Bulwark stack, where it is mounted, and what it spends a request on. */
export interface Layer {
  name: string;
  place: 'app' | 'route' | 'error';
  handler: RequestHandler | ErrorRequestHandler;
}

/** The Bulwark stack's layers in order, and what each spends a request on, for the docs. */
export const STACK_LAYERS: readonly { name: string; work: string }[] = [
  {
    name: 'requestContext()',
    work: 'a trace id, the X-Request-Id header and an AsyncLocalStorage context for log lines',
  },
  {
    name: 'trustedHosts()',
    work: "the Host header's verdict, worked out once per distinct value and kept in a bounded memo",
  },
  {
    name: 'secureHeaders()',
    work: "the security headers (helmet's set for a JSON API, Permissions-Policy, Cache-Control)",
  },
  {
    name: 'corsPolicy()',
    work: 'the Origin checked against the allowlist, and the CORS headers',
  },
  {
    name: 'authenticate()',
    work: "the token's shape, the HS256 signature (jsonwebtoken; a token verified before skips it, exp is still checked), the subject's permissions from the store's cache",
  },
  {
    name: 'rateLimit()',
    work: 'the key (the client address, worked out once per connection while the peer is not a trusted proxy), the count in the bounded memory store, and the RateLimit, RateLimit-Policy and X-RateLimit-* headers',
  },
  { name: 'requirePermission()', work: "the permission looked up in the request's permission set" },
  { name: 'validate()', work: 'the id checked by a compiled JSON Schema' },
  { name: 'errorHandler()', work: 'nothing on a 200: it runs only for errors' },
];

/** The access-log layer, mounted after requestContext() when a stack logs every request. */
export const ACCESS_LOG_LAYER = {
  name: 'httpLogger()',
  work: 'one access-log line per request in the format of the winston logger given to it (the JSON text of a repeated field value reused), made and written with the other lines of its event-loop turn',
};

export interface BulwarkOptions {
  /** Mount httpLogger() with the stack's logger right after requestContext(). */
  accessLog?: boolean;
}

/**
 * The Bulwark stack's middlewares in order, as docs/getting-started.md mounts them: one
 * createLogger() logger (JSON lines on stdout) for errorHandler() and, with `accessLog`,
 * httpLogger(); permissions from PostgreSQL through the cache of `permissions`.
 */
export function bulwarkLayers(permissions: Store, options: BulwarkOptions = {}): Layer[] {
  const logger = createLogger({ defaultMeta: { service: 'api' } });
  const layers: Layer[] = [
    {
      name: 'requestContext()',
      place: 'app',
      handler: requestContext(),
    },
    {
      name: 'trustedHosts()',
      place: 'app',
      handler: trustedHosts(['127.0.0.1', 'localhost']),
    },
    {
      name: 'secureHeaders()',
      place: 'app',
      handler: secureHeaders(),
    },
    {
      name: 'corsPolicy()',
      place: 'app',
      handler: corsPolicy({ origins: [ORIGIN] }),
    },
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
        name: 'bench',
        limit: 1_000_000_000,
        windowMs: 60_000,
      }),
    },
    {
      name: 'requirePermission()',
      place: 'route',
      handler: requirePermission('devices:read'),
    },
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
      handler: errorHandler({ logger }),
    },
  ];
  if (options.accessLog) {
    layers.splice(1, 0, {
      name: 'httpLogger()',
      place: 'app',
      handler: httpLogger({ logger }),
    });
  }
  return layers;
}

const passThrough: RequestHandler = (_req, _res, next) => next();
const emptyErrorHandler: ErrorRequestHandler = (_err, _req, res, _next) => {
  res.status(500).end();
};

/**
 * An app of the Bulwark stack's shape: the first `real` layers are Bulwark's own, the others
 * empty middlewares in the same places, so every variant has the same number of router layers.
 */
export function layeredApp(
  layers: Layer[],
  real = layers.length,
  settings: Record<string, unknown> = {},
): Express {
  const app = express();
  for (const [name, value] of Object.entries(settings)) app.set(name, value);
  const routeLayers: RequestHandler[] = [];
  let error: ErrorRequestHandler = emptyErrorHandler;
  layers.forEach((layer, i) => {
    const handler = i < real ? layer.handler : undefined;
    if (layer.place === 'app') app.use((handler as RequestHandler) ?? passThrough);
    else if (layer.place === 'route') routeLayers.push((handler as RequestHandler) ?? passThrough);
    else if (handler) error = handler as ErrorRequestHandler;
  });
  app.get('/devices/:id', ...routeLayers, route);
  app.use(error);
  return app;
}

/**
 * A middleware that runs as much JavaScript as `functions` distinct small functions, each called
 * once per request, or (`'loop'`) the same time's worth of one loop over a few numbers, the
 * count of iterations set by timing both where the app is built. Both cost about the same in one
 * process; under load, where the kernel's network work runs between requests, the many functions
 * also pay for bringing their code back into the CPU's caches on every request, far more of it
 * than the loop's.
 */
export function controlMiddleware(work: 'loop' | 'functions', functions = 300): RequestHandler {
  // Distinct source per function, so each is compiled and kept on its own.
  const many = Array.from(
    { length: functions },
    (_, i) =>
      new Function(
        'x',
        `let s = x + ${i}; if ((s & ${(i % 7) + 1}) === 0) s ^= ${(i * 7919) % 1000}; else s += ${i % 13}; for (let j = 0; j < 3; j++) s = (s * ${(i % 17) + 3} + j) | 0; return s;`,
      ) as (x: number) => number,
  );
  const callAll = (x: number) => {
    let s = x;
    for (const f of many) s = f(s);
    return s;
  };
  const loop = (x: number, iterations: number) => {
    let s = x;
    for (let i = 0; i < iterations; i++) s = (s * 31 + i) | 0;
    return s;
  };
  let sink = 0;
  const fastest = (run: () => void) => {
    let best = Number.POSITIVE_INFINITY;
    for (let trial = 0; trial < 20; trial++) {
      const start = performance.now();
      for (let call = 0; call < 200; call++) run();
      best = Math.min(best, performance.now() - start);
    }
    return best;
  };
  const probe = 1000;
  const iterations = Math.max(
    1,
    Math.round(
      (probe * fastest(() => (sink ^= callAll(sink)))) / fastest(() => (sink ^= loop(sink, probe))),
    ),
  );
  const handler: RequestHandler = (_req, res, next) => {
    sink = work === 'loop' ? loop(sink, iterations) : callAll(sink);
    // Never true: keeps the result in use, so neither body is left out by the compiler.
    if (sink === 0.5) res.setHeader('X-Sink', String(sink));
    next();
  };
  return handler;
}

/** The path of the error-handler suite's apps that throws: a database error with its code. */
export const FAIL_PATH = '/fail';

/** A stream that keeps nothing: the error-handler suite measures making lines, not storing them. */
export const nullStream = (): Writable =>
  new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });

const failing: RequestHandler = () => {
  throw Object.assign(new Error('relation "devices" does not exist'), { code: '42P01' });
};

/** The error path an app without Bulwark typically hand-writes: a fixed JSON 500, nothing logged. */
export function plainErrorsApp(): Express {
  const app = express();
  app.get('/devices/:id', route);
  app.get(FAIL_PATH, failing);
  const handler: ErrorRequestHandler = (_err, _req, res, _next) => {
    res.status(500).json({ error: 'Internal server error' });
  };
  app.use(handler);
  return app;
}

/**
 * The same routes behind requestContext(), httpLogger() and errorHandler(), one logger writing
 * access lines and error lines to a stream that keeps nothing.
 */
export function bulwarkErrorsApp(): Express {
  const logger = createLogger({ stream: nullStream() });
  const app = express();
  app.use(requestContext());
  app.use(httpLogger({ logger }));
  app.get('/devices/:id', route);
  app.get(FAIL_PATH, failing);
  app.use(notFound());
  app.use(errorHandler({ logger }));
  return app;
}

/** What an app process builds: its kind and the options of that kind. */
export type AppSpec =
  | {
      kind: 'bare';
      /** Served with requestClasses(app), as the Bulwark stack is. */
      classes?: boolean;
    }
  | { kind: 'floor'; headers: [string, string][] }
  | { kind: 'anchor'; accessLog?: boolean }
  | {
      kind: 'bulwark';
      /** Number of Bulwark layers switched on (the others empty); default all. */
      real?: number;
      accessLog?: boolean;
      /** Behind one trusted proxy (loopback), so X-Forwarded-For names the client. */
      behindProxy?: boolean;
    }
  | {
      /** The error-handler suite's apps: a 200 route and one that throws. */
      kind: 'errors';
      stack: 'express' | 'bulwark';
    }
  | {
      /** The nine empty layers, the first of them running controlMiddleware(work). */
      kind: 'control';
      work: 'loop' | 'functions';
    };

/**
 * The HTTP server of `app`: the Bulwark stacks (and the layers suite's rows, built from them) are
 * served as docs/getting-started.md serves them, with requests made on the app's own prototypes by
 * requestClasses(app); every other app as `app.listen()` serves it.
 */
export function serverFor(spec: AppSpec, app: Express): Server {
  const classes =
    spec.kind === 'bulwark' || spec.kind === 'control' || (spec.kind === 'bare' && spec.classes);
  return classes ? createServer(requestClasses(app), app) : createServer(app);
}

/** Builds the app of `spec`; `permissions` is needed by the Bulwark and control kinds only. */
export function buildApp(spec: AppSpec, permissions?: Store): Express {
  switch (spec.kind) {
    case 'bare':
      return bareApp();
    case 'floor':
      return floorApp(spec.headers);
    case 'anchor':
      return anchorApp({ accessLog: spec.accessLog ?? false });
    case 'errors':
      return spec.stack === 'bulwark' ? bulwarkErrorsApp() : plainErrorsApp();
    case 'control': {
      if (!permissions) throw new Error('the control app needs a permission store');
      const layers = bulwarkLayers(permissions);
      layers[0] = { name: 'control', place: 'app', handler: controlMiddleware(spec.work) };
      return layeredApp(layers, 1);
    }
    case 'bulwark': {
      if (!permissions) throw new Error('the Bulwark app needs a permission store');
      const layers = bulwarkLayers(permissions, { accessLog: spec.accessLog ?? false });
      return layeredApp(
        layers,
        spec.real ?? layers.length,
        spec.behindProxy ? { 'trust proxy': 'loopback' } : {},
      );
    }
  }
}
