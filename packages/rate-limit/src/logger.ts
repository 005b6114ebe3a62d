// The injectable logger shape (winston's) and the fallback to process warnings.

/** Anything with winston's call shape: `logger.warn(message, meta)`. */
export interface Logger {
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error?(message: string, meta?: Record<string, unknown>): unknown;
  info?(message: string, meta?: Record<string, unknown>): unknown;
  debug?(message: string, meta?: Record<string, unknown>): unknown;
}

/** Writes a warning to the logger, or to `process.emitWarning` with its code when there is none. */
export { warn } from '../../../internal/warn.js';

export function isLogger(value: unknown): value is Logger {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { warn?: unknown }).warn === 'function'
  );
}
