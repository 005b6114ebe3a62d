// createDb: query helpers that accept only parameterised SQL, one statement at a time, with cancellation.
import type pg from 'pg';
import { deadlineOf, earlier, queryWithDeadline, timeLeft } from './deadline.js';
import { DbAbortError, DbConfigError, DbSafetyError, isTimeoutReason, sqlState } from './errors.js';
import { invalidOption, rejectUnknownOptions, requireObject } from './options.js';
import { isPool } from './pool.js';
import { isSql, type SqlQuery } from './sql.js';
import { hasMultipleStatements, sessionSetting } from './statements.js';
import {
  acquire,
  cancelOnAbort,
  type TenantOptions,
  type TransactionOptions,
  withTenant,
  withTransaction,
} from './transaction.js';

/** Per-call options of the query helpers. */
export interface QueryOptions {
  /**
   * Aborting cancels the statement on the server (`pg_cancel_backend`), not only the wait for it.
   * A deadline the signal carries (`req.signal` from `@bulwark/perimeter`'s `requestTimeout()`)
   * also caps the statement's server-side `statement_timeout` at the time left.
   */
  signal?: AbortSignal;
}

type Row = pg.QueryResultRow;

/** Query helpers bound to a pool, or (inside `db.transaction`) to one transaction. */
export interface Db {
  /** The pool behind this object. */
  readonly pool: pg.Pool;
  /** Runs one parameterised statement and returns `pg`'s result. */
  query<R extends Row = Row>(query: SqlQuery, options?: QueryOptions): Promise<pg.QueryResult<R>>;
  query<R extends Row = Row>(
    text: string,
    values: readonly unknown[],
    options?: QueryOptions,
  ): Promise<pg.QueryResult<R>>;
  /** All rows (possibly none). */
  many<R extends Row = Row>(query: SqlQuery, options?: QueryOptions): Promise<R[]>;
  many<R extends Row = Row>(
    text: string,
    values: readonly unknown[],
    options?: QueryOptions,
  ): Promise<R[]>;
  /** Exactly one row; throws `ERR_BULWARK_DB_NO_ROWS` or `ERR_BULWARK_DB_TOO_MANY_ROWS` otherwise. */
  one<R extends Row = Row>(query: SqlQuery, options?: QueryOptions): Promise<R>;
  one<R extends Row = Row>(
    text: string,
    values: readonly unknown[],
    options?: QueryOptions,
  ): Promise<R>;
  /** One row or `null`; throws `ERR_BULWARK_DB_TOO_MANY_ROWS` for more. */
  maybeOne<R extends Row = Row>(query: SqlQuery, options?: QueryOptions): Promise<R | null>;
  maybeOne<R extends Row = Row>(
    text: string,
    values: readonly unknown[],
    options?: QueryOptions,
  ): Promise<R | null>;
  /** Runs `fn` in a transaction (a savepoint when already in one); see `withTransaction`. */
  transaction<T>(fn: (tx: Db) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Runs `fn` in a transaction with `app.tenant_id` set; see `withTenant`. */
  withTenant<T>(
    tenantId: string | number | bigint,
    fn: (tx: Db) => Promise<T>,
    options?: TenantOptions,
  ): Promise<T>;
}

const multiCache = new Map<string, boolean>();

function multipleStatements(text: string): boolean {
  if (!text.includes(';')) return false;
  let found = multiCache.get(text);
  if (found === undefined) {
    found = hasMultipleStatements(text);
    if (multiCache.size >= 1000) multiCache.clear();
    multiCache.set(text, found);
  }
  return found;
}

interface Prepared {
  config: pg.QueryConfig & { queryMode?: 'extended' };
  options: QueryOptions;
}

function prepare(input: unknown, second: unknown, third: unknown): Prepared {
  let text: string;
  let values: unknown[];
  let options: unknown;
  if (isSql(input)) {
    text = input.text;
    values = input.values;
    options = second;
  } else if (typeof input === 'string') {
    if (!Array.isArray(second) || second.length === 0) {
      throw new DbSafetyError(
        'ERR_BULWARK_DB_UNSAFE_QUERY',
        'A plain SQL string without values is refused, so untrusted text cannot be concatenated into SQL. Write it with the sql tag, interpolating each value into the template so it is bound as $1, $2, ...',
      );
    }
    text = input;
    values = second;
    options = third;
  } else if (
    typeof input === 'object' &&
    input !== null &&
    typeof (input as { text?: unknown }).text === 'string' &&
    Array.isArray((input as { values?: unknown }).values) &&
    (input as { values: unknown[] }).values.length > 0
  ) {
    text = (input as { text: string }).text;
    values = (input as { values: unknown[] }).values;
    options = second;
  } else {
    throw new DbSafetyError(
      'ERR_BULWARK_DB_UNSAFE_QUERY',
      'The query must come from the sql tag (sql`SELECT ...`) or be { text, values } with at least one value.',
    );
  }
  if (multipleStatements(text)) {
    throw new DbSafetyError(
      'ERR_BULWARK_DB_MULTIPLE_STATEMENTS',
      'The query holds more than one statement; run them one at a time (inside db.transaction when they belong together).',
    );
  }
  const setting = sessionSetting(text);
  if (setting !== undefined) {
    throw new DbSafetyError(
      'ERR_BULWARK_DB_SESSION_SETTING',
      `${setting} changes the connection's session, and the pool hands that connection to later requests (inside a transaction too: the change outlives COMMIT). Use SET LOCAL, or set_config(name, value, true), inside db.transaction.`,
    );
  }
  if (options !== undefined) {
    requireObject('db.query', options, '{ signal }');
    rejectUnknownOptions('db.query', options as object, ['signal']);
    const signal = (options as QueryOptions).signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      invalidOption(
        'db.query',
        'signal',
        signal,
        'Pass an AbortSignal, such as AbortSignal.timeout(5000).',
      );
    }
  }
  // Extended protocol for every query: the server itself refuses a second statement.
  return {
    config: { text, values, queryMode: 'extended' },
    options: (options ?? {}) as QueryOptions,
  };
}

