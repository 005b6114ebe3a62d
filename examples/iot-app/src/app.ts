// createApp: wires every Bulwark package into the IoT service; tests create it in-process with their own config.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkHealth, dbErrors } from '@bulwark/db-safety';
import { errorHandler, httpLogger, notFound, requestContext } from '@bulwark/error-handler';
import {
  describeRoute,
  type OpenApiDocument,
  openApiDocument,
  validateResponses,
} from '@bulwark/openapi';
import {
  checkConfig,
  corsPolicy,
  createAppServer,
  hardenServer,
  ipAllowlist,
  overloadGuard,
  reportCollector,
  requestClasses,
  requestTimeout,
  secureHeaders,
  trustedHosts,
} from '@bulwark/perimeter';
import { createRateLimits } from '@bulwark/rate-limit';
import {
  type ApiKeys,
  authenticate,
  createApiKeys,
  createAuditLog,
  createPermissionStore,
  requireCustomer,
  requireOperator,
  requirePermission,
} from '@bulwark/rbac';
import { jsonBody, queryLimits } from '@bulwark/validators';
import express, { type Express, type RequestHandler, type Router } from 'express';
import { recordBrokerAddress } from './broker-address.js';
import type { AppConfig } from './config.js';
import { createDashboard, DASHBOARD_UNDOCUMENTED } from './dashboard/dashboard.js';
import { createSecurityEvents, type SecurityEvents } from './dashboard/security-events.js';
import { type Database, openDatabase } from './database.js';
import { DEMO_DEVICES } from './demo-data.js';
import { deviceIdentity } from './device-identity.js';
import { jsonOnly } from './json-only.js';
import { listenOn, type PortVariable } from './listen.js';
import { appLogger, type Logger } from './logger.js';
import { type Messaging, startMessaging } from './messaging.js';
import { createMetrics, type Metrics } from './metrics.js';
import { ensurePki, type Pki, writeBrokerConfig } from './pki.js';
import { connectRedis } from './redis.js';
import { customerRouter, customerRoutes } from './routes/customer.js';
import { operatorRoutes } from './routes/operator.js';
import { APP_FORMATS, mountRoutes, type RouteSpec } from './routes/route-table.js';
import { OPERATOR_PERMISSIONS } from './schema.js';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, tokenKey } from './tokens.js';

export const APP_VERSION = '0.0.0';

// The API reference page: the app's own page, script and style, and the Swagger UI files it loads.
const DOCS_PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs-page');
const SWAGGER_UI_DIR = dirname(
  createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'),
);
const SWAGGER_UI_FILES = new Set(['/swagger-ui-bundle.js', '/swagger-ui.css']);

/** Serves only the Swagger UI files the page loads, not the package's own demo page. */
const swaggerUiAssets: RequestHandler = function swaggerUiAssets(req, res, next) {
  if (!SWAGGER_UI_FILES.has(req.path)) return next();
  serveSwaggerUi(req, res, next);
};
const serveSwaggerUi = express.static(SWAGGER_UI_DIR, { index: false, redirect: false });

/** Where browsers send CSP and other reports. */
export const REPORTS_PATH = '/reports';

const TAGS = [
  { name: 'customer', description: "A tenant's devices, telemetry, alerts and keys." },
  {
    name: 'dashboard',
    description:
      'The browser dashboard at /app: its page and the JSON it reads, with a session cookie.',
  },
  { name: 'operator', description: 'Platform staff: the health of the service.' },
  { name: 'system', description: 'Probes and metrics.' },
];

const readyStatus = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'unavailable'] },
    checks: {
      type: 'object',
      properties: {
        database: { type: 'string' },
        broker: { type: 'string', enum: ['ok', 'down'] },
      },
      required: ['database', 'broker'],
    },
  },
  required: ['status', 'checks'],
} as const;

