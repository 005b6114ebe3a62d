// The dashboard at /app: sign-in with an API key, the signed-in page, its JSON endpoints and its bundled assets.
import type { KeyObject } from 'node:crypto';
import { type SqlQuery, sql } from '@bulwark/db-safety';
import { describeRoute } from '@bulwark/openapi';
import { csrfProtection } from '@bulwark/perimeter';
import type { RateLimits } from '@bulwark/rate-limit';
import {
  type ApiKeys,
  type AuditLog,
  authenticate,
  hasPermission,
  type IssuedApiKey,
  requireCustomer,
} from '@bulwark/rbac';
import express, {
  type ErrorRequestHandler,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from 'express';
import createError from 'http-errors';
import type { Database } from '../database.js';
import type { Logger } from '../logger.js';
import { dateTime, list, record, text } from '../routes/responses.js';
import { mountRoutes, type RouteSpec } from '../routes/route-table.js';
import { emptyQuery } from '../routes/schemas.js';
import { TOKEN_ISSUER } from '../tokens.js';
import { dashboardAssets } from './assets.js';
import { type Device, dashboardPage, type PageContext, signInPage } from './page.js';
import type { SecurityEvents } from './security-events.js';
import {
  clearSessionCookie,
  SESSION_AUDIENCE,
  SESSION_COOKIE,
  sessionKeyId,
  setSessionCookie,
  signSession,
} from './session.js';

/** The scopes a key needs for every panel of the dashboard. */
export const DASHBOARD_SCOPES = ['devices:read', 'telemetry:read', 'audit:read'] as const;

/** Paths of the dashboard that are pages and files rather than JSON, left out of the OpenAPI document. */
export const DASHBOARD_UNDOCUMENTED = ['/app/sign-in', '/app/sign-out', '/app/assets'] as const;

export interface DashboardContext {
  database: Database;
  apiKeys: ApiKeys;
  audit: AuditLog;
  logger: Logger;
  limits: RateLimits;
  events: SecurityEvents;
  /** The app's token key; sessions are signed with it for their own audience. */
  tokenKey: KeyObject;
}

/** The dashboard's routes, each mounted on the app at its full path. */
export interface Dashboard {
  /** `GET /app`: the sign-in form, or the signed-in page. */
  page: RequestHandler[];
  /** `POST /app/sign-in` */
  signIn: RequestHandler[];
  /** `POST /app/sign-out` */
  signOut: RequestHandler[];
  /** Renders 4xx errors of the page routes as the sign-in page instead of JSON. */
  pageErrors: ErrorRequestHandler;
  /** `/app/assets`: the bundled script and style. */
  assets: RequestHandler;
  /** `/app/api`: session check, then the JSON routes. */
  api: RequestHandler[];
  apiRouter: Router;
  /** The JSON routes, as data (for tests and the OpenAPI document). */
  routes: RouteSpec[];
}

const HOURS = 24;
const MAX_READINGS = 2000;

const point = record({ t: dateTime, v: { type: 'number' } });

const telemetrySchema = record({
  from: dateTime,
  series: {
    type: 'array',
    items: record({
      deviceId: text,
      deviceName: text,
      metric: text,
      points: { type: 'array', items: point },
    }),
  },
});

const devicesSchema = list(record({ id: text, name: text }));

const eventsSchema = list(
  record({
    id: { type: 'integer' },
    at: dateTime,
    kind: {
      type: 'string',
      enum: ['denied', 'rate-limited', 'banned', 'csrf-rejected', 'csp-report'],
    },
    summary: text,
    own: { type: 'boolean' },
    count: { type: 'integer', minimum: 1 },
  }),
);

const devicesQuery: SqlQuery = sql`SELECT id, name FROM iot.devices ORDER BY name, id LIMIT 200`;

function tenantOf(req: Request): string {
  return req.auth?.tenantId as string;
}

function sessionEnded(): Error {
  return createError(401, 'The session has ended. Sign in again.', {
    code: 'unauthorized',
    expose: true,
    headers: { 'WWW-Authenticate': 'Bearer realm="iot-app", error="invalid_token"' },
  });
}

/** The CSP nonce secureHeaders gave this response, if it treated the path as a page. */
function nonceOf(res: Response): string | undefined {
  const nonce: unknown = res.locals.cspNonce;
  return typeof nonce === 'string' && nonce !== '' ? nonce : undefined;
}

/** The app's own 404, for a page path secureHeaders did not treat as a page (then the JSON problem). */
function pageNotFound(): Error {
  return createError(404, 'The requested resource was not found.', {
    code: 'not_found',
    expose: true,
  });
}

/** Builds the dashboard's handlers; `app.ts` mounts them. */
export function createDashboard(ctx: DashboardContext): Dashboard {
  const { database, apiKeys, audit, logger, limits, events } = ctx;
  const assets = dashboardAssets('/app/assets');
  // Its own authenticator: cookie sessions for /app only, while /customer stays header-only.
  // No permission store: a session holds exactly the scopes of the key it was made from.
  const session = authenticate({
    jwt: {
      algorithms: ['HS256'],
      secret: ctx.tokenKey,
      issuer: TOKEN_ISSUER,
      audience: SESSION_AUDIENCE,
    },
    sessionCookie: SESSION_COOKIE,
    audit,
    logger,
    realm: 'iot-app',
  });
  const csrf = csrfProtection();

  const pageContext = async (res: Response): Promise<PageContext> => {
    const nonce = nonceOf(res);
    // A page without its nonce would either break or need a weaker policy: neither is served.
    // secureHeaders({ pages: { paths: ['/app'] } }) gives each page response its nonce.
    if (nonce === undefined) throw pageNotFound();
    const { script, style } = await assets.built();
    return { nonce, script, style };
  };

  const sendHtml = (res: Response, status: number, html: string) => {
    // A page carries a nonce that must not be replayed from a cache.
    res.status(status).setHeader('Cache-Control', 'no-store');
    res.type('html').send(html);
  };

  /** The key behind a session, while it is still active; `undefined` once revoked or expired. */
  const activeKey = async (req: Request) => {
    const keyId = sessionKeyId(req.auth?.subject);
    const tenantId = req.auth?.tenantId;
    if (keyId === undefined || typeof tenantId !== 'string') return undefined;
    const keys = await apiKeys.list(tenantId);
    return keys.find((k) => k.id === keyId && k.active);
  };

  /** `GET /app`: a valid session shows the dashboard; none, or one that ended, the sign-in form. */
  async function showPage(req: Request, res: Response): Promise<void> {
    const context = await pageContext(res);
    const hasCookie = req.headers.cookie?.includes(`${SESSION_COOKIE}=`) === true;
    if (!hasCookie) return sendHtml(res, 200, signInPage(context));
    const failed = await new Promise<unknown>((resolve) => session(req, res, resolve));
    const key = failed ? undefined : await activeKey(req);
    if (!key) {
      clearSessionCookie(res);
      return sendHtml(res, 200, signInPage(context, 'Your session has ended. Sign in again.'));
    }
    const tenantId = tenantOf(req);
    const [tenantName, devices] = await Promise.all([
      database.pool
        .query('SELECT name FROM bulwark_rbac.tenants WHERE id = $1', [tenantId])
        .then((r) => String(r.rows[0]?.name ?? tenantId)),
      hasPermission(req.auth, 'devices:read')
        ? database.tenant(tenantId, (tx) => tx.many<Device>(devicesQuery), req.signal)
        : ('forbidden' as const),
    ]);
    sendHtml(
      res,
      200,
      dashboardPage(context, {
        tenantName,
        keyName: key.name || key.prefix,
        devices,
        events: hasPermission(req.auth, 'audit:read') ? events.latest(tenantId) : 'forbidden',
        telemetry: hasPermission(req.auth, 'telemetry:read'),
      }),
    );
  }

  const failSignIn = async (
    req: Request,
    res: Response,
    status: 400 | 401,
    reason: string,
    message: string,
  ) => {
    audit.record({
      action: 'AUTHENTICATE',
      resourceType: 'dashboard_session',
      resourceId: null,
      actor: null,
      tenantId: null,
      status: 'failure',
      details: { via: 'dashboard', reason, ip: req.ip ?? null },
      traceId: req.id ?? null,
    });
    logger.info('dashboard sign-in failed', { code: 'unauthorized', reason });
    if (status === 401) res.setHeader('WWW-Authenticate', 'ApiKey realm="iot-app"');
    sendHtml(res, status, signInPage(await pageContext(res), message));
  };

  /** `POST /app/sign-in`: checks the key once, then hands out a session for it. */
  async function signIn(req: Request, res: Response): Promise<void> {
    const raw = (req.body as { apiKey?: unknown } | undefined)?.apiKey;
    const key = typeof raw === 'string' ? raw.trim() : '';
    if (key === '' || key.length > 200) {
      return failSignIn(req, res, 400, 'malformed', 'Enter one of your API keys.');
    }
    const identity = await apiKeys.verify(key);
    if (!identity || identity.scope === 'operator' || !identity.tenantId) {
      return failSignIn(req, res, 401, 'invalid', 'That API key was not accepted.');
    }
    setSessionCookie(
      res,
      signSession(ctx.tokenKey, {
        keyId: identity.id,
        tenantId: identity.tenantId,
        scopes: identity.scopes,
      }),
    );
    audit.record({
      action: 'AUTHENTICATE',
      resourceType: 'dashboard_session',
      resourceId: identity.id,
      actor: `api-key:${identity.id}`,
      tenantId: identity.tenantId,
      status: 'success',
      details: { via: 'dashboard' },
      traceId: req.id ?? null,
    });
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(303, '/app');
  }

  const wrap =
    (handler: (req: Request, res: Response) => Promise<void>): RequestHandler =>
    (req, res, next) => {
      handler(req, res).catch(next);
    };

  const routes: RouteSpec[] = [
    {
      method: 'get',
      path: '/devices',
      summary: "The tenant's devices, for the dashboard",
      permission: 'devices:read',
      schemas: { query: emptyQuery },
      success: { status: 200, description: 'Device ids and names', schema: devicesSchema },
      handler: async (req, res) => {
        const items = await database.tenant(
          tenantOf(req),
          (tx) => tx.many<Device>(devicesQuery),
          req.signal,
        );
        res.json({ items });
      },
    },
    {
      method: 'get',
      path: '/telemetry',
      summary: `The tenant's telemetry of the last ${HOURS} hours, one series per device and metric`,
      permission: 'telemetry:read',
      schemas: { query: emptyQuery },
      success: { status: 200, description: 'Readings, oldest first', schema: telemetrySchema },
      handler: async (req, res) => {
        const from = new Date(Date.now() - HOURS * 3_600_000);
        const rows = await database.tenant(
          tenantOf(req),
          (tx) =>
            tx.many<{ deviceId: string; deviceName: string; metric: string; t: Date; v: number }>(
              sql`SELECT * FROM (
                SELECT t.device_id AS "deviceId", d.name AS "deviceName", t.metric,
                       t.recorded_at AS t, t.value AS v
                FROM iot.telemetry t JOIN iot.devices d ON d.id = t.device_id
                WHERE t.recorded_at >= ${from.toISOString()}
                ORDER BY t.recorded_at DESC, t.id DESC LIMIT ${MAX_READINGS}
              ) recent ORDER BY t`,
            ),
          req.signal,
        );
        const series = new Map<
          string,
          { deviceId: string; deviceName: string; metric: string; points: object[] }
        >();
        for (const row of rows) {
          const key = `${row.deviceId}\u0000${row.metric}`;
          let entry = series.get(key);
          if (!entry) {
            entry = {
              deviceId: row.deviceId,
              deviceName: row.deviceName,
              metric: row.metric,
              points: [],
            };
            series.set(key, entry);
          }
          entry.points.push({ t: new Date(row.t).toISOString(), v: Number(row.v) });
        }
        res.json({ from: from.toISOString(), series: [...series.values()] });
      },
    },
    {
      method: 'get',
      path: '/security-events',
      summary:
        "Recent security events: the tenant's own, and those that name no tenant (addresses withheld)",
      permission: 'audit:read',
      schemas: { query: emptyQuery },
      success: { status: 200, description: 'Newest first, at most 20', schema: eventsSchema },
      handler: async (req, res) => {
        res.json({ items: events.latest(tenantOf(req)) });
      },
    },
  ];
  const apiRouter = express.Router();
  mountRoutes(apiRouter, routes);

  // A session lasts while its key does: revoking the key ends it at the next request.
  const stillActive: RequestHandler = function sessionKeyActive(req, res, next) {
    activeKey(req).then((key) => {
      if (key) return next();
      clearSessionCookie(res);
      next(sessionEnded());
    }, next);
  };

  const pageErrors: ErrorRequestHandler = function dashboardPageErrors(err, _req, res, next) {
    const status = (err as { status?: unknown }).status;
    if (
      typeof status !== 'number' ||
      status < 400 ||
      status >= 500 ||
      res.headersSent ||
      nonceOf(res) === undefined
    ) {
      next(err);
      return;
    }
    const headers = (err as { headers?: Record<string, string> }).headers ?? {};
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    const message =
      (err as { expose?: boolean }).expose && err instanceof Error
        ? err.message
        : 'The request was refused.';
    pageContext(res).then((context) => sendHtml(res, status, signInPage(context, message)), next);
  };

  return {
    page: [
      describeRoute({
        summary: 'The dashboard page (HTML): the sign-in form, or the signed-in view',
        tags: ['dashboard'],
        responses: {
          200: {
            description: 'An HTML page',
            contentType: 'text/html',
            schema: { type: 'string' },
          },
        },
      }),
      wrap(showPage),
    ],
    signIn: [
      csrf,
      express.urlencoded({ extended: false, limit: '2kb', parameterLimit: 5 }),
      // Per address: 5 failed attempts in 15 minutes; the 401s count toward abuseGuard too.
      limits.auth({ name: 'dashboard-sign-in', account: () => undefined }),
      wrap(signIn),
    ],
    signOut: [
      csrf,
      function signOut(_req, res) {
        clearSessionCookie(res);
        res.setHeader('Cache-Control', 'no-store');
        res.redirect(303, '/app');
      },
    ],
    pageErrors,
    assets: assets.serve,
    api: [describeRoute({ tags: ['dashboard'] }), session, requireCustomer(), stillActive],
    apiRouter,
    routes,
  };
}

/**
 * Issues an API key with the dashboard's scopes in a demo tenant, recorded as made by that
 * tenant's Full Admin (`admin@<tenant>`), expiring in a day. For tests and demos; in a running
 * app use `pnpm --filter iot-app api-key admin@acme dashboard devices:read telemetry:read audit:read`.
 */
export function issueDashboardKey(
  app: { apiKeys: ApiKeys },
  tenantId: string,
  {
    scopes = DASHBOARD_SCOPES,
    name = 'dashboard',
  }: { scopes?: readonly string[]; name?: string } = {},
): Promise<IssuedApiKey> {
  return app.apiKeys.issue(tenantId, {
    name,
    scopes: [...scopes],
    createdBy: `admin@${tenantId}`,
    expiresAt: new Date(Date.now() + 86_400_000),
  });
}