function queryAborted(signal: AbortSignal, cause?: unknown): DbAbortError {
  return new DbAbortError('The query was aborted and cancelled on the server.', {
    cause: cause ?? signal.reason,
    timedOut: isTimeoutReason(signal.reason),
  });
}

function deadlinePassed(cause?: unknown): DbAbortError {
  return cause === undefined
    ? new DbAbortError('The deadline passed before the query could start; it was not sent.', {
        timedOut: true,
      })
    : new DbAbortError('The query ran into its deadline and the server cancelled it.', {
        cause,
        timedOut: true,
      });
}

/** True for the server's `57014` once the deadline has passed: the deadline's timeout fired. */
function hitDeadline(err: unknown, deadline: number | undefined): boolean {
  return deadline !== undefined && sqlState(err) === '57014' && Date.now() >= deadline - 1;
}

function onPool(pool: pg.Pool, prepared: Prepared): Promise<pg.QueryResult> {
  const { config, options } = prepared;
  if (!options.signal) {
    // With values pg uses the extended protocol anyway; passing text and values skips its
    // copy of a config object.
    return config.values && config.values.length > 0
      ? pool.query(config.text, config.values)
      : pool.query(config);
  }
  return onPoolWithSignal(pool, config, options.signal);
}

async function onPoolWithSignal(
  pool: pg.Pool,
  config: Prepared['config'],
  signal: AbortSignal,
): Promise<pg.QueryResult> {
  if (signal.aborted) throw queryAborted(signal);
  const deadline = deadlineOf(signal);
  if (deadline !== undefined && timeLeft(deadline) === 0) throw deadlinePassed();
  const client = await acquire(pool, signal);
  // A cancel request can arrive after the statement ended; a reused connection could lose the
  // next user's statement to it, so this one is closed instead.
  return queryCancellable(pool, client, config, signal, deadline, (cancelled) =>
    client.release(cancelled),
  );
}

async function onClient(
  pool: pg.Pool | undefined,
  client: pg.PoolClient,
  { config, options }: Prepared,
  txDeadline: number | undefined,
): Promise<pg.QueryResult> {
  const { signal } = options;
  const deadline = earlier(deadlineOf(signal), txDeadline);
  if (!signal && deadline === undefined) return client.query(config);
  if (signal?.aborted) throw queryAborted(signal);
  return queryCancellable(pool, client, config, signal, deadline);
}

/**
 * Runs one statement on `client` and cancels it on the server if `signal` aborts meanwhile;
 * `settled` learns, once any cancel request has finished, whether one was sent. With a
 * `deadline`, the statement runs under a `statement_timeout` no longer than the time left.
 */
async function queryCancellable(
  pool: pg.Pool | undefined,
  client: pg.PoolClient,
  config: Prepared['config'],
  signal: AbortSignal | undefined,
  deadline: number | undefined,
  settled?: (cancelled: boolean) => void,
): Promise<pg.QueryResult> {
  const cancel = cancelOnAbort(pool, client, signal);
  try {
    if (deadline === undefined) return await client.query(config);
    // Measured after the checkout, which may itself have waited.
    const left = timeLeft(deadline);
    if (left === 0) throw deadlinePassed();
    return await queryWithDeadline(client, config, left);
  } catch (err) {
    if (cancel.fired) throw queryAborted(signal!, err);
    if (hitDeadline(err, deadline)) throw deadlinePassed(err);
    throw err;
  } finally {
    cancel.dispose();
    await cancel.settled();
    settled?.(cancel.fired);
  }
}

