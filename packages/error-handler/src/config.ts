// Configuration errors and the option checks every factory in this package runs at construction.
import { closestName } from '../../../internal/suggest.js';

/** Every configuration error code this package throws. */
export type ErrorHandlerConfigErrorCode =
  | 'ERR_BULWARK_ERRORS_NOT_CALLED'
  | 'ERR_BULWARK_ERRORS_OPTIONS'
  | 'ERR_BULWARK_ERRORS_UNKNOWN_OPTION'
  | 'ERR_BULWARK_ERRORS_INVALID_OPTION'
  | 'ERR_BULWARK_ERRORS_LOG_LEVEL'
  | 'ERR_BULWARK_ERRORS_LOG_FORMAT'
  | 'ERR_BULWARK_ERRORS_HANDLER_NOT_LAST'
  | 'ERR_BULWARK_ERRORS_HEADER_NAME'
  | 'ERR_BULWARK_ERRORS_ID_GENERATOR'
  | 'ERR_BULWARK_ERRORS_LOGGER'
  | 'ERR_BULWARK_ERRORS_STREAM'
  | 'ERR_BULWARK_ERRORS_REDACT_KEY'
  | 'ERR_BULWARK_ERRORS_REDACT_PATTERN'
  | 'ERR_BULWARK_ERRORS_STACK_IN_PRODUCTION'
  | 'ERR_BULWARK_ERRORS_PROCESS_HANDLERS_INSTALLED';

/**
 * The page that explains every code of this package, as an absolute URL: the relative path of
 * the repository cannot be opened from an installed package. Kept equal to the `repository` of
 * package.json by a test.
 */
export const ERRORS_PAGE_URL =
  'https://github.com/bulwark-js/bulwark/blob/main/docs/errors/error-handler.md';

/** The documentation URL of one code, e.g. `…/error-handler.md#err_bulwark_errors_log_level`. */
export function docsUrlOf(code: string): string {
  return `${ERRORS_PAGE_URL}#${code.toLowerCase()}`;
}

/**
 * Thrown by a factory of `@bulwark/error-handler` when its options are wrong. The message quotes
 * the offending value (never a secret), names the fix and ends with the URL of the code's
 * documentation.
 */
export class ErrorHandlerConfigError extends Error {
  override readonly name = 'ErrorHandlerConfigError';
  readonly code: ErrorHandlerConfigErrorCode;

  constructor(code: ErrorHandlerConfigErrorCode, message: string) {
    super(`${message} See ${docsUrlOf(code)}`);
    this.code = code;
  }
}

/** A short, printable rendering of a bad option value for an error message. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof RegExp) return String(value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/**
 * True when `value` looks like an HTTP request: what a factory receives when it is passed to
 * `app.use()` without being called.
 */
function looksLikeRequest(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    'method' in value &&
    'headers' in value &&
    ('socket' in value || 'url' in value)
  );
}

/**
 * Checks the arguments a factory was called with: an optional plain options object whose keys
 * are all known. Returns the options with `undefined` values removed.
 */
export function checkOptions<T extends object>(
  factory: string,
  args: readonly unknown[],
  known: readonly string[],
): Partial<T> {
  const [options] = args;
  if (args.length > 1 || looksLikeRequest(options)) {
    throw new ErrorHandlerConfigError(
      'ERR_BULWARK_ERRORS_NOT_CALLED',
      `${factory} was given to Express without being called. Use app.use(${factory}()), not app.use(${factory}).`,
    );
  }
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ErrorHandlerConfigError(
      'ERR_BULWARK_ERRORS_OPTIONS',
      `${factory}: options must be an object, got ${describeValue(options)}. Pass an object such as ${factory}({}) or nothing.`,
    );
  }
  const cleaned: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (!known.includes(key)) {
      const hint = closestName(key, known);
      throw new ErrorHandlerConfigError(
        'ERR_BULWARK_ERRORS_UNKNOWN_OPTION',
        `${factory}: unknown option "${key}".${hint ? ` Did you mean "${hint}"?` : ''} Known options: ${known.join(', ')}.`,
      );
    }
    if (value !== undefined) cleaned[key] = value;
  }
  return cleaned as Partial<T>;
}

/** Throws ERR_BULWARK_ERRORS_INVALID_OPTION with the offending value and the fix. */
export function invalidOption(factory: string, name: string, value: unknown, fix: string): never {
  throw new ErrorHandlerConfigError(
    'ERR_BULWARK_ERRORS_INVALID_OPTION',
    `${factory}: ${name}: ${describeValue(value)} is not valid. ${fix}`,
  );
}

/** Minimal shape of a logger this package writes to: winston's call shape. */
export interface LoggerLike {
  error(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  info(message: string, meta?: Record<string, unknown>): unknown;
}

/** Checks that `value` has winston's `error`, `warn` and `info` methods. */
export function checkLogger(factory: string, value: unknown): LoggerLike {
  const candidate = value as Partial<Record<'error' | 'warn' | 'info', unknown>> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.error !== 'function' ||
    typeof candidate.warn !== 'function' ||
    typeof candidate.info !== 'function'
  ) {
    throw new ErrorHandlerConfigError(
      'ERR_BULWARK_ERRORS_LOGGER',
      `${factory}: logger: ${describeValue(value)} is not a logger. Pass a winston logger, for example createLogger(), or any object with error(), warn() and info() methods.`,
    );
  }
  return candidate as LoggerLike;
}