/** A created app: the Express app and its services, started and stopped together. */
export interface IotApp {
  app: Express;
  config: AppConfig;
  database: Database;
  messaging: Messaging;
  /** The development PKI (undefined in production). */
  pki: Pki | undefined;
  metrics: Metrics;
  logger: Logger;
  /** The startup banner: security configuration and what the embedded services do not guarantee. */
  banner: string;
  /** The routers, for tests that enumerate the routes. */
  routers: { customer: Router; operator: Router };
  /** The route table behind the customer API, the dashboard's JSON and the OpenAPI document. */
  routes: { customer: RouteSpec[]; operator: RouteSpec[]; dashboard: RouteSpec[] };
  /** The tenants' API keys (issue one for the dashboard with `issueDashboardKey`). */
  apiKeys: ApiKeys;
  /** The recent security events the dashboard lists. */
  securityEvents: SecurityEvents;
  /**
   * Listens on `config.port` (and `config.httpsPort`); resolves with the base URL and the servers.
   *
   * @throws {AppConfigError} `ERR_IOT_APP_PORT_IN_USE` (or `_PORT_DENIED`, `_HOST_UNAVAILABLE`)
   *   naming `PORT` or `HTTPS_PORT`; nothing is left listening.
   */
  start(): Promise<{ url: string; httpsUrl?: string; servers: Server[] }>;
  /** Closes the services (broker client, broker, Redis, audit log, pool) without touching the servers. */
  closeServices(): Promise<void>;
  /** Stops accepting requests, lets in-flight ones finish, then closes the broker client, the broker and the pool. */
  stop(): Promise<void>;
}

export class StartupCheckError extends Error {
  override readonly name = 'StartupCheckError';
  readonly code: `ERR_IOT_APP_${string}`;

  constructor(message: string, code: `ERR_IOT_APP_${string}` = 'ERR_IOT_APP_UNSAFE_CONFIG') {
    super(message);
    this.code = code;
  }
}

/**
 * Opens the database (embedded PGlite unless `databaseUrl`), makes the dev PKI, starts the broker
 * (embedded aedes unless `mqttUrl`) and the ingest client, and builds the Express app. Nothing
 * listens until `start()`.
 *
 * @throws {StartupCheckError} in production when the security audit finds a problem.
 * @throws {DatabaseStartupError} when a database check fails (see `openDatabase`).
 * @throws {AppConfigError} `ERR_IOT_APP_PORT_IN_USE` naming `MQTT_PORT` when the embedded
 *   broker's port is taken.
 */
