// Prometheus metrics (prom-client) fed from the bulwark:* diagnostics channels and the HTTP layer.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { NextFunction, Request, Response } from 'express';
import type pg from 'pg';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  /** Counts requests and their latency by method, route pattern and status. */
  httpMiddleware(req: Request, res: Response, next: NextFunction): void;
  /** Stops listening to the channels. */
  close(): void;
}

function label(value: unknown, fallback = 'unknown'): string {
  return typeof value === 'string' && /^[A-Za-z0-9_.:-]{1,64}$/.test(value) ? value : fallback;
}

/**
 * One registry per app (so several apps in one process do not collide), with request counts and
 * latency, rate-limit trips and bans, authentication failures, permission denials, validation
 * rejections, database pool gauges and slow queries, and MQTT connects, reconnects and TLS errors.
 */
export function createMetrics(options: {
  pool: pg.Pool;
  mqttStatus: () => { connected: boolean; reconnects: number };
}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'iot_app_' });
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route and status.',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency.',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const counter = (name: string, help: string, labelNames: string[]) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  const rateLimited = counter(
    'rate_limit_trips_total',
    'Requests refused by a rate-limit policy.',
    ['policy'],
  );
  const banned = counter('rate_limit_bans_total', 'Clients banned by the abuse guard.', ['policy']);
  const rateStore = counter('rate_limit_store_errors_total', 'Failed rate-limit store calls.', [
    'policy',
  ]);
  const authFailures = counter('auth_failures_total', 'Failed authentications.', ['via', 'reason']);
  const denials = counter(
    'authorization_denials_total',
    'Requests refused for a missing permission or scope.',
    ['reason'],
  );
  const validation = counter('validation_rejections_total', 'Requests refused by validation.', [
    'code',
  ]);
  const slowQueries = counter(
    'db_slow_queries_total',
    'Queries slower than the slow-query threshold.',
    [],
  );
  const poolErrors = counter('db_pool_errors_total', 'Errors on idle database connections.', []);
  const errors = counter(
    'http_server_errors_total',
    'Responses with status 5xx rendered by the error handler.',
    ['code'],
  );
  const timeouts = counter(
    'http_request_timeouts_total',
    'Requests cut off by the request timeout.',
    [],
  );
  const mqttConnects = counter('mqtt_connects_total', 'MQTT connections made by the service.', []);
  const mqttReconnects = counter('mqtt_reconnects_total', 'MQTT reconnect attempts scheduled.', []);
  const mqttTlsErrors = counter('mqtt_tls_errors_total', 'MQTT TLS failures.', ['code']);
  new Gauge({
    name: 'db_pool_connections',
    help: 'Database pool connections by state.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.set({ state: 'total' }, options.pool.totalCount);
      this.set({ state: 'idle' }, options.pool.idleCount);
      this.set({ state: 'waiting' }, options.pool.waitingCount);
    },
  });
  new Gauge({
    name: 'mqtt_connected',
    help: '1 while the service is connected to the broker.',
    registers: [registry],
    collect() {
      this.set(options.mqttStatus().connected ? 1 : 0);
    },
  });

  const handlers: [string, (message: unknown) => void][] = [
    ['bulwark:rate-limit:limited', (m) => rateLimited.inc({ policy: label(field(m, 'policy')) })],
    ['bulwark:rate-limit:banned', (m) => banned.inc({ policy: label(field(m, 'policy')) })],
    ['bulwark:rate-limit:store-error', (m) => rateStore.inc({ policy: label(field(m, 'policy')) })],
    [
      'bulwark:rbac:auth-failed',
      (m) => authFailures.inc({ via: label(field(m, 'via')), reason: label(field(m, 'reason')) }),
    ],
    ['bulwark:rbac:denied', (m) => denials.inc({ reason: label(field(m, 'reason')) })],
    ['bulwark:validators:rejected', (m) => validation.inc({ code: label(field(m, 'code')) })],
    ['bulwark:db:slow-query', () => slowQueries.inc()],
    ['bulwark:db:pool-error', () => poolErrors.inc()],
    ['bulwark:error-handler:error', (m) => errors.inc({ code: label(field(m, 'code')) })],
    ['bulwark:perimeter:timeout', () => timeouts.inc()],
    ['bulwark:mqtt:connect', () => mqttConnects.inc()],
    ['bulwark:mqtt:reconnect', () => mqttReconnects.inc()],
    ['bulwark:mqtt:tls-error', (m) => mqttTlsErrors.inc({ code: label(field(m, 'code')) })],
  ];
  for (const [name, handler] of handlers) subscribe(name, handler);

  return {
    registry,
    httpMiddleware(req, res, next) {
      const end = latency.startTimer();
      const route = matchedRoute(req);
      res.once('finish', () => {
        const labels = { method: req.method, route: route.pattern };
        end(labels);
        requests.inc({ ...labels, status: String(res.statusCode) });
      });
      next();
    },
    close() {
      for (const [name, handler] of handlers) unsubscribe(name, handler);
    },
  };
}

/**
 * The full pattern of the route a request matched (`/customer/devices/:id`), or `unmatched`: the
 * pattern, never the raw path, keeps label values bounded. It is read when the router matches the
 * route, the one moment `req.baseUrl` holds the mount path: a router resets `req.baseUrl` when an
 * error leaves it, so reading it when the answer is sent labelled a route's errors without its
 * mount path (`/devices/:id`) and its successes with it.
 */
function matchedRoute(req: Request): { pattern: string } {
  const matched = { pattern: 'unmatched' };
  let route: { path?: unknown } | undefined = req.route;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set(value: { path?: unknown } | undefined) {
      route = value;
      if (value?.path !== undefined) matched.pattern = `${req.baseUrl}${String(value.path)}`;
    },
  });
  return matched;
}

function field(message: unknown, name: string): unknown {
  return typeof message === 'object' && message !== null
    ? (message as Record<string, unknown>)[name]
    : undefined;
}
