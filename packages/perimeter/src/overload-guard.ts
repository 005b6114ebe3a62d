// overloadGuard(): sheds requests with 503 while the event loop or memory is past its limits.
import { channel } from 'node:diagnostics_channel';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { RequestHandler } from 'express';
import { checkOptions, describe, httpError, PerimeterConfigError, positiveInt } from './errors.js';
import { overloadGuardDescription, withOpenApi } from './openapi.js';

export interface OverloadGuardOptions {
  /**
   * Longest event-loop stall, in milliseconds, seen during one sample interval before requests
   * are shed; `false` turns the check off. Default: `200`.
   */
  maxEventLoopDelayMs?: number | false;
  /**
   * Share of one sample interval the event loop spent busy (`0` to `1`, from
   * `performance.eventLoopUtilization()`) before requests are shed; `false` turns the check off.
   * Default: `0.98`.
   */
  maxEventLoopUtilization?: number | false;
  /** Bytes of V8 heap in use (`process.memoryUsage().heapUsed`) before shedding. Default: off. */
  maxHeapUsedBytes?: number | false;
  /** Bytes of resident memory (`process.memoryUsage.rss()`) before shedding. Default: off. */
  maxRssBytes?: number | false;
  /** Milliseconds between two measurements, at least 10. Default: `1000`. */
  sampleIntervalMs?: number;
  /** Seconds sent in `Retry-After` with each 503. Default: `10`. */
  retryAfter?: number;
  /**
   * Paths (as `req.path` reads them) always let through, with everything under them (`'/'`
   * is the root alone), so health and readiness probes keep answering. Default: `['/health', '/ready']`.
   */
  exempt?: readonly string[];
}

/** A measure that passed its limit. */
export type OverloadReason = 'eventLoopDelay' | 'eventLoopUtilization' | 'heapUsed' | 'rss';

/** What the guard measured last, and whether it is shedding. */
export interface OverloadState {
  readonly overloaded: boolean;
  /** The measures past their limits in the last sample; empty when not overloaded. */
  readonly reasons: readonly OverloadReason[];
  /** Longest event-loop stall in the last sample interval, in milliseconds. */
  readonly eventLoopDelayMs: number;
  /** Share of the last sample interval the event loop was busy, `0` to `1`. */
  readonly eventLoopUtilization: number;
  /** Heap in use at the last sample; `0` when `maxHeapUsedBytes` is off. */
  readonly heapUsedBytes: number;
  /** Resident memory at the last sample; `0` when `maxRssBytes` is off. */
  readonly rssBytes: number;
}

/** The middleware, with the guard's last measurement and a way to stop its sampler. */
export interface OverloadGuard extends RequestHandler {
  /** The last measurement. */
  state(): OverloadState;
  /** Stops sampling; the guard then lets every request through. Safe to call twice. */
  close(): void;
}

const KNOWN = [
  'maxEventLoopDelayMs',
  'maxEventLoopUtilization',
  'maxHeapUsedBytes',
  'maxRssBytes',
  'sampleIntervalMs',
  'retryAfter',
  'exempt',
] as const;

const overloadChannel = channel('bulwark:perimeter:overload');

function optionalLimit(
  name: string,
  value: unknown,
  fallback: number | false,
  max: number,
): number | false {
  if (value === undefined) return fallback;
  if (value === false) return false;
  return positiveInt('overloadGuard', name, value, { max });
}

function utilizationLimit(value: unknown): number | false {
  if (value === undefined) return 0.98;
  if (value === false) return false;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 1) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_NUMBER',
      `overloadGuard: maxEventLoopUtilization: ${describe(value)} is not valid. Use a share of time above 0 and at most 1, such as 0.98, or false to turn the check off.`,
    );
  }
  return value;
}

function exemptPaths(value: unknown): readonly string[] {
  if (value === undefined) return ['/health', '/ready'];
  if (!Array.isArray(value)) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_PATH',
      `overloadGuard: exempt must be an array of paths, received ${describe(value)}. Use ['/health', '/ready'], or [] to exempt nothing.`,
    );
  }
  for (const path of value) {
    if (typeof path !== 'string' || !path.startsWith('/') || /[?#\s]/.test(path)) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_PATH',
        `overloadGuard: exempt: ${describe(path)} is not a path. Use a path starting with /, without query or fragment, such as '/health'.`,
      );
    }
  }
  // A trailing slash would make '/health/' miss '/health'; compare without it.
  return value.map((path: string) => (path.length > 1 ? path.replace(/\/+$/, '') : path));
}

/**
 * Sheds load while the process is overloaded. Every `sampleIntervalMs` it measures the longest
 * event-loop stall (`monitorEventLoopDelay`, and how late the sampler itself ran), event-loop
 * utilisation and, when limits are set, heap and resident memory. While any measure is past its
 * limit, each request (other than the `exempt` probe paths) gets 503 `overloaded` with
 * `Retry-After` at once, instead of queueing behind the work that is already too much. When a
 * later sample finds every measure back under its limit, requests pass again. The event loop
 * is judged from the first request the guard sees on, so the app's own start-up does not shed
 * its first requests; heap and RSS from the start. Each change of
 * state is published on `bulwark:perimeter:overload`. The sampler's timer is unref'd, so it
 * never keeps the process alive; `close()` stops it.
 *
 * @param options {@link OverloadGuardOptions}.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_INVALID_NUMBER` for a limit, interval or
 *   `retryAfter` out of range, `ERR_BULWARK_PERIMETER_INVALID_PATH` for an `exempt` entry that is
 *   not a path, `ERR_BULWARK_PERIMETER_OVERLOAD_NO_LIMITS` when every limit is turned off.
 * @example
 * const guard = overloadGuard({ maxEventLoopDelayMs: 250, maxRssBytes: 1_500_000_000 });
 * app.use(guard); // before the routes it protects
 * app.get('/health', (_req, res) => res.json({ ok: true, overloaded: guard.state().overloaded }));
 */
