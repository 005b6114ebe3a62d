// notFound() and errorHandler(): every failure becomes a safe problem+json answer and one log line.
import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import createError from 'http-errors';
import {
  checkLogger,
  checkOptions,
  ErrorHandlerConfigError,
  invalidOption,
  type LoggerLike,
} from './config.js';
import { currentTraceId, isValidTraceId } from './context.js';
import { type ErrorEvent, errorChannel } from './events.js';
import { createLogger, redactsItself } from './logger.js';
import { markErrorHandler } from './mount-order.js';
import { withOpenApi } from './openapi.js';
import {
  type ProblemDetails,
  type ProblemResponse,
  problemFromError,
  sendProblem,
} from './problem.js';
import { redact } from './redact.js';
import { isAccessLogged, setRejection } from './rejection.js';
import { routeOf } from './route.js';
import type { ErrorHandlerOptions } from './types.js';

/**
 * Answers every request that reached it with 404 `not_found`, without reflecting the path.
 * Mount it after all routes and before `errorHandler()`.
 *
 * @throws {ErrorHandlerConfigError} ERR_BULWARK_ERRORS_NOT_CALLED for `app.use(notFound)`.
 * @example
 * app.use(notFound());
 * app.use(errorHandler());
 */
export function notFound(options?: Record<string, never>): RequestHandler {
  checkOptions('notFound', options === undefined ? [] : [options], []);
  return function notFound(_req: Request, _res: Response, next: NextFunction): void {
    next(
      createError(404, 'The requested resource was not found.', {
        code: 'not_found',
        expose: true,
      }),
    );
  };
}

// Event fields become metric labels: keep them short and drawn from code, never from input.
const LABEL_LIMIT = 128;
const label = (value: string) => (value.length > LABEL_LIMIT ? value.slice(0, LABEL_LIMIT) : value);

function nameOf(err: unknown): string {
  if (err instanceof Error) return label(err.constructor?.name || 'Error');
  return err === null ? 'null' : typeof err;
}

