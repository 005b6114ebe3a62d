// installProcessHandlers(): log fatal errors with their trace id, then exit after the logs flush.
import { checkLogger, checkOptions, ErrorHandlerConfigError, invalidOption } from './config.js';
import { currentTraceId } from './context.js';
import { flushLogger, redactsItself } from './logger.js';
import { redact } from './redact.js';
import type { CloseLoggerOptions, ProcessHandlersOptions } from './types.js';

type Origin = 'uncaughtException' | 'unhandledRejection';

const KNOWN = ['onFatal', 'flushTimeoutMs', 'exitCode'] as const;
let installed = false;

/** A wait in milliseconds: a finite number of at least 0, `2000` when not given. */
function checkTimeout(where: string, name: string, value: unknown): number {
  const timeout = value ?? 2000;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0)
    invalidOption(where, name, timeout, 'Use a number of milliseconds, such as 2000.');
  return timeout as number;
}

/**
 * Ends `logger` and resolves once every line it has accepted has reached its destination (its
 * stream, file or terminal), or after `timeoutMs`, whichever comes first. Nothing logged after
 * the call is written. For an `onFatal` of your own and for shutdown: without it, a
 * `process.exit()` right after logging can lose the last lines, the fatal one among them.
 *
 * Options: `timeoutMs` (default `2000`).
 *
 * @throws {ErrorHandlerConfigError} on a logger without winston's methods or a bad `timeoutMs`.
 * @example
 * installProcessHandlers(logger, {
 *   onFatal: () => {
 *     server.close();
 *     void closeLogger(logger).then(() => process.exit(1));
 *   },
 * });
 */
export function closeLogger(logger: unknown, options?: CloseLoggerOptions): Promise<void> {
  checkLogger('closeLogger', logger);
  const opts = checkOptions<CloseLoggerOptions>(
    'closeLogger',
    options === undefined ? [] : [options],
    ['timeoutMs'],
  );
  return flushLogger(logger, checkTimeout('closeLogger', 'timeoutMs', opts.timeoutMs));
}

/**
 * Logs every `uncaughtException` and `unhandledRejection` (with the trace id of the request that
 * caused it, when there was one), then calls `onFatal` once. The default `onFatal` flushes the
 * logger and exits with code 1: after an uncaught error the process state is unknown, so it is
 * left for a supervisor to restart.
 *
 * Returns a function that removes the handlers again.
 *
 * Options: `onFatal` (default: flush, then `process.exit(exitCode)`), `flushTimeoutMs` (default
 * `2000`), `exitCode` (default `1`).
 *
 * @throws {ErrorHandlerConfigError} ERR_BULWARK_ERRORS_PROCESS_HANDLERS_INSTALLED when called
 *   again before the first uninstall, and on a bad logger or options.
 * @example
 * const logger = createLogger();
 * installProcessHandlers(logger, {
 *   onFatal: () => {
 *     server.close();
 *     void closeLogger(logger).then(() => process.exit(1));
 *   },
 * });
 */
export function installProcessHandlers(
  logger: unknown,
  options?: ProcessHandlersOptions,
): () => void {
  const log = checkLogger('installProcessHandlers', logger);
  const opts = checkOptions<ProcessHandlersOptions>(
    'installProcessHandlers',
    options === undefined ? [] : [options],
    KNOWN,
  );
  const flushTimeoutMs = checkTimeout(
    'installProcessHandlers',
    'flushTimeoutMs',
    opts.flushTimeoutMs,
  );
  const exitCode = opts.exitCode ?? 1;
  if (
    typeof exitCode !== 'number' ||
    !Number.isInteger(exitCode) ||
    exitCode < 1 ||
    exitCode > 255
  ) {
    invalidOption(
      'installProcessHandlers',
      'exitCode',
      exitCode,
      'Use an integer from 1 to 255; a fatal error must not exit with 0.',
    );
  }
  const onFatal = opts.onFatal;
  if (onFatal !== undefined && typeof onFatal !== 'function') {
    invalidOption(
      'installProcessHandlers',
      'onFatal',
      onFatal,
      'Pass a function such as (error) => server.close(() => process.exit(1)).',
    );
  }
  if (installed) {
    throw new ErrorHandlerConfigError(
      'ERR_BULWARK_ERRORS_PROCESS_HANDLERS_INSTALLED',
      'installProcessHandlers: handlers are already installed. Call it once, at start-up, or call the function it returned before installing again.',
    );
  }

  const exit = () => {
    void flushLogger(logger, flushTimeoutMs).then(() => process.exit(exitCode));
  };
  let fatal = false;
  const handle = (origin: Origin, error: unknown) => {
    try {
      const meta = {
        origin,
        err: error,
        ...(currentTraceId() !== undefined && { trace_id: currentTraceId() }),
      };
      log.error(
        origin === 'uncaughtException' ? 'uncaught exception' : 'unhandled promise rejection',
        redactsItself(logger) ? meta : (redact(meta) as Record<string, unknown>),
      );
    } catch {
      // Nothing more can be done about a logger that throws here; exiting still matters.
    }
    if (fatal) return;
    fatal = true;
    process.exitCode = exitCode;
    if (onFatal === undefined) return exit();
    try {
      onFatal(error, origin);
    } catch {
      exit();
    }
  };
  const onException = (error: unknown) => handle('uncaughtException', error);
  const onRejection = (reason: unknown) => handle('unhandledRejection', reason);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  installed = true;

  return function uninstallProcessHandlers(): void {
    process.removeListener('uncaughtException', onException);
    process.removeListener('unhandledRejection', onRejection);
    installed = false;
  };
}
