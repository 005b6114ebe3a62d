// withTransaction and withTenant: BEGIN/COMMIT/ROLLBACK with savepoints, retries, cancellation and safe release.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { cancelBackend } from './cancel.js';
import { deadlineOf, deadlineTimeoutSql, timeLeft } from './deadline.js';
import { channels } from './diagnostics.js';
import { DbAbortError, DbConfigError, DbSafetyError, isTimeoutReason, sqlState } from './errors.js';
import { invalidOption, rejectUnknownOptions, requireObject, timeoutOption } from './options.js';
import { clientSafety, isPool, localTimeoutsSql, poolClientConfig, poolSafety } from './pool.js';

/** Options of {@link withTransaction}. */
export interface TransactionOptions {
  /** Isolation level. Default: the server's (`read committed` unless changed). */
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
  /** Start a `READ ONLY` transaction. Default false. */
  readOnly?: boolean;
  /**
   * How many times the whole callback runs again after a serialization failure (`40001`) or a
   * deadlock (`40P01`), with jittered exponential backoff. Default 3. Nested calls never retry.
   */
  retries?: number;
  /**
   * Aborting cancels the running statement on the server and rolls the transaction back. A
   * deadline the signal carries (`req.signal` from `requestTimeout()`) caps `statement_timeout`
   * at the time left, set in the same round trip as `BEGIN`.
   */
  signal?: AbortSignal;
  /** A `statement_timeout` for this transaction only (`set_config(..., true)`). Default: the pool's. */
  statementTimeoutMs?: number;
}

/** Options of {@link withTenant}: those of {@link withTransaction}, plus the settings to set. */
export interface TenantOptions extends TransactionOptions {
  /** Claims (for example a verified JWT payload) stored as JSON in `claimsSetting`. */
  claims?: Record<string, unknown>;
  /** The setting holding the tenant id. Default `'app.tenant_id'`. */
  setting?: string;
  /** The setting holding the claims. Default `'request.jwt.claims'`. */
  claimsSetting?: string;
}

/** Something a transaction can run on: a pool, or a client (its own or one already in a transaction). */
export type Queryable = pg.Pool | pg.PoolClient | pg.Client;

interface ActiveTransaction {
  savepoints: number;
}

const active = new WeakMap<pg.ClientBase, ActiveTransaction>();
/**
 * Clients a cancel request was sent for. A cancel can land after its statement ended, on whatever
 * runs next, so such a connection is closed instead of pooled, also when the cancel came from a
 * savepoint or a single query inside the transaction rather than from the transaction itself.
 */
const cancelSent = new WeakSet<pg.ClientBase>();
const RETRYABLE = new Set(['40001', '40P01']);
const TX_OPTIONS = ['isolation', 'readOnly', 'retries', 'signal', 'statementTimeoutMs'] as const;
const TENANT_OPTIONS = [...TX_OPTIONS, 'claims', 'setting', 'claimsSetting'] as const;
const ISOLATION = {
  'read committed': 'READ COMMITTED',
  'repeatable read': 'REPEATABLE READ',
  serializable: 'SERIALIZABLE',
} as const;
const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/;

/** True when `client` is inside a transaction started by this package. */
export function inTransaction(client: pg.ClientBase): boolean {
  return active.has(client);
}

interface Resolved {
  begin: string;
  retries: number;
  signal: AbortSignal | undefined;
  hasLevel: boolean;
}