function read(target: unknown, key: string): unknown {
  if (typeof target !== 'object' || target === null) return undefined;
  try {
    return (target as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

const MAX_POINTERS = 20;
const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * What a client error's log line says about its cause, never a value: the field pointers of a
 * validation failure, the class of the error's `cause`, and the SQLSTATE, constraint, table and
 * column of the first database error in the cause chain (pg's own fields).
 */
function clientErrorFacts(err: unknown, body: ProblemDetails): Record<string, unknown> {
  const facts: Record<string, unknown> = {};
  if (body.errors !== undefined) {
    const pointers: string[] = [];
    for (const item of body.errors) {
      if (pointers.length === MAX_POINTERS) break;
      const pointer = read(item, 'pointer');
      if (typeof pointer === 'string') pointers.push(label(pointer));
    }
    if (pointers.length > 0) facts.pointers = pointers;
  }
  const cause = read(err, 'cause');
  if (cause !== undefined) facts.cause_name = nameOf(cause);
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = read(current, 'code');
    if (typeof code === 'string' && SQLSTATE.test(code)) {
      facts.sqlstate = code;
      for (const key of ['constraint', 'table', 'column']) {
        const value = read(current, key);
        if (typeof value === 'string' && value !== '') facts[key] = label(value);
      }
      break;
    }
    current = read(current, 'cause');
  }
  return facts;
}

const KNOWN = ['logger', 'exposeStack', 'problemType', 'logClientErrors'] as const;

const LAST_RESORT = JSON.stringify({
  type: 'about:blank',
  title: 'Internal Server Error',
  status: 500,
  detail: 'Internal server error',
  code: 'internal_error',
});

/**
 * The last middleware of the app: renders every error as RFC 9457 problem details
 * (`application/problem+json`) with a `code` and the request's `trace_id`, and logs it.
 *
 * - `expose: true` errors (all 4xx from Bulwark and http-errors) keep their message, `code`,
 *   `errors`, `details` and `headers`.
 * - body-parser failures map to fixed answers: 400 `invalid_json`, 413 `payload_too_large`,
 *   415 `unsupported_charset` / `unsupported_content_encoding`, 400 `request_aborted`; a
 *   malformed URL to 400 `bad_request`. Nothing from the body or path is echoed.
 * - Anything else is a generic 500 `internal_error` in every `NODE_ENV`; the full error (stack,
 *   cause chain, code, SQL state) is logged with the same trace id, secrets redacted.
 * - When headers were already sent it logs the error (redacted) and closes the connection,
 *   without handing the error on to Express, whose own handler would print it unredacted.
 * - A 4xx is logged at `info` as `request rejected` with its `code`, `detail`, `error_name`,
 *   the `pointers` of its field errors and, from its cause chain, `cause_name`, `sqlstate`,
 *   `constraint`, `table` and `column` (never a value). When `httpLogger()` logs the request,
 *   these fields go on its access line instead, so a rejected request is one line.
 *
 * It must be mounted after every route: `requestContext()` and `httpLogger()` refuse every
 * request of an app that mounts routes or middleware after it (ERR_BULWARK_ERRORS_HANDLER_NOT_LAST),
 * since their errors would reach Express's default handler instead.
 *
 * Options: `logger` (default `createLogger()`), `exposeStack` (default `false`; refused unless
 * `NODE_ENV` is `development` or `test`), `problemType` (default `'about:blank'`),
 * `logClientErrors` (default `true`).
 *
 * @throws {ErrorHandlerConfigError} ERR_BULWARK_ERRORS_STACK_IN_PRODUCTION, and on unknown
 *   options or a logger without winston's methods.
 * @example
 * app.use(requestContext());
 * app.use(express.json());
 * app.use(routes);
 * app.use(notFound());
 * app.use(errorHandler({ logger }));
 */
export function errorHandler(options?: ErrorHandlerOptions): ErrorRequestHandler {
  const opts = checkOptions<ErrorHandlerOptions>(
    'errorHandler',
    options === undefined ? [] : [options],
    KNOWN,
  );
  const exposeStack = opts.exposeStack ?? false;
  if (typeof exposeStack !== 'boolean')
    invalidOption('errorHandler', 'exposeStack', exposeStack, 'Use true or false.');
  const env = process.env.NODE_ENV;
  if (exposeStack && env !== 'development' && env !== 'test') {
    throw new ErrorHandlerConfigError(
      'ERR_BULWARK_ERRORS_STACK_IN_PRODUCTION',
      `errorHandler: exposeStack is true but NODE_ENV is ${env === undefined ? 'not set' : JSON.stringify(env)}. Stacks are only shown when NODE_ENV is "development" or "test"; remove exposeStack for this environment.`,
    );
  }
  const problemType = opts.problemType;
  if (problemType !== undefined && typeof problemType !== 'function') {
    invalidOption(
      'errorHandler',
      'problemType',
      problemType,
      "Pass a function such as (code) => 'https://docs.example.com/errors#' + code.",
    );
  }
  const logClientErrors = opts.logClientErrors ?? true;
  if (typeof logClientErrors !== 'boolean')
    invalidOption('errorHandler', 'logClientErrors', logClientErrors, 'Use true or false.');
  const logger: LoggerLike =
    opts.logger === undefined ? createLogger() : checkLogger('errorHandler', opts.logger);

  const plainMeta = !redactsItself(logger);
  const log = (level: 'error' | 'info', message: string, meta: Record<string, unknown>) => {
    try {
      logger[level](message, plainMeta ? (redact(meta) as Record<string, unknown>) : meta);
    } catch {
      // A broken logger must not stop the client from getting its answer.
    }
  };

  const handler = markErrorHandler(function errorHandler(
    err: unknown,
    req: Request,
    res: Response,
    _next: NextFunction,
  ): void {
    const traceId =
      (isValidTraceId(req.id) ? req.id : undefined) ?? currentTraceId() ?? randomUUID();
    const route = routeOf(req);
    const where = { trace_id: traceId, method: req.method, ...(route !== undefined && { route }) };

    if (res.writableEnded) {
      // The whole answer is already written (a 503 from requestTimeout(), say, before the
      // handler failed): nothing is left to protect, and closing the connection would only make
      // a client reusing it fail. The error is logged and the connection kept.
      log('error', 'error after the response was sent', { ...where, err });
      return;
    }
    if (res.headersSent) {
      log('error', 'error after the response started; closing the connection', { ...where, err });
      // The client gets a truncated response rather than a corrupt one. The error is not handed
      // on: Express's own handler would print its unredacted stack to stderr. The socket is
      // destroyed on the next turn, as Express does, so what was written (the status line
      // included) reaches the client first.
      setImmediate(() => res.destroy());
      return;
    }

    let problem: ProblemResponse;
    try {
      problem = problemFromError(err, {
        traceId,
        exposeStack,
        ...(problemType !== undefined && { problemType }),
      });
    } catch (renderError) {
      log('error', 'request failed', {
        ...where,
        status: 500,
        code: 'internal_error',
        err,
        renderError,
      });
      res.statusCode = 500;
      res.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
      res.end(LAST_RESORT);
      return;
    }

    const { status, body } = problem;
    if (status >= 500) {
      log('error', 'request failed', { ...where, status, code: body.code, err });
      if (errorChannel.hasSubscribers) {
        const event: ErrorEvent = {
          status,
          code: body.code,
          traceId,
          errorName: nameOf(err),
          method: req.method,
          ...(route !== undefined && { route: label(route) }),
        };
        errorChannel.publish(event);
      }
      if (isAccessLogged(res)) setRejection(res, { fields: { code: body.code } });
    } else if (logClientErrors) {
      // Client errors: what was answered and why, never the error's own text, which for
      // body-parser errors can quote the request body. When httpLogger() writes an access line
      // for the request, these fields go on that line instead of a line of their own.
      const fields = {
        code: body.code,
        ...(problem.kind === 'exposed' && { detail: body.detail }),
        error_name: nameOf(err),
        ...clientErrorFacts(err, body),
      };
      const writeOwn = () => log('info', 'request rejected', { ...where, status, ...fields });
      if (isAccessLogged(res)) setRejection(res, { fields, writeOwn });
      else writeOwn();
    }

    if (!res.getHeader('X-Request-Id') && !req.id) res.setHeader('X-Request-Id', traceId);
    try {
      sendProblem(res, problem);
    } catch {
      res.statusCode = Math.max(status, 500);
      res.end();
    }
  });
  return withOpenApi(handler);
}
