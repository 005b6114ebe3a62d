// checkHealth and healthRoute: readiness through the pool, single-flight with a short cache.
import type pg from 'pg';
import { healthRouteDescription, withOpenApi } from './openapi.js';
import { invalidOption, rejectUnknownOptions, requireObject, timeoutOption } from './options.js';

/** Result of {@link checkHealth}. */
export interface HealthResult {
  /** `ok`; `degraded` when slow or clients are queueing for a connection; `down` when the probe failed. */
  status: 'ok' | 'degraded' | 'down';
  /** How long the probe took (the timeout when it timed out). */
  latencyMs: number;
  pool: { total: number; idle: number; waiting: number };
  /** Why it is down: `timeout`, `probe-pending`, or an SQLSTATE / Node error code. Never a message. */
  reason?: string;
  /** When the probe ran (ISO 8601). Cached results keep their time. */
  checkedAt: string;
}

/** Options of {@link checkHealth}. */
export interface HealthOptions {
  /** The probe counts as failed after this long. Default 1000. */
  timeoutMs?: number;
  /** A result is reused for this long, so a flood of probes costs one query. Default 1000. */
  cacheMs?: number;
  /** A probe slower than this is `degraded`. Default half of `timeoutMs`. */
  degradedMs?: number;
}

/** Options of {@link healthRoute}. */
export interface HealthRouteOptions extends HealthOptions {
  /** Include `latencyMs` and `pool` in the body. Default false: a readiness probe needs only the status. */
  details?: boolean;
}

/** The parts of an HTTP response the route uses; an Express or plain Node response fits. */
export interface HealthResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
}

interface ProbeState {
  cached?: { result: HealthResult; until: number };
  inFlight?: Promise<HealthResult> | undefined;
  /** The query of a probe that timed out and has not come back yet. */
  stuck?: Promise<unknown> | undefined;
}

const states = new WeakMap<pg.Pool, ProbeState>();
const HEALTH_OPTIONS = ['timeoutMs', 'cacheMs', 'degradedMs'] as const;

function resolve(where: string, options: HealthOptions, known: readonly string[]) {
  requireObject(where, options, '{ timeoutMs: 1000 }');
  rejectUnknownOptions(where, options, known);
  const timeoutMs = timeoutOption(where, 'timeoutMs', options.timeoutMs, 1000, { example: '1000' });
  return {
    timeoutMs,
    cacheMs: timeoutOption(where, 'cacheMs', options.cacheMs, 1000, { min: 0, example: '1000' }),
    degradedMs: timeoutOption(
      where,
      'degradedMs',
      options.degradedMs,
      Math.max(1, Math.floor(timeoutMs / 2)),
      { example: '500' },
    ),
  };
}

function poolCounts(pool: pg.Pool): HealthResult['pool'] {
  return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount };
}

function errorReason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Za-z0-9_]{1,40}$/.test(code) ? code : 'error';
}

async function probe(
  pool: pg.Pool,
  state: ProbeState,
  settings: ReturnType<typeof resolve>,
): Promise<HealthResult> {
  const started = performance.now();
  const checkedAt = new Date().toISOString();
  if (state.stuck) {
    // The previous probe's query never came back: report that instead of piling up more.
    return {
      status: 'down',
      latencyMs: 0,
      pool: poolCounts(pool),
      reason: 'probe-pending',
      checkedAt,
    };
  }
  const query = pool.query('SELECT 1');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolveTimeout) => {
    timer = setTimeout(() => resolveTimeout('timeout'), settings.timeoutMs);
    timer.unref();
  });
  try {
    const outcome = await Promise.race([query, timedOut]);
    const latencyMs = Math.round(performance.now() - started);
    if (outcome === 'timeout') {
      const stuck = query.then(
        () => {},
        () => {},
      );
      state.stuck = stuck;
      stuck.then(() => {
        if (state.stuck === stuck) state.stuck = undefined;
      });
      return { status: 'down', latencyMs, pool: poolCounts(pool), reason: 'timeout', checkedAt };
    }
    const counts = poolCounts(pool);
    const slow = latencyMs >= settings.degradedMs || counts.waiting > 0;
    return { status: slow ? 'degraded' : 'ok', latencyMs, pool: counts, checkedAt };
  } catch (err) {
    return {
      status: 'down',
      latencyMs: Math.round(performance.now() - started),
      pool: poolCounts(pool),
      reason: errorReason(err),
      checkedAt,
    };
  } finally {
    clearTimeout(timer);
  }
}

function check(pool: pg.Pool, settings: ReturnType<typeof resolve>): Promise<HealthResult> {
  let state = states.get(pool);
  if (!state) {
    state = {};
    states.set(pool, state);
  }
  const now = performance.now();
  if (state.cached && state.cached.until > now) return Promise.resolve({ ...state.cached.result });
  if (state.inFlight) return state.inFlight.then((result) => ({ ...result }));
  const current = state;
  const running = probe(pool, current, settings).then((result) => {
    current.inFlight = undefined;
    if (settings.cacheMs > 0)
      current.cached = { result, until: performance.now() + settings.cacheMs };
    return result;
  });
  current.inFlight = running;
  return running.then((result) => ({ ...result }));
}

/**
 * Probes the database through the pool (`SELECT 1`, never a connection of its own). Concurrent
 * calls share one probe, and a result is reused for `cacheMs`, so a flood of health checks costs
 * one query. Never rejects: a failure is `status: 'down'`.
 *
 * @throws {DbConfigError} for unknown or invalid options.
 * @example
 * const { status, latencyMs, pool: counts } = await checkHealth(pool, { timeoutMs: 500 });
 */
export function checkHealth(pool: pg.Pool, options: HealthOptions = {}): Promise<HealthResult> {
  return check(pool, resolve('checkHealth', options, HEALTH_OPTIONS));
}

/**
 * A readiness handler: `200 {"status":"ok"}` (or `degraded`), `503
 * {"status":"down","code":"database_unavailable"}` when the database cannot be reached. It needs
 * no Express types: any `(req, res)` server calls it.
 *
 * @throws {DbConfigError} for unknown or invalid options.
 * @example
 * app.get('/ready', healthRoute(pool));
 */
export function healthRoute(
  pool: pg.Pool,
  options: HealthRouteOptions = {},
): (req: unknown, res: HealthResponse) => void {
  const settings = resolve('healthRoute', options, [...HEALTH_OPTIONS, 'details']);
  const { details = false } = options;
  if (typeof details !== 'boolean')
    invalidOption('healthRoute', 'details', details, 'Use true or false.');
  return withOpenApi(
    healthRouteDescription(),
    function databaseHealth(_req: unknown, res: HealthResponse): void {
      check(pool, settings).then((result) => {
        const down = result.status === 'down';
        const body: Record<string, unknown> = { status: result.status };
        if (down) body.code = 'database_unavailable';
        if (details) {
          body.latencyMs = result.latencyMs;
          body.pool = result.pool;
        }
        res.statusCode = down ? 503 : 200;
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        res.setHeader('Cache-Control', 'no-store');
        if (down)
          res.setHeader('Retry-After', String(Math.max(1, Math.ceil(settings.cacheMs / 1000))));
        res.end(JSON.stringify(body));
      });
    },
  );
}