export async function createApp(config: AppConfig): Promise<IotApp> {
  const logger = appLogger(config);
  const database = await openDatabase(config);
  const closers: (() => Promise<unknown>)[] = [() => database.close()];
  const cleanup = async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
  };
  try {
    return await build(config, logger, database, closers, cleanup);
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function build(
  config: AppConfig,
  logger: Logger,
  database: Database,
  closers: (() => Promise<unknown>)[],
  cleanup: () => Promise<void>,
): Promise<IotApp> {
  if (config.production && config.mqttUrl === undefined) {
    throw new StartupCheckError(
      'MQTT_URL is not set. The embedded broker runs on a development CA made on this machine; in production connect to your broker with MQTT_URL and the service certificate files.',
      'ERR_IOT_APP_EMBEDDED_MQTT',
    );
  }
  if (config.production && config.httpsPort !== undefined) {
    throw new StartupCheckError(
      'HTTPS_PORT serves the development certificate. In production terminate TLS at your proxy with a real certificate and unset HTTPS_PORT.',
      'ERR_IOT_APP_DEV_HTTPS',
    );
  }
  // The development PKI is made only outside production, where it serves the embedded broker,
  // the demo devices and the optional HTTPS listener.
  const pki = config.production
    ? undefined
    : await ensurePki(
        config.dataDir,
        DEMO_DEVICES.map((d) => deviceIdentity(d.tenantId, d.id)),
        { serviceId: config.mqttServiceId, port: config.mqttPort },
      );
  const messaging = await startMessaging(config, pki, database, logger);
  closers.push(() => messaging.close());
  if (pki) {
    // MQTT_PORT=0 takes a free port at start: the Mosquitto config and the simulate command
    // get the port the broker took, never 0 or the default.
    const brokerPort = Number(new URL(messaging.url).port) || 8883;
    if (config.mqttPort === 0) writeBrokerConfig(pki, brokerPort);
    const forget = recordBrokerAddress(pki.dir, messaging.url);
    closers.push(async () => forget());
  }

  const redis = config.redisUrl ? await connectRedis(config.redisUrl, logger) : undefined;
  if (redis) closers.push(() => redis.quit());

  const app = express();
  app.set('trust proxy', config.trustProxy);
  app.disable('x-powered-by');

  const permissions = createPermissionStore({
    db: database.pool,
    listen: !database.embedded,
    logger,
  });
  closers.push(() => permissions.close());
  const audit = createAuditLog({ db: database.pool, logger });
  closers.push(() => audit.close());
  // Keys issued through the API are bounded by their issuer (rbac's default: only users issue
  // them, for at most 90 days); operator permissions never go on a tenant's key.
  const apiKeys = createApiKeys({
    db: database.pool,
    pepper: config.apiKeyPepper,
    operatorPermissions: OPERATOR_PERMISSIONS,
    audit,
    logger,
  });
  const auth = authenticate({
    jwt: {
      algorithms: ['HS256'],
      secret: tokenKey(config.jwtSecret),
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
    },
    apiKeys,
    permissions,
    audit,
    logger,
    realm: 'iot-app',
  });
  const limits = createRateLimits({
    ...(redis ? { redis } : {}),
    prefix: config.redisPrefix,
    enabled: config.rateLimitEnabled,
    defaults: { app, logger },
  });

  const metrics = createMetrics({ pool: database.pool, mqttStatus: messaging.status });
  closers.push(async () => metrics.close());

  const securityEvents = createSecurityEvents();
  closers.push(async () => securityEvents.close());
  const dashboard = createDashboard({
    database,
    apiKeys,
    audit,
    logger,
    limits,
    events: securityEvents,
    tokenKey: tokenKey(config.jwtSecret),
  });

  const routes = {
    customer: customerRoutes({
      database,
      apiKeys,
      audit,
      exportLimit: limits.heavy({ name: 'telemetry-export', limit: config.exportRateLimit }),
      publishAlerts: messaging.publishAlerts,
    }),
    operator: operatorRoutes({
      database,
      messaging,
      audit,
      rateLimitState: () => limits.storeState(),
    }),
    dashboard: dashboard.routes,
  };
  // Checks each JSON answer against its route's declared schema in development and tests only.
  app.use(validateResponses({ formats: APP_FORMATS }));
  app.use(requestContext());
  // Denials, limits and bans caused by this app's requests reach the dashboard's event list.
  app.use(securityEvents.context);
  app.use(metrics.httpMiddleware);
  app.use(httpLogger({ logger, skip: (req) => req.path === '/health' || req.path === '/ready' }));
  app.use(trustedHosts(config.allowedHosts, { upstreamHosts: config.upstreamHosts }));
  // /app gets a nonce-based strict-dynamic policy with Trusted Types and no policy allowed
  // (the dashboard assigns no HTML); every policy reports to the collector below.
  app.use(
    secureHeaders({
      docsPaths: ['/docs'],
      pages: { paths: ['/app'], trustedTypes: { policies: [] } },
      reportTo: REPORTS_PATH,
    }),
  );
  app.use(
    corsPolicy({
      origins: config.corsOrigins,
      allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id', 'X-API-Key'],
    }),
  );
  if (config.overloadGuard) {
    // While the event loop lags, every request but the probes gets 503 overloaded with
    // Retry-After at once, carrying the headers above, instead of queueing until it times out.
    const guard = overloadGuard();
    closers.push(async () => guard.close());
    app.use(guard);
  }
  // Probes answer before the abuse guard and the global limit: a load balancer sharing an address
  // with a banned client must still see the app alive and ready.
  app.get(
    '/health',
    describeRoute({
      summary: 'Liveness',
      tags: ['system'],
      responses: {
        200: {
          description: 'Alive',
          schema: {
            type: 'object',
            properties: { status: { const: 'ok' } },
            required: ['status'],
          },
        },
      },
    }),
    (_req, res) => {
      res.json({ status: 'ok' });
    },
  );
  app.get(
    '/ready',
    describeRoute({
      summary: 'Readiness: database and broker',
      tags: ['system'],
      responses: {
        200: { description: 'Ready', schema: readyStatus },
        503: {
          description: 'Not ready; see Retry-After',
          schema: readyStatus,
          headers: {
            'Retry-After': {
              description: 'Seconds before asking again',
              schema: { type: 'integer' },
            },
          },
        },
      },
    }),
    (_req, res, next) => {
      checkHealth(database.pool, { timeoutMs: 1000 })
        .then((db) => {
          const broker = messaging.status().connected;
          const ready = db.status !== 'down' && broker;
          res.status(ready ? 200 : 503);
          if (!ready) res.setHeader('Retry-After', '5');
          res.json({
            status: ready ? 'ok' : 'unavailable',
            checks: { database: db.status, broker: broker ? 'ok' : 'down' },
          });
        })
        .catch(next);
    },
  );

  app.use(limits.abuseGuard({ failures: config.abuseFailures }));
  app.use(limits.global({ limit: config.globalRateLimit }));
  app.use(queryLimits({ maxParams: 20, maxLength: 2048 }));
  app.use(requestTimeout({ ms: config.requestTimeoutMs, retryAfter: 5 }));

  app.post(REPORTS_PATH, describeRoute({ tags: ['system'] }), reportCollector({ logger }));

  const allowlist = ipAllowlist(config.metricsAllowlist);
  app.get(
    '/metrics',
    describeRoute({
      summary: 'Prometheus metrics (allowlisted addresses, permission metrics:read)',
      tags: ['system'],
      responses: {
        200: {
          description: 'Prometheus text exposition format',
          contentType: 'text/plain',
          schema: { type: 'string' },
        },
      },
    }),
    allowlist,
    auth,
    requireOperator(),
    requirePermission('metrics:read'),
    (_req, res, next) => {
      metrics.registry
        .metrics()
        .then((text) => {
          res.setHeader('Content-Type', metrics.registry.contentType);
          res.send(text);
        })
        .catch(next);
    },
  );

  // Built from the app itself once everything is mounted (below), and read here per request.
  let document: OpenApiDocument | undefined;
  if (config.docsEnabled) {
    const docsGuard = config.production ? [allowlist] : [];
    app.get('/openapi.json', ...docsGuard, (_req, res) => {
      res.json(document);
    });
    app.get('/docs', ...docsGuard, (_req, res, next) => {
      res.sendFile('index.html', { root: DOCS_PAGE_DIR }, (err) => err && next(err));
    });
    app.use(
      '/docs/assets',
      ...docsGuard,
      express.static(DOCS_PAGE_DIR, { index: false, redirect: false }),
      swaggerUiAssets,
    );
  }

  const customer = customerRouter(routes.customer);
  app.use(
    '/customer',
    describeRoute({ tags: ['customer'] }),
    auth,
    requireCustomer(),
    // A header check, before the write limit: a refused request spends none of the caller's writes.
    jsonOnly,
    limits.mutations({ limit: config.writeRateLimit }),
    jsonBody({ limit: '64kb', requireJson: true }),
    customer,
  );
  const operator = express.Router();
  mountRoutes(operator, routes.operator);
  app.use(
    '/operator',
    describeRoute({ tags: ['operator'] }),
    auth,
    requireOperator(),
    jsonOnly,
    jsonBody({ limit: '1kb', requireJson: true }),
    operator,
  );

  // The dashboard: its pages answer their errors as a page; its JSON under /app/api as problems.
  app.get('/app', ...dashboard.page, dashboard.pageErrors);
  app.post('/app/sign-in', ...dashboard.signIn, dashboard.pageErrors);
  app.post('/app/sign-out', ...dashboard.signOut, dashboard.pageErrors);
  app.use('/app/assets', dashboard.assets);
  app.use('/app/api', ...dashboard.api, dashboard.apiRouter);

  app.use(notFound());
  app.use(dbErrors());
  app.use(errorHandler({ logger }));

  document = openApiDocument(app, {
    info: {
      title: 'Bulwark IoT example API',
      version: APP_VERSION,
      description:
        'Devices, telemetry, alerts and rules per tenant. Every error is application/problem+json (RFC 9457) with a stable `code` and a `trace_id`.',
    },
    servers: [{ url: '/' }],
    tags: TAGS,
    exclude: ['/openapi.json', '/docs', ...DASHBOARD_UNDOCUMENTED],
  });

  const report = checkConfig({
    name: 'iot-app',
    version: APP_VERSION,
    env: config.nodeEnv,
    production: config.production,
    app,
    cors: { origins: config.corsOrigins },
    secrets: { JWT_SECRET: config.jwtSecret, API_KEY_PEPPER: config.apiKeyPepper },
    docs: {
      enabled: config.docsEnabled,
      ...(config.production ? { allowlist: config.metricsAllowlist } : {}),
    },
    mqtt: messaging.url,
    database: {
      ...(config.databaseUrl
        ? { url: config.databaseUrl }
        : { url: 'postgres://127.0.0.1/embedded-pglite' }),
      ssl: config.databaseSsl ?? false,
    },
    rateLimit: config.rateLimitEnabled,
  });
  const extra: string[] = [...database.notes];
  if (messaging.embedded) {
    extra.push(
      `MQTT: embedded aedes broker on ${messaging.url} with mutual TLS (dev CA in ${pki?.dir}); one process, no persistence, no CRL reload. Set MQTT_URL for Mosquitto.`,
    );
  }
  if (!redis)
    extra.push(
      'rate limits: in memory, per process. Set REDIS_URL to share them between instances.',
    );
  if (config.generatedSecrets.length > 0) {
    extra.push(
      `secrets: ${config.generatedSecrets.join(', ')} are development secrets kept in ${config.dataDir}/secrets (made on first start, mode 0600).`,
    );
  }
  const banner = [report.banner, ...extra.map((line) => `  [embedded] ${line}`)].join('\n');
  if (config.production && !report.ok) {
    await cleanup();
    const errors = report.findings
      .filter((f) => f.severity === 'error')
      .map((f) => `${f.id}: ${f.message}`);
    throw new StartupCheckError(`Unsafe configuration for production: ${errors.join(' ')}`);
  }

  const servers: Server[] = [];
  let stopping: Promise<void> | undefined;
  const listen = (server: Server, port: number, variable: PortVariable) => {
    servers.push(server);
    return listenOn(server, { port, host: config.host, variable });
  };
  const listenAll = async (): Promise<{ url: string; httpsUrl?: string }> => {
    if (config.httpsPort !== undefined && pki) {
      const https = hardenServer(
        createHttpsServer(
          {
            key: readFileSync(pki.serverKeyFile),
            cert: readFileSync(pki.serverCertFile),
            minVersion: 'TLSv1.2',
            ...requestClasses(app),
          },
          app,
        ) as unknown as Server,
      );
      const httpsPort = await listen(https, config.httpsPort, 'HTTPS_PORT');
      const redirect = hardenServer(
        createHttpServer((req, res) => {
          const host = (req.headers.host ?? 'localhost').replace(/:\d+$/, '');
          const safeHost = config.allowedHosts.includes(host) ? host : 'localhost';
          res.statusCode = 308;
          res.setHeader(
            'Location',
            `https://${safeHost}:${httpsPort}${req.url?.startsWith('/') ? req.url : '/'}`,
          );
          res.end();
        }),
      );
      const port = await listen(redirect, config.port, 'PORT');
      return { url: `http://${config.host}:${port}`, httpsUrl: `https://localhost:${httpsPort}` };
    }
    const port = await listen(createAppServer(app), config.port, 'PORT');
    return { url: `http://${config.host}:${port}` };
  };

  return {
    app,
    config,
    database,
    messaging,
    pki,
    metrics,
    logger,
    banner,
    routers: { customer, operator },
    routes,
    apiKeys,
    securityEvents,
    async start() {
      try {
        const urls = await listenAll();
        logger.info('listening', {
          url: urls.url,
          ...(urls.httpsUrl ? { https: urls.httpsUrl } : {}),
        });
        return { ...urls, servers };
      } catch (err) {
        // A listener that did start (HTTPS before a taken PORT) must not keep the process alive.
        await Promise.all(
          servers
            .splice(0)
            .map(
              (server) =>
                new Promise<void>((resolve) =>
                  server.listening ? server.close(() => resolve()) : resolve(),
                ),
            ),
        );
        throw err;
      }
    },
    closeServices: cleanup,
    stop() {
      stopping ??= (async () => {
        await Promise.all(
          servers.map(
            (server) =>
              new Promise<void>((resolve) => {
                // Keep-alive sockets turn idle as their requests finish; close them as they do.
                const idle = setInterval(() => server.closeIdleConnections(), 50);
                const cut = setTimeout(() => server.closeAllConnections(), 5000);
                server.close(() => {
                  clearInterval(idle);
                  clearTimeout(cut);
                  resolve();
                });
                server.closeIdleConnections();
              }),
          ),
        );
        await cleanup();
      })();
      return stopping;
    },
  };
}
