// Where a package's warnings go: the app's winston-shaped logger, else a process warning.

/** The part of a winston-shaped logger a warning needs; a logger without `warn` is passed over. */
export interface WarningLogger {
  warn?(message: string, meta?: Record<string, unknown>): unknown;
}

/** How a warning is emitted when there is no logger. */
export interface ProcessWarningOptions {
  /** The warning's `name`, as `process.on('warning')` sees it. Default: `Warning`. */
  type?: string | undefined;
  /** Further text, printed by Node on the lines after the message. */
  detail?: string | undefined;
}

/**
 * Sends a warning to `logger.warn(message, { ...meta, code })`, or, without a logger, to
 * `process.emitWarning(message, { code, type?, detail? })`. The code always wins over a `code`
 * in `meta`, so a log line is found by the same code as the process warning.
 */
export function warn(
  logger: WarningLogger | undefined,
  code: string,
  message: string,
  meta: Record<string, unknown> = {},
  { type, detail }: ProcessWarningOptions = {},
): void {
  if (typeof logger?.warn === 'function') {
    logger.warn(message, { ...meta, code });
    return;
  }
  process.emitWarning(message, {
    code,
    ...(type ? { type } : {}),
    ...(detail ? { detail } : {}),
  });
}
