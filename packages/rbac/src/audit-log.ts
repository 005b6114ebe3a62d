// A non-blocking audit log: a bounded queue flushed to PostgreSQL in batches, with loss counted and logged.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { checkOptionNames, checkOptionsObject, defined, RbacConfigError, show } from './errors.js';
import { type AuditSink, pathOf, traceIdOf, warn, warnThrottled } from './events.js';
import type { Logger, Queryable } from './types.js';

/** One audit entry. Strings are truncated and `details` is capped, so a row always fits. */
export interface AuditEntry {
  /** `CREATE`, `UPDATE`, `DELETE`, `EXECUTE`, `ROTATE`, `AUTHENTICATE`, `AUTHORIZE`, ... */
  action: string;
  /** What was acted on, such as `device` or `api_key`. */
  resourceType: string;
  resourceId?: string | null;
  /** Who acted: `req.auth.subject`, or `null` when unknown. */
  actor?: string | null;
  tenantId?: string | null;
  /** `success`, `failure`, `denied`, ... */
  status: string;
  /** Safe, structured context. Never secrets or raw request bodies. */
  details?: Record<string, unknown>;
  /** The request's trace id (`req.id`). */
  traceId?: string | null;
}

export interface AuditLogOptions {
  /** A `pg.Pool` or anything with `query(text, values)`, after `migrate(db)`. */
  db: Queryable;
  /** Receives the loss and write-failure warnings. Default: `process.emitWarning`. */
  logger?: Logger;
  /** Most entries waiting to be written; beyond it new entries are dropped and counted. Default `10_000`. */
  maxQueue?: number;
  /** Most rows per INSERT. Default `200`. */
  batchSize?: number;
  /** How often the queue is flushed, in ms. Default `1000`. */
  flushIntervalMs?: number;
}

export interface AuditStats {
  queued: number;
  written: number;
  dropped: number;
  failedBatches: number;
}

export interface AuditLog extends AuditSink {
  /** Queues an entry; never blocks, never throws on a database problem. */
  record(entry: AuditEntry): void;
  /** Writes everything queued so far. */
  flush(): Promise<void>;
  /** Counters since start. */
  stats(): AuditStats;
  /**
   * A middleware that records each mutating request (POST → CREATE, PUT/PATCH → UPDATE,
   * DELETE → DELETE) when its response finishes, with actor, tenant, status code and trace id.
   * A `resourceId` callback that throws is recorded with `resourceId: null` and warned about
   * (`ERR_BULWARK_RBAC_AUDIT_RESOURCE_ID`); it never reaches the request or the process.
   */
  mutations(options: {
    resourceType: string;
    resourceId?: (req: Request) => string | undefined;
  }): RequestHandler;
  /** Flushes and stops the timer. */
  close(): Promise<void>;
}

const NAMES = ['db', 'logger', 'maxQueue', 'batchSize', 'flushIntervalMs'] as const;
const COLUMNS = 8;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\x00-\x1f\x7f]/g;
const MAX_DETAILS = 8192;
const ACTIONS: Record<string, string> = {
  POST: 'CREATE',
  PUT: 'UPDATE',
  PATCH: 'UPDATE',
  DELETE: 'DELETE',
};

interface Row {
  values: unknown[];
  /** On an `AUDIT_LOSS` row: how many dropped entries it reports, should it be dropped too. */
  reports?: number;
}

// PostgreSQL class 22 (data exception): the row itself is refused, so retrying it cannot help.
const isDataError = (err: unknown): boolean =>
  String((err as { code?: unknown } | null)?.code ?? '').startsWith('22');

// String.prototype.toWellFormed is in Node 20.0 and later; TypeScript declares it from ES2024.
const wellFormed = (value: string): string =>
  (value as string & { toWellFormed(): string }).toWellFormed();

/**
 * A string PostgreSQL will store: no NUL (refused in `text` and as `\u0000` in `jsonb`) and no
 * lone surrogate (refused in `jsonb`), which becomes U+FFFD.
 */
function storable(value: string): string {
  return wellFormed(value.includes('\0') ? value.replaceAll('\0', '') : value);
}

function text(value: unknown, max: number): string | null {
  if (value === undefined || value === null) return null;
  let string: string;
  try {
    string = String(value);
  } catch {
    return '[unprintable]';
  }
  // Control characters would let an entry forge lines in a log export.
  return wellFormed(string.replace(CONTROL, ' ').slice(0, max));
}