function build(
  pool: pg.Pool,
  run: (prepared: Prepared) => Promise<pg.QueryResult>,
  client?: pg.PoolClient,
  isOpen?: () => boolean,
  txSignal?: AbortSignal,
  txDeadline?: number,
): Db {
  const exec = (a: unknown, b: unknown, c: unknown) => {
    if (txSignal?.aborted) {
      return Promise.reject(
        new DbAbortError('The transaction was aborted; no further statements run in it.', {
          cause: txSignal.reason,
        }),
      );
    }
    if (isOpen && !isOpen()) {
      return Promise.reject(
        new DbSafetyError(
          'ERR_BULWARK_DB_TRANSACTION_CLOSED',
          'This transaction has ended; its connection may already serve someone else. Use the db object outside the transaction callback instead.',
        ),
      );
    }
    try {
      return run(prepare(a, b, c));
    } catch (err) {
      return Promise.reject(err);
    }
  };
  const db: Db = {
    pool,
    query: ((a: unknown, b?: unknown, c?: unknown) => exec(a, b, c)) as Db['query'],
    many: (async (a: unknown, b?: unknown, c?: unknown) =>
      (await exec(a, b, c)).rows) as Db['many'],
    one: (async (a: unknown, b?: unknown, c?: unknown) => {
      const { rows } = await exec(a, b, c);
      if (rows.length === 0)
        throw new DbSafetyError(
          'ERR_BULWARK_DB_NO_ROWS',
          'The query returned no rows; exactly one was expected.',
        );
      if (rows.length > 1)
        throw new DbSafetyError(
          'ERR_BULWARK_DB_TOO_MANY_ROWS',
          `The query returned ${rows.length} rows; exactly one was expected.`,
        );
      return rows[0];
    }) as Db['one'],
    maybeOne: (async (a: unknown, b?: unknown, c?: unknown) => {
      const { rows } = await exec(a, b, c);
      if (rows.length > 1)
        throw new DbSafetyError(
          'ERR_BULWARK_DB_TOO_MANY_ROWS',
          `The query returned ${rows.length} rows; at most one was expected.`,
        );
      return rows[0] ?? null;
    }) as Db['maybeOne'],
    transaction: (fn, options) => {
      if (isOpen && !isOpen()) return exec(undefined, undefined, undefined) as never;
      return withTransaction(
        client ?? pool,
        (txClient) => scoped(pool, txClient, fn, options?.signal ?? txSignal, txDeadline),
        options,
      );
    },
    withTenant: (tenantId, fn, options) =>
      withTenant(
        client ?? pool,
        tenantId,
        (txClient) => scoped(pool, txClient, fn, options?.signal, undefined),
        options,
      ),
  };
  return Object.freeze(db);
}

async function scoped<T>(
  pool: pg.Pool,
  client: pg.PoolClient,
  fn: (tx: Db) => Promise<T>,
  signal: AbortSignal | undefined,
  outerDeadline: number | undefined,
): Promise<T> {
  let open = true;
  // Each statement gets the time left when it starts, so later ones get less.
  const deadline = earlier(deadlineOf(signal), outerDeadline);
  const tx = build(
    pool,
    (prepared) => onClient(pool, client, prepared, deadline),
    client,
    () => open,
    signal,
    deadline,
  );
  try {
    return await fn(tx);
  } finally {
    open = false;
  }
}

/**
 * Query helpers over a pool that accept only parameterised SQL: a query made with the `sql` tag,
 * or a string together with a non-empty array of values. A plain string with no values is
 * refused, and so is text with more than one statement.
 *
 * @param pool A pool from `createPool` (or any `pg.Pool`).
 * @throws {DbConfigError} `ERR_BULWARK_DB_NOT_A_POOL` when `pool` is not a `pg.Pool`.
 * @example
 * const db = createDb(pool);
 * const device = await db.maybeOne(sql`SELECT * FROM device WHERE id = ${req.params.id}`,
 *   { signal: req.signal });
 */
export function createDb(pool: pg.Pool): Db {
  if (!isPool(pool)) {
    throw new DbConfigError(
      'ERR_BULWARK_DB_NOT_A_POOL',
      'createDb needs a pg.Pool, such as the one createPool returns: createDb(createPool({ connectionString })).',
    );
  }
  return build(pool, (prepared) => onPool(pool, prepared));
}
