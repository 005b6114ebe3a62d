// Error classes: configuration errors thrown at construction and safety errors thrown at run time.

/** Every code this package throws starts with this prefix. */
export type DbErrorCode = `ERR_BULWARK_DB_${string}`;

/**
 * Thrown when an option is missing, misspelled or unsafe. The message quotes the offending value
 * (never a secret) and names the fix.
 */
export class DbConfigError extends Error {
  override readonly name = 'DbConfigError';
  readonly code: DbErrorCode;

  constructor(code: DbErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Thrown at run time when the package refuses something unsafe (a plain SQL string, several
 * statements in one query), when a pool cannot hand out a connection in time, or when `verify()`
 * finds that the timeouts do not apply. It carries no HTTP status: an error handler renders it as
 * a generic 500 and never shows its message to a client.
 */
export class DbSafetyError extends Error {
  override readonly name = 'DbSafetyError';
  readonly code: DbErrorCode;

  constructor(code: DbErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** True for an abort reason that means time ran out (`AbortSignal.timeout`, `requestTimeout()`). */
export function isTimeoutReason(reason: unknown): boolean {
  return (
    typeof reason === 'object' &&
    reason !== null &&
    (reason as { name?: unknown }).name === 'TimeoutError'
  );
}

/**
 * Thrown when an `AbortSignal` stopped a query or a transaction, or when the deadline the signal
 * carries passed. The query was cancelled on the server, and a transaction was rolled back.
 * `name` is `AbortError`, like `fetch`'s.
 */
export class DbAbortError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'ERR_BULWARK_DB_ABORTED' as const;
  /**
   * True when time ran out: the signal's deadline passed (before the work started, or the
   * server's `statement_timeout` cut the statement at it), or the signal aborted with a
   * `TimeoutError`. `dbErrors()` answers such an abort with 503 `request_timeout`.
   */
  readonly timedOut: boolean;

  constructor(
    message = 'The database operation was aborted.',
    options?: ErrorOptions & { timedOut?: boolean },
  ) {
    super(message, options);
    this.timedOut = options?.timedOut ?? isTimeoutReason(options?.cause);
  }
}

/** The SQLSTATE of a PostgreSQL error, or undefined for anything else. */
export function sqlState(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
