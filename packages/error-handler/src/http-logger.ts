// httpLogger(): one access-log line per request, never bodies, query strings or credentials.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createClientIp } from '../../../internal/client-ip.js';
import { checkLogger, checkOptions, invalidOption, type LoggerLike } from './config.js';
import { currentTraceId } from './context.js';
import { accessWriterOf, createLogger, redactsItself } from './logger.js';
import { mountOrderError } from './mount-order.js';
import { redact } from './redact.js';
import { markAccessDone, markAccessListener, rejectionOf } from './rejection.js';
import { routeOf, trackRoute } from './route.js';
import type { HttpLoggerOptions } from './types.js';

const KNOWN = ['logger', 'message', 'skip'] as const;
const MAX_FIELD = 256;

function clip(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  return value.length > MAX_FIELD ? `${value.slice(0, MAX_FIELD)}…` : value;
}

// `req.ip` without proxy-addr's parsing while the client is the connection's peer.
const clientIp = createClientIp();

const USER_KEYS = ['subject', 'sub', 'userId', 'user_id', 'id'];
const TENANT_KEYS = ['tenant', 'tenantId', 'tenant_id', 'org', 'orgId'];

function pick(auth: Record<string, unknown>, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = auth[key];
    if (typeof value === 'string' || typeof value === 'number') return clip(String(value));
  }
  return undefined;
}

/** Adds who made the request, read structurally from `req.auth` when an auth middleware set it. */
function addPrincipal(line: Record<string, unknown>, req: Request): void {
  const auth = (req as { auth?: unknown }).auth;
  if (typeof auth !== 'object' || auth === null) return;
  const user = pick(auth as Record<string, unknown>, USER_KEYS);
  if (user !== undefined) line.user = user;
  const tenant = pick(auth as Record<string, unknown>, TENANT_KEYS);
  if (tenant !== undefined) line.tenant = tenant;
}

/**
 * Writes one access-log line per request when its response finishes (or the client goes away):
 * `method`, `route` (the matched pattern), `path` (without the query string), `status`,
 * `duration_ms`, `bytes`, `ip`, `user_agent`, `trace_id`, and `user`/`tenant` from `req.auth`
 * when present. Bodies, query strings and headers are never logged. 5xx lines are `error`,
 * 4xx `warn`, the rest `info`. Mount it right after `requestContext()`.
 *
 * When `errorHandler()` answered the request, the line carries its `code`; for a 4xx also what
 * its own `request rejected` line would say (`detail`, `error_name`, `pointers`, `cause_name`,
 * `sqlstate`, `constraint`, `table`, `column`), which it then does not write: one line per
 * rejected request. A request `skip` leaves out still gets errorHandler()'s own line.
 * Like `requestContext()`, it refuses every request of an app that mounts routes or middleware
 * after `errorHandler()` (ERR_BULWARK_ERRORS_HANDLER_NOT_LAST).
 *
 * Options: `logger` (default `createLogger()`), `message` (default `'request'`), `skip`
 * (default: log every request).
 *
 * @throws {ErrorHandlerConfigError} on unknown options or a logger without winston's methods.
 * @example
 * app.use(requestContext());
 * app.use(httpLogger({ logger, skip: (req) => req.path === '/healthz' }));
 */
export function httpLogger(options?: HttpLoggerOptions): RequestHandler {
  const opts = checkOptions<HttpLoggerOptions>(
    'httpLogger',
    options === undefined ? [] : [options],
    KNOWN,
  );
  const logger: LoggerLike =
    opts.logger === undefined ? createLogger() : checkLogger('httpLogger', opts.logger);
  // A logger not made by createLogger() gets the line redacted, as errorHandler() gives it its own.
  const plain = !redactsItself(logger);
  // The logger's own writer of access lines, found once rather than per line.
  const writeAccessLine = accessWriterOf(logger);
  const message = opts.message ?? 'request';
  if (typeof message !== 'string' || message === '')
    invalidOption('httpLogger', 'message', message, 'Use a non-empty string such as "request".');
  const skip = opts.skip;
  if (skip !== undefined && typeof skip !== 'function') {
    invalidOption(
      'httpLogger',
      'skip',
      skip,
      "Pass a function such as (req) => req.path === '/healthz'.",
    );
  }

  return function httpLogger(req: Request, res: Response, next: NextFunction): void {
    trackRoute(req);
    const started = performance.now();
    // Read now: the response may finish outside the request's async context.
    const traceId = req.id ?? currentTraceId();
    const url = req.originalUrl ?? req.url ?? '';
    const query = url.indexOf('?');
    const path = clip(query === -1 ? url : url.slice(0, query));
    let done = false;
    // One listener for both events, left on the response once it has run: 'close' follows
    // 'finish' on every answered request, and finds it done.
    const finish = () => {
      if (done) return;
      done = true;
      markAccessDone(finish);
      try {
        const rejection = rejectionOf(finish);
        if (skip?.(req, res)) {
          rejection?.writeOwn?.();
          return;
        }
        const status = res.statusCode;
        const line: Record<string, unknown> = {
          method: req.method,
          route: routeOf(req) ?? null,
          path,
          status,
        };
        if (rejection !== undefined) Object.assign(line, rejection.fields);
        // To the microsecond: finer digits would only lengthen every line.
        line.duration_ms = Math.round((performance.now() - started) * 1000) / 1000;
        const length = Number(res.getHeader('content-length'));
        if (Number.isFinite(length)) line.bytes = length;
        const ip = clientIp(req);
        if (ip !== undefined) line.ip = ip;
        const userAgent = clip(req.headers['user-agent']);
        if (userAgent !== undefined) line.user_agent = userAgent;
        addPrincipal(line, req);
        if (!res.writableFinished) line.aborted = true;
        if (traceId !== undefined) line.trace_id = traceId;
        const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
        if (writeAccessLine?.(level, message, line) !== true)
          logger[level](message, plain ? (redact(line) as Record<string, unknown>) : line);
      } catch {
        // Access logging never breaks a request.
      }
    };
    markAccessListener(finish);
    res.on('finish', finish);
    res.on('close', finish);
    next(mountOrderError(req.app));
  };
}
