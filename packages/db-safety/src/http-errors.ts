// Maps database failures a client can act on (timeouts, busy pool, conflicts, bad values) to HTTP errors.
import { sqlState } from './errors.js';
import { dbErrorsDescription, withOpenApi } from './openapi.js';

/**
 * An error of the shape every Bulwark package passes to `next(err)` (http-errors compatible):
 * `@bulwark/error-handler` renders it as problem+json, Express's own handler by its status.
 * The database error stays as `cause`, for the server log only.
 */
export interface DbHttpError extends Error {
  status: number;
  statusCode: number;
  expose: true;
  code: string;
  headers?: Record<string, string>;
}

interface Mapping {
  status: number;
  code: string;
  message: string;
  retryAfter?: number;
}

// Messages are fixed sentences: PostgreSQL's own text names tables, constraints and values.
const TIMEOUT: Mapping = {
  status: 503,
  code: 'database_timeout',
  message: 'The database did not answer in time. Try again shortly.',
  retryAfter: 1,
};
// The same answer as @bulwark/perimeter's requestTimeout(), whichever of the two sees the deadline first.
const DEADLINE: Mapping = {
  status: 503,
  code: 'request_timeout',
  message: 'Request timed out',
};
const UNAVAILABLE: Mapping = {
  status: 503,
  code: 'database_unavailable',
  message: 'The database is busy. Try again shortly.',
  retryAfter: 2,
};
const BUSY: Mapping = {
  status: 503,
  code: 'database_busy',
  message: 'The data is locked by another operation. Try again shortly.',
  retryAfter: 1,
};
const TRANSACTION_CONFLICT: Mapping = {
  status: 409,
  code: 'transaction_conflict',
  message: 'The request conflicted with a concurrent change. Retry it.',
  retryAfter: 1,
};
const CONFLICT: Mapping = {
  status: 409,
  code: 'conflict',
  message: 'A resource with this id or name already exists.',
};
const REFERENCE_CONFLICT: Mapping = {
  status: 409,
  code: 'reference_conflict',
  message: 'The request refers to something that does not exist, or is still referred to.',
};
const INVALID_VALUE: Mapping = {
  status: 422,
  code: 'invalid_value',
  message: 'A value in the request is not valid.',
};

const BY_SQLSTATE: Readonly<Record<string, Mapping>> = {
  '57014': TIMEOUT, // query_canceled: statement_timeout (or a cancel)
  '55P03': BUSY, // lock_not_available: lock_timeout
  '40001': TRANSACTION_CONFLICT, // serialization_failure, after withTransaction's retries
  '40P01': TRANSACTION_CONFLICT, // deadlock_detected, after retries
  '23505': CONFLICT, // unique_violation
  '23503': REFERENCE_CONFLICT, // foreign_key_violation
  '23502': INVALID_VALUE, // not_null_violation
  '23514': INVALID_VALUE, // check_violation
  '22001': INVALID_VALUE, // string_data_right_truncation
  '22003': INVALID_VALUE, // numeric_value_out_of_range
  '22007': INVALID_VALUE, // invalid_datetime_format
  '22008': INVALID_VALUE, // datetime_field_overflow
  '22P02': INVALID_VALUE, // invalid_text_representation
  '22021': INVALID_VALUE, // character_not_in_repertoire: a NUL character in text
};

const BY_CODE: Readonly<Record<string, Mapping>> = {
  ERR_BULWARK_DB_ACQUIRE_TIMEOUT: UNAVAILABLE,
  ERR_BULWARK_DB_CONNECT_TIMEOUT: UNAVAILABLE,
};

/**
 * The HTTP error a client should see for a database failure it can act on, or `undefined` for
 * anything else (a syntax error, a refused plain-string query, a lost connection: server bugs
 * or outages that stay a generic 500).
 *
 * @example
 * try { await db.query(sql`INSERT INTO device (id) VALUES (${id})`) }
 * catch (err) { throw httpErrorFromDb(err) ?? err }
 */
export function httpErrorFromDb(err: unknown): DbHttpError | undefined {
  const state = sqlState(err);
  const code = (err as { code?: unknown } | null)?.code;
  const mapping =
    code === 'ERR_BULWARK_DB_ABORTED'
      ? (err as { timedOut?: unknown }).timedOut === true
        ? DEADLINE
        : undefined
      : ((state === undefined ? undefined : BY_SQLSTATE[state]) ??
        (typeof code === 'string' ? BY_CODE[code] : undefined));
  if (!mapping) return undefined;
  const error = new Error(mapping.message, { cause: err }) as DbHttpError;
  error.name = 'DbHttpError';
  error.status = mapping.status;
  error.statusCode = mapping.status;
  error.expose = true;
  error.code = mapping.code;
  if (mapping.retryAfter !== undefined) {
    error.headers = { 'Retry-After': String(mapping.retryAfter) };
  }
  return error;
}

/**
 * Express error middleware: replaces a database failure a client can act on with its HTTP error
 * (503 `database_timeout`, `database_unavailable`, `database_busy`, `request_timeout` for a
 * query or transaction its deadline stopped; 409 `conflict`,
 * `reference_conflict`, `transaction_conflict`; 422 `invalid_value`) and passes everything else
 * on unchanged. Mount it after the routes and before the error handler.
 *
 * @example
 * app.use(dbErrors());
 * app.use(errorHandler());
 */
export function dbErrors(): (
  err: unknown,
  req: unknown,
  res: unknown,
  next: (err?: unknown) => void,
) => void {
  return withOpenApi(dbErrorsDescription(), function dbErrors(err, _req, _res, next) {
    next(httpErrorFromDb(err) ?? err);
  });
}