export function overloadGuard(options?: OverloadGuardOptions): OverloadGuard {
  const opts = checkOptions('overloadGuard', options, KNOWN) as OverloadGuardOptions;
  const maxDelayMs = optionalLimit('maxEventLoopDelayMs', opts.maxEventLoopDelayMs, 200, 60_000);
  const maxUtilization = utilizationLimit(opts.maxEventLoopUtilization);
  const maxHeap = optionalLimit(
    'maxHeapUsedBytes',
    opts.maxHeapUsedBytes,
    false,
    Number.MAX_SAFE_INTEGER,
  );
  const maxRss = optionalLimit('maxRssBytes', opts.maxRssBytes, false, Number.MAX_SAFE_INTEGER);
  const intervalMs = positiveInt(
    'overloadGuard',
    'sampleIntervalMs',
    opts.sampleIntervalMs ?? 1000,
    {
      max: 60_000,
    },
  );
  if (intervalMs < 10) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_NUMBER',
      `overloadGuard: sampleIntervalMs: ${intervalMs} is too short to measure the event loop. Use at least 10 milliseconds, such as 1000.`,
    );
  }
  const retryAfter = positiveInt('overloadGuard', 'retryAfter', opts.retryAfter ?? 10, {
    max: 86_400,
  });
  const exempt = exemptPaths(opts.exempt);
  if (maxDelayMs === false && maxUtilization === false && maxHeap === false && maxRss === false) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_OVERLOAD_NO_LIMITS',
      'overloadGuard: every limit is false, so the guard could never shed a request. Keep at least one of maxEventLoopDelayMs, maxEventLoopUtilization, maxHeapUsedBytes or maxRssBytes.',
    );
  }
  // '/' exempts the root alone, or it would exempt every path.
  const exemptPrefixes = exempt.map((path) => (path === '/' ? '\0' : `${path}/`));
  const headers = Object.freeze({ 'Retry-After': String(retryAfter) });

  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let lastElu = performance.eventLoopUtilization();
  let due = performance.now() + intervalMs;
  let current: OverloadState = Object.freeze({
    overloaded: false,
    reasons: Object.freeze([]),
    eventLoopDelayMs: 0,
    eventLoopUtilization: 0,
    heapUsedBytes: 0,
    rssBytes: 0,
  });
  let closed = false;
  // The event loop is judged from the first request on: the lag of the app's own start-up
  // (loading modules, compiling, migrating) before it serves anything does not shed the first
  // requests it gets. Heap and RSS are judged from the start.
  let serving = false;

  function sample(): void {
    const now = performance.now();
    // A stalled loop also delays this timer; its lateness counts when the histogram's own
    // timer has not yet recorded the stall.
    const lateMs = Math.max(0, now - due);
    due = now + intervalMs;
    const eventLoopDelayMs = Math.round(Math.max(histogram.max / 1e6, lateMs));
    histogram.reset();
    const elu = performance.eventLoopUtilization(lastElu);
    lastElu = performance.eventLoopUtilization();
    const eventLoopUtilization = Math.round(elu.utilization * 1000) / 1000;
    const heapUsedBytes = maxHeap === false ? 0 : process.memoryUsage().heapUsed;
    const rssBytes = maxRss === false ? 0 : process.memoryUsage.rss();

    const reasons: OverloadReason[] = [];
    if (serving && maxDelayMs !== false && eventLoopDelayMs > maxDelayMs)
      reasons.push('eventLoopDelay');
    if (serving && maxUtilization !== false && eventLoopUtilization > maxUtilization)
      reasons.push('eventLoopUtilization');
    if (maxHeap !== false && heapUsedBytes > maxHeap) reasons.push('heapUsed');
    if (maxRss !== false && rssBytes > maxRss) reasons.push('rss');

    const was = current.overloaded;
    current = Object.freeze({
      overloaded: reasons.length > 0,
      reasons: Object.freeze(reasons),
      eventLoopDelayMs,
      eventLoopUtilization,
      heapUsedBytes,
      rssBytes,
    });
    if (current.overloaded !== was && overloadChannel.hasSubscribers) {
      overloadChannel.publish({
        state: current.overloaded ? 'overloaded' : 'recovered',
        ...current,
      });
    }
  }

  const timer = setInterval(sample, intervalMs);
  timer.unref();

  const guard = function overloadGuard(req, _res, next) {
    if (!serving) {
      // Measure the loop afresh from this first request.
      serving = true;
      histogram.reset();
      lastElu = performance.eventLoopUtilization();
      due = performance.now() + intervalMs;
    }
    if (!current.overloaded) return next();
    const path = req.path;
    for (let i = 0; i < exempt.length; i++) {
      if (path === exempt[i] || path.startsWith(exemptPrefixes[i] as string)) return next();
    }
    next(httpError(503, 'Server overloaded', 'overloaded', { headers: { ...headers } }));
  } as OverloadGuard;

  guard.state = () => current;
  guard.close = () => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    histogram.disable();
    if (current.overloaded) {
      current = Object.freeze({ ...current, overloaded: false, reasons: Object.freeze([]) });
    }
  };
  return withOpenApi(overloadGuardDescription(), guard);
}