function resolve(
  where: string,
  target: Queryable,
  options: TransactionOptions,
  known: readonly string[],
): Resolved {
  requireObject(where, options, '{ isolation: "serializable" }');
  rejectUnknownOptions(where, options, known);
  const { isolation, readOnly, signal } = options;
  if (isolation !== undefined && !Object.hasOwn(ISOLATION, isolation)) {
    invalidOption(
      where,
      'isolation',
      isolation,
      "Use 'read committed', 'repeatable read' or 'serializable'.",
    );
  }
  if (readOnly !== undefined && typeof readOnly !== 'boolean') {
    invalidOption(where, 'readOnly', readOnly, 'Use true or false.');
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    invalidOption(
      where,
      'signal',
      signal,
      'Pass an AbortSignal, such as AbortSignal.timeout(5000).',
    );
  }
  const retries = timeoutOption(where, 'retries', options.retries, 3, {
    min: 0,
    max: 20,
    unit: 'retries',
    example: '3',
  });
  const statementTimeoutMs = timeoutOption(
    where,
    'statementTimeoutMs',
    options.statementTimeoutMs,
    0,
    { example: '30_000' },
  );
  let begin = 'BEGIN';
  if (isolation) begin += ` ISOLATION LEVEL ${ISOLATION[isolation]}`;
  if (readOnly) begin += ' READ ONLY';
  // A client checked out of a transaction-mode pool gets the timeouts inside the transaction too.
  const safety = isPool(target) ? poolSafety(target) : clientSafety(target);
  if (safety?.pgbouncer === 'transaction') {
    begin += `; ${localTimeoutsSql({ ...safety, statementTimeoutMs: statementTimeoutMs || safety.statementTimeoutMs })}`;
  } else if (statementTimeoutMs > 0) {
    begin += `; SELECT set_config('statement_timeout', '${statementTimeoutMs}', true)`;
  }
  return {
    begin,
    retries,
    signal,
    hasLevel: isolation !== undefined || readOnly !== undefined || statementTimeoutMs > 0,
  };
}

function aborted(signal: AbortSignal, cause?: unknown): DbAbortError {
  return new DbAbortError('The transaction was aborted and rolled back.', {
    cause: cause ?? signal.reason,
    timedOut: isTimeoutReason(signal.reason),
  });
}

function savepointAborted(signal: AbortSignal, cause?: unknown): DbAbortError {
  return new DbAbortError('The nested transaction was aborted and rolled back to its savepoint.', {
    cause: cause ?? signal.reason,
    timedOut: isTimeoutReason(signal.reason),
  });
}

function deadlinePassed(cause?: unknown): DbAbortError {
  return cause === undefined
    ? new DbAbortError(
        'The deadline passed before the transaction could start; it was not begun.',
        {
          timedOut: true,
        },
      )
    : new DbAbortError('The transaction ran into its deadline and was rolled back.', {
        cause,
        timedOut: true,
      });
}

