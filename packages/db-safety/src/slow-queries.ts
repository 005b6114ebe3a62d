// Times every query a pooled client runs and reports slow ones with their parameters redacted.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { channels, type DbLogger, type SlowQueryEvent } from './diagnostics.js';
import { sqlState } from './errors.js';

type QueryFn = (...args: unknown[]) => unknown;

/** `string`, `number`, `null`, `array`, ... for each parameter: enough to debug, never the value. */
export function redactParams(values: unknown): string[] {
  if (!Array.isArray(values)) return [];
  return values.map((value) => {
    if (value === null) return 'null';
    if (Array.isArray(value)) return 'array';
    if (Buffer.isBuffer(value)) return 'bytes';
    if (value instanceof Date) return 'date';
    return typeof value;
  });
}

function queryText(config: unknown): string {
  if (typeof config === 'string') return config;
  if (typeof config === 'object' && config !== null) {
    const text = (config as { text?: unknown }).text;
    if (typeof text === 'string') return text;
  }
  return '';
}

function queryValues(config: unknown, values: unknown): unknown {
  if (Array.isArray(values)) return values;
  if (typeof config === 'object' && config !== null) return (config as { values?: unknown }).values;
  return undefined;
}

/**
 * Wraps `client.query` so each call is timed. A query at or above `slowQueryMs` is published on
 * `bulwark:db:slow-query` and sent to `logger.warn` without its SQL text or values.
 */
export function instrumentClient(
  client: pg.PoolClient,
  slowQueryMs: number,
  logger: DbLogger | undefined,
): void {
  const original = client.query as unknown as QueryFn;
  const report = (config: unknown, values: unknown, started: number, err: unknown) => {
    const durationMs = performance.now() - started;
    if (durationMs < slowQueryMs) return;
    const full = queryText(config);
    const queryId = createHash('sha256').update(full).digest('hex').slice(0, 12);
    const event: SlowQueryEvent = {
      text: full.length > 1000 ? `${full.slice(0, 1000)}…` : full,
      queryId,
      durationMs: Math.round(durationMs),
      params: redactParams(queryValues(config, values)),
    };
    const state = sqlState(err);
    if (state) event.sqlState = state;
    const pid = (client as { processID?: number }).processID;
    if (typeof pid === 'number') event.pid = pid;
    if (channels.slowQuery.hasSubscribers) channels.slowQuery.publish(event);
    logger?.warn(`Slow query ${queryId} took ${event.durationMs} ms.`, {
      code: 'BULWARK_DB_SLOW_QUERY',
      queryId,
      durationMs: event.durationMs,
      params: event.params,
      ...(state ? { sqlState: state } : {}),
    });
  };
  const timed = function timedQuery(
    this: unknown,
    config: unknown,
    values?: unknown,
    callback?: unknown,
  ) {
    if (
      typeof config === 'object' &&
      config !== null &&
      typeof (config as { submit?: unknown }).submit === 'function'
    ) {
      // A query object that answers through its callback (such as a statement run under a
      // deadline) is timed there; a cursor or stream, which has none, is not.
      const submittable = config as { callback?: unknown };
      const done = submittable.callback;
      if (typeof done === 'function') {
        const started = performance.now();
        submittable.callback = (err: unknown, res: unknown) => {
          report(config, undefined, started, err);
          done(err, res);
        };
      }
      return original.call(this, config, values, callback);
    }
    const started = performance.now();
    if (typeof values === 'function' || typeof callback === 'function') {
      const cb = (typeof values === 'function' ? values : callback) as (
        err: unknown,
        res: unknown,
      ) => void;
      const done = (err: unknown, res: unknown) => {
        report(config, values, started, err);
        cb(err, res);
      };
      return typeof values === 'function'
        ? original.call(this, config, done)
        : original.call(this, config, values, done);
    }
    return (original.call(this, config, values) as Promise<unknown>).then(
      (result) => {
        report(config, values, started, undefined);
        return result;
      },
      (err: unknown) => {
        report(config, values, started, err);
        throw err;
      },
    );
  };
  client.query = timed as unknown as typeof client.query;
}