function cleanKeys(value: object): object {
  const keys = Object.keys(value);
  if (keys.every((key) => storable(key) === key)) return value;
  return Object.fromEntries(
    keys.map((key) => [storable(key), (value as Record<string, unknown>)[key]]),
  );
}

function serialize(details: unknown): string {
  if (details === undefined || details === null) return '{}';
  try {
    // Cleaned value by value, never in the JSON text, where a pattern cannot tell an escape
    // (`\u0000`) from an escaped backslash followed by `u0000`.
    const json = JSON.stringify(details, (_key, value: unknown) => {
      if (typeof value === 'string') return storable(value);
      if (typeof value === 'bigint') return value.toString();
      if (typeof value === 'object' && value !== null && !Array.isArray(value))
        return cleanKeys(value);
      return value;
    });
    if (json === undefined || json === '' || json[0] !== '{') return '{}';
    return json.length > MAX_DETAILS
      ? JSON.stringify({ truncated: true, size: json.length })
      : json;
  } catch {
    return JSON.stringify({ unserializable: true });
  }
}

/**
 * An audit log writing to `bulwark_rbac.audit_log`. `record()` only queues; a timer writes
 * batches of up to `batchSize` rows per INSERT. When the queue is full, new entries are dropped,
 * counted and reported (a warning, and an `AUDIT_LOSS` row once the database takes writes again).
 *
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_DB` without `db.query`, `ERR_BULWARK_RBAC_OPTIONS` for bad sizes.
 * @example
 * const audit = createAuditLog({ db: pool, logger });
 * app.use(authenticate({ jwt, audit }));
 * app.post('/devices', requirePermission('devices:write'), audit.mutations({ resourceType: 'device' }), createDevice);
 */