/** Resolves with a client from the pool, or rejects when `signal` aborts first. */
export function acquire(pool: pg.Pool, signal: AbortSignal | undefined): Promise<pg.PoolClient> {
  if (!signal) return pool.connect();
  if (signal.aborted) return Promise.reject(aborted(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(aborted(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    pool.connect().then(
      (client) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) {
          client.release();
          return;
        }
        resolve(client);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** Cancels the client's running statement on the server when `signal` aborts. */
export function cancelOnAbort(
  pool: pg.Pool | undefined,
  client: pg.ClientBase,
  signal: AbortSignal | undefined,
): { readonly fired: boolean; settled(): Promise<void>; dispose(): void } {
  let fired = false;
  let cancelling: Promise<void> | undefined;
  if (!signal) return { fired, settled: async () => {}, dispose: () => {} };
  const onAbort = () => {
    fired = true;
    cancelSent.add(client);
    const config = pool ? poolClientConfig(pool) : undefined;
    const viaProxy = pool ? Boolean(poolSafety(pool)?.pgbouncer) : false;
    cancelling = cancelBackend(client, config, { viaProxy }).catch(() => {});
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return {
    get fired() {
      return fired;
    },
    settled: async () => {
      await cancelling;
    },
    dispose: () => signal.removeEventListener('abort', onAbort),
  };
}

function backoffMs(attempt: number): number {
  // Full jitter: concurrent losers of the same conflict spread out instead of colliding again.
  const ceiling = Math.min(1000, 20 * 2 ** attempt);
  return Math.round(Math.random() * ceiling);
}

function isClean(client: pg.ClientBase): boolean {
  const status = (
    client as { getTransactionStatus?: () => string | null }
  ).getTransactionStatus?.();
  return status === undefined || status === null || status === 'I';
}

/**
 * Runs `fn(client)` inside a transaction: `BEGIN`, then `COMMIT` when it resolves or `ROLLBACK`
 * when it throws. The client is always released; it is destroyed (`release(true)`) instead of
 * returned to the pool when it is not cleanly idle afterwards, when `ROLLBACK` failed, or when the
 * transaction was aborted. The whole callback runs again on a serialization failure or deadlock.
 * Called with a client that is already in a transaction, it uses a savepoint instead.
 *
 * @param target A pool (a client is checked out), a client already inside `withTransaction` (a
 *   savepoint), or a client you hold (used and left checked out).
 * @throws {DbSafetyError} `ERR_BULWARK_DB_TRANSACTION_ROLLED_BACK` when `fn` resolved but the
 *   transaction had already failed (an error was caught inside `fn`), so nothing was committed.
 * @throws {DbAbortError} when `signal` aborted.
 * @throws {DbConfigError} for unknown or invalid options.
 * @example
 * await withTransaction(pool, async (client) => {
 *   await client.query(sql`UPDATE account SET balance = balance - ${amount} WHERE id = ${from}`);
 *   await client.query(sql`UPDATE account SET balance = balance + ${amount} WHERE id = ${to}`);
 * }, { isolation: 'serializable' });
 */
export async function withTransaction<T>(
  target: Queryable,
  fn: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  return run('withTransaction', target, fn, options, TX_OPTIONS);
}

async function run<T>(
  where: string,
  target: Queryable,
  fn: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions,
  known: readonly string[],
): Promise<T> {
  if (typeof fn !== 'function')
    invalidOption(where, 'fn', fn, 'Pass an async function (client) => { ... }.');
  const resolved = resolve(where, target, options, known);
  const { signal } = resolved;
  if (signal?.aborted) throw aborted(signal);
  if (!isPool(target)) {
    const client = target as pg.PoolClient;
    const state = active.get(client);
    if (state) {
      if (resolved.hasLevel) {
        throw new DbConfigError(
          'ERR_BULWARK_DB_INVALID_OPTION',
          `${where}: isolation, readOnly and statementTimeoutMs cannot change inside a transaction that is already running; this call becomes a savepoint. Set them on the outer call.`,
        );
      }
      return savepoint(client, state, fn, signal);
    }
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptOnce(target, fn, resolved);
    } catch (err) {
      const state = sqlState(err);
      if (!state || !RETRYABLE.has(state) || attempt > resolved.retries || signal?.aborted)
        throw err;
      const delayMs = backoffMs(attempt);
      if (channels.retry.hasSubscribers)
        channels.retry.publish({ attempt, sqlState: state, delayMs });
      try {
        await sleep(delayMs, undefined, signal ? { signal } : {});
      } catch {
        throw aborted(signal!, err);
      }
    }
  }
}

async function attemptOnce<T>(
  target: Queryable,
  fn: (client: pg.PoolClient) => Promise<T>,
  resolved: Resolved,
): Promise<T> {
  const { signal } = resolved;
  const deadline = deadlineOf(signal);
  if (deadline !== undefined && timeLeft(deadline) === 0) throw deadlinePassed();
  const pool = isPool(target) ? target : undefined;
  const client = pool ? await acquire(pool, signal) : (target as pg.PoolClient);
  const cancel = cancelOnAbort(pool, client, signal);
  let destroy = false;
  try {
    let begin = resolved.begin;
    if (deadline !== undefined) {
      // Measured after the checkout, which may itself have waited; folded into the BEGIN round trip.
      const left = timeLeft(deadline);
      if (left === 0) throw deadlinePassed();
      begin += `; ${deadlineTimeoutSql(left)}`;
    }
    await client.query(begin);
    active.set(client, { savepoints: 0 });
    let result: T;
    try {
      result = await fn(client);
      if (cancel.fired) throw aborted(signal!);
    } catch (err) {
      active.delete(client);
      destroy = !(await client.query('ROLLBACK').then(
        () => true,
        () => false,
      ));
      if (cancel.fired) throw err instanceof DbAbortError ? err : aborted(signal!, err);
      if (deadline !== undefined && sqlState(err) === '57014' && Date.now() >= deadline - 1) {
        throw deadlinePassed(err);
      }
      throw err;
    }
    active.delete(client);
    const commit = await client.query('COMMIT');
    if (commit.command === 'ROLLBACK') {
      throw new DbSafetyError(
        'ERR_BULWARK_DB_TRANSACTION_ROLLED_BACK',
        'The transaction was rolled back instead of committed: a statement inside it failed and the error was caught. Let errors propagate out of the callback, or use a nested withTransaction (a savepoint) for the part that may fail.',
      );
    }
    return result;
  } catch (err) {
    active.delete(client);
    throw err;
  } finally {
    cancel.dispose();
    await cancel.settled();
    // After a cancel request the connection might still receive it later; never reuse it.
    if (cancel.fired || cancelSent.has(client) || !isClean(client)) destroy = true;
    if (pool) client.release(destroy);
  }
}

async function savepoint<T>(
  client: pg.PoolClient,
  state: ActiveTransaction,
  fn: (client: pg.PoolClient) => Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  state.savepoints += 1;
  const name = `bulwark_savepoint_${state.savepoints}`;
  await client.query(`SAVEPOINT ${name}`);
  const cancel = cancelOnAbort(undefined, client, signal);
  try {
    const result = await fn(client);
    if (cancel.fired) throw savepointAborted(signal!);
    await client.query(`RELEASE SAVEPOINT ${name}`);
    return result;
  } catch (err) {
    // Let the cancel request finish first, so it is not still in flight at ROLLBACK TO SAVEPOINT.
    if (cancel.fired) await cancel.settled();
    await client.query(`ROLLBACK TO SAVEPOINT ${name}`).catch(() => {});
    // The cancelled statement's 57014 would read as a statement timeout (503 database_timeout).
    if (cancel.fired) throw err instanceof DbAbortError ? err : savepointAborted(signal!, err);
    throw err;
  } finally {
    cancel.dispose();
    await cancel.settled();
  }
}

/**
 * Runs `fn(client)` in a transaction that first sets `app.tenant_id` (and, when given, the
 * request's claims as JSON) with `set_config(..., true)`, for row-level security policies such as
 * `USING (tenant_id = current_setting('app.tenant_id'))`. The settings end with the transaction,
 * so the next user of the connection never sees them.
 *
 * @throws {DbSafetyError} `ERR_BULWARK_DB_INVALID_TENANT` when `tenantId` is empty, not a string
 *   or number, or holds a NUL byte.
 * @throws {DbConfigError} when called with a client already in a transaction (the settings would
 *   outlive this call), or for invalid options.
 * @example
 * const rows = await withTenant(pool, req.auth.tenantId, async (client) =>
 *   (await client.query(sql`SELECT * FROM device`)).rows);
 */
export async function withTenant<T>(
  target: Queryable,
  tenantId: string | number | bigint,
  fn: (client: pg.PoolClient) => Promise<T>,
  options: TenantOptions = {},
): Promise<T> {
  const where = 'withTenant';
  requireObject(where, options, '{ claims: req.auth }');
  rejectUnknownOptions(where, options, TENANT_OPTIONS);
  const {
    claims,
    setting = 'app.tenant_id',
    claimsSetting = 'request.jwt.claims',
    ...txOptions
  } = options;
  const tenant =
    typeof tenantId === 'number' || typeof tenantId === 'bigint' ? String(tenantId) : tenantId;
  if (
    typeof tenant !== 'string' ||
    tenant === '' ||
    tenant.includes('\0') ||
    tenant.length > 1024 ||
    (typeof tenantId === 'number' && !Number.isFinite(tenantId))
  ) {
    throw new DbSafetyError(
      'ERR_BULWARK_DB_INVALID_TENANT',
      'withTenant: the tenant id must be a non-empty string (at most 1024 characters, no NUL) or a finite number.',
    );
  }
  for (const [name, value] of [
    ['setting', setting],
    ['claimsSetting', claimsSetting],
  ] as const) {
    if (typeof value !== 'string' || !SETTING_NAME.test(value)) {
      invalidOption(
        where,
        name,
        value,
        'Use a custom setting name with a dot, such as "app.tenant_id".',
      );
    }
  }
  if (
    claims !== undefined &&
    (typeof claims !== 'object' || claims === null || Array.isArray(claims))
  ) {
    invalidOption(
      where,
      'claims',
      claims,
      'Pass a plain object of claims, such as the verified token payload.',
    );
  }
  if (!isPool(target) && active.has(target)) {
    throw new DbConfigError(
      'ERR_BULWARK_DB_INVALID_OPTION',
      `${where}: cannot run inside a transaction that is already running; the tenant setting would last until that outer transaction ends. Call withTenant with the pool, at the outermost level.`,
    );
  }
  return run(
    where,
    target,
    async (client) => {
      if (claims === undefined) {
        await client.query('SELECT set_config($1, $2, true)', [setting, tenant]);
      } else {
        await client.query('SELECT set_config($1, $2, true), set_config($3, $4, true)', [
          setting,
          tenant,
          claimsSetting,
          JSON.stringify(claims),
        ]);
      }
      return fn(client);
    },
    txOptions,
    TX_OPTIONS,
  );
}
