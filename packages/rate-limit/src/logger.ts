// The injectable logger shape (winston's) and the fallback to process warnings.

/** Anything with winston's call shape: `logger.warn(message, meta)`. */
export interface Logger {
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error?(message: string, meta?: Record<string, unknown>): unknown;
  info?(message: string, meta?: Record<string, unknown>): unknown;
  debug?(message: string, meta?: Record<string, unknown>): unknown;
}

/** Writes a warning to the logger, or to `process.emitWarning` with its code when there is none. */
export function warn(
  logger: Logger | undefined,
  code: string,
  message: string,
  meta: Record<string, unknown> = {},
): void {
  if (logger) {
    logger.warn(message, { code, ...meta });
    return;
  }
  process.emitWarning(message, { code });
}

export function isLogger(value: unknown): value is Logger {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { warn?: unknown }).warn === 'function'
  );
}