export function createAuditLog(input: AuditLogOptions): AuditLog {
  checkOptionsObject('createAuditLog', input);
  checkOptionNames('createAuditLog', input, NAMES);
  const options = defined(input);
  const db = options.db;
  if (!db || typeof db.query !== 'function') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_DB',
      `createAuditLog: db ${show(db)} has no query(text, values) method. Pass a pg Pool.`,
    );
  }
  const positive = (
    name: 'maxQueue' | 'batchSize' | 'flushIntervalMs',
    fallback: number,
    max: number,
  ) => {
    const value = options[name] ?? fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_OPTIONS',
        `createAuditLog: ${name} ${show(value)} is not valid. Use an integer from 1 to ${max}, such as ${fallback}.`,
      );
    }
    return value;
  };
  const maxQueue = positive('maxQueue', 10_000, 10_000_000);
  const batchSize = positive('batchSize', 200, 8000);
  const flushIntervalMs = positive('flushIntervalMs', 1000, 3_600_000);
  const logger = options.logger;

  const queue: Row[] = [];
  const stats: AuditStats = { queued: 0, written: 0, dropped: 0, failedBatches: 0 };
  let unreported = 0;
  let flushing: Promise<void> | undefined;
  let closed = false;

  const toRow = (entry: AuditEntry): Row => ({
    values: [
      text(entry.action, 64) ?? 'UNKNOWN',
      text(entry.resourceType, 64) ?? 'unknown',
      text(entry.resourceId, 256),
      text(entry.actor, 256),
      text(entry.tenantId, 64),
      text(entry.status, 32) ?? 'unknown',
      serialize(entry.details),
      text(entry.traceId, 128),
    ],
  });

  const writeBatch = async (rows: Row[]): Promise<void> => {
    const placeholders = rows
      .map(
        (_, i) =>
          `(${Array.from({ length: COLUMNS }, (_, c) => `$${i * COLUMNS + c + 1}${c === 6 ? '::jsonb' : ''}`).join(', ')})`,
      )
      .join(', ');
    await db.query(
      `INSERT INTO bulwark_rbac.audit_log (action, resource_type, resource_id, actor, tenant_id, status, details, trace_id) VALUES ${placeholders}`,
      rows.flatMap((row) => row.values),
    );
  };

  /** Counts rows that will never be written; an `AUDIT_LOSS` row passes on the count it carried. */
  const lose = (rows: Row[]): number => {
    let entries = 0;
    for (const row of rows) {
      if (row.reports === undefined) {
        stats.dropped++;
        entries++;
      } else entries += row.reports;
    }
    unreported += entries;
    return entries;
  };

  const failed = (err: unknown, rows: Row[], retry: boolean): void => {
    const entries = retry ? rows.length : lose(rows);
    if (retry) queue.unshift(...rows);
    warn(
      logger,
      'ERR_BULWARK_RBAC_AUDIT_WRITE',
      retry
        ? 'audit entries could not be written; will retry'
        : 'audit entries could not be written and were dropped',
      { entries, error: err instanceof Error ? err.message : String(err) },
    );
  };

  const drain = async (): Promise<void> => {
    // Also with an empty queue when a loss is unreported: the database may take writes again.
    while (queue.length > 0 || unreported > 0) {
      if (unreported > 0) {
        const count = unreported;
        unreported = 0;
        queue.unshift({
          ...toRow({
            action: 'AUDIT_LOSS',
            resourceType: 'audit_log',
            status: 'failure',
            details: { dropped: count },
          }),
          reports: count,
        });
      }
      const batch = queue.splice(0, batchSize);
      try {
        await writeBatch(batch);
        stats.written += batch.length;
        continue;
      } catch (err) {
        stats.failedBatches++;
        if (!isDataError(err)) {
          // Anything else (connection lost, database down) is retried while there is room.
          failed(err, batch, queue.length + batch.length <= maxQueue);
          return;
        }
      }
      // A data error fails the whole INSERT without naming the row: write the rows one by one,
      // so only the rows PostgreSQL refuses are lost, and counted exactly.
      const refused: Row[] = [];
      let reason: unknown;
      for (let i = 0; i < batch.length; i++) {
        const row = batch[i]!;
        try {
          await writeBatch([row]);
          stats.written++;
        } catch (err) {
          if (isDataError(err)) {
            refused.push(row);
            reason ??= err;
            continue;
          }
          if (refused.length > 0) failed(reason, refused, false);
          const rest = batch.slice(i);
          failed(err, rest, queue.length + rest.length <= maxQueue);
          return;
        }
      }
      if (refused.length > 0) {
        failed(reason, refused, false);
        // A refused AUDIT_LOSS row would be refused again: stop, the count waits for later.
        if (refused.some((row) => row.reports !== undefined)) return;
      }
    }
  };

  const flush = (): Promise<void> => {
    flushing ??= drain().finally(() => {
      flushing = undefined;
      stats.queued = queue.length;
    });
    return flushing;
  };

  const timer = setInterval(() => {
    if (queue.length > 0 || unreported > 0) void flush();
  }, flushIntervalMs);
  timer.unref();

  const record = (entry: AuditEntry): void => {
    if (closed || !entry || typeof entry !== 'object') return;
    if (queue.length >= maxQueue) {
      stats.dropped++;
      if (unreported++ === 0) {
        warn(
          logger,
          'ERR_BULWARK_RBAC_AUDIT_LOSS',
          'the audit queue is full; entries are being dropped and counted',
          {
            maxQueue,
          },
        );
      }
      return;
    }
    let row: Row;
    try {
      row = toRow(entry);
    } catch {
      // An entry with a throwing getter: counted as lost rather than thrown at the caller.
      stats.dropped++;
      unreported++;
      return;
    }
    queue.push(row);
    stats.queued = queue.length;
    if (queue.length >= batchSize) void flush();
  };

  return {
    record,
    flush,
    stats: () => ({ ...stats, queued: queue.length }),
    mutations({ resourceType, resourceId }) {
      if (typeof resourceType !== 'string' || resourceType === '') {
        throw new RbacConfigError(
          'ERR_BULWARK_RBAC_OPTIONS',
          'audit.mutations: resourceType is required, such as "device".',
        );
      }
      return function auditMutation(req: Request, res: Response, next: NextFunction) {
        const action = ACTIONS[req.method];
        if (!action) return next();
        res.once('finish', () => {
          const auth = req.auth;
          let id: string | null = null;
          try {
            id = resourceId?.(req) ?? null;
          } catch (err) {
            // Runs after the response, outside any request handler: a throw here would be an
            // uncaught exception (`req => req.body.id` on a POST without a body).
            warnThrottled(
              logger,
              'ERR_BULWARK_RBAC_AUDIT_RESOURCE_ID',
              `audit.mutations: the resourceId callback for ${resourceType} threw; the entry is recorded with resourceId null`,
              { resourceType, error: err instanceof Error ? err.message : String(err) },
            );
          }
          record({
            action,
            resourceType,
            resourceId: id,
            actor: auth?.subject ?? null,
            tenantId: auth?.tenantId ?? null,
            status: res.statusCode < 400 ? 'success' : 'failure',
            details: {
              method: req.method,
              path: pathOf(req),
              statusCode: res.statusCode,
              via: auth?.via ?? null,
            },
            traceId: traceIdOf(req),
          });
        });
        next();
      };
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await flush();
    },
  };
}
