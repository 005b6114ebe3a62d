// requestTimeout(): a per-request deadline with an AbortSignal that also fires when the client leaves.
import type { ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import {
  checkOptions,
  describe,
  httpError,
  PerimeterConfigError,
  positiveInt,
  publish,
} from './errors.js';
import { requestTimeoutDescription, withOpenApi } from './openapi.js';

declare global {
  namespace Express {
    interface Request {
      /**
       * Aborts when the request runs past `requestTimeout()`'s deadline (reason: a
       * `TimeoutError` DOMException) or when the client goes away first (reason: an
       * `AbortError` DOMException). Pass it to queries, `fetch` and timers so their work stops.
       * Set by `@bulwark/perimeter`'s `requestTimeout()`. Declared exactly as Node.js 24's own
       * `IncomingMessage.signal` (which only aborts when the client goes away), so the two
       * declarations merge under every `@types/node`.
       */
      readonly signal: AbortSignal;
    }
  }
}

export interface RequestTimeoutOptions {
  /** Milliseconds a handler may take before the client gets 503 `request_timeout`. Required. */
  ms: number;
  /**
   * Seconds for a `Retry-After` header on the 503. Default: none, because a slow handler is
   * not made faster by retrying at once; set it when clients should retry later.
   */
  retryAfter?: number;
}

const KNOWN = ['ms', 'retryAfter'] as const;

/**
 * The property `req.signal` carries the request's deadline under (epoch milliseconds). A
 * registered symbol, so a package such as `@bulwark/db-safety` reads it without importing this one.
 */
const DEADLINE = Symbol.for('bulwark.deadline');

function silence(res: ServerResponse): void {
  const self = res as unknown as Record<string, unknown>;
  self.setHeader = () => res;
  self.removeHeader = () => {};
  self.writeHead = () => res;
  self.write = () => true;
  self.end = () => res;
}

/**
 * Gives every request a deadline. When the handler has not answered within `ms`, the client gets
 * 503 `request_timeout` (503, not 408: 408 means the client was too slow to send its request,
 * while here the server was too slow to answer) and `req.signal` aborts, so an upstream call or
 * database query started with that signal is cancelled instead of running on. The same signal
 * aborts when the client disconnects before the answer. The signal is also `res.locals.signal`.
 * The signal carries the request's deadline (epoch milliseconds) under
 * `Symbol.for('bulwark.deadline')`, also `res.locals.deadline`: `@bulwark/db-safety` caps the
 * server-side `statement_timeout` of a query given `req.signal` at the time left.
 * A request whose body was still arriving at the deadline never reaches its route: reading
 * stops and the connection is closed after the 503, so a body parser cannot hand it on.
 * Middleware that awaits something before calling `next()` should pass `req.signal` to it (or
 * check `req.signal.aborted`), so it does not hand a timed-out request to the route.
 *
 * @param options A number of milliseconds, or {@link RequestTimeoutOptions}.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_INVALID_NUMBER` for a missing, zero,
 *   negative or fractional `ms`.
 * @example
 * app.use(requestTimeout(Number(process.env.REQUEST_TIMEOUT_MS ?? 10_000)));
 * app.get('/forecast', async (req, res) => {
 *   const upstream = await fetch('http://127.0.0.1:4000/forecast', { signal: req.signal });
 *   res.json(await upstream.json());
 * });
 */
export function requestTimeout(options: number | RequestTimeoutOptions): RequestHandler {
  const opts =
    typeof options === 'number'
      ? { ms: options }
      : (checkOptions('requestTimeout', options, KNOWN) as unknown as RequestTimeoutOptions);
  if (opts.ms === undefined) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_NUMBER',
      `requestTimeout: the timeout is ${describe(opts.ms)}. Pass milliseconds, such as requestTimeout(10_000).`,
    );
  }
  const ms = positiveInt('requestTimeout', 'ms', opts.ms);
  const retryAfter =
    opts.retryAfter === undefined
      ? undefined
      : String(positiveInt('requestTimeout', 'retryAfter', opts.retryAfter, { max: 86_400 }));
  const headers = retryAfter ? { 'Retry-After': retryAfter } : undefined;

  return withOpenApi(
    requestTimeoutDescription(ms, headers !== undefined),
    function requestTimeout(req, res, next) {
      const controller = new AbortController();
      const started = Date.now();
      const deadline = started + ms;
      // Non-enumerable, like the signal's own state: it travels with the signal, not in logs.
      Object.defineProperty(controller.signal, DEADLINE, { value: deadline });
      // Node.js 24 and later define `signal` on IncomingMessage.prototype as a getter without a
      // setter, so assigning would throw; an own property shadows it on this request only.
      Object.defineProperty(req, 'signal', {
        value: controller.signal,
        configurable: true,
        enumerable: false,
        writable: false,
      });
      res.locals.signal = controller.signal;
      res.locals.deadline = deadline;

      const timer = setTimeout(() => {
        if (res.writableFinished) return;
        controller.abort(new DOMException(`Request exceeded ${ms} ms`, 'TimeoutError'));
        publish('timeout', () => ({
          method: req.method,
          path: req.path,
          ms,
          elapsedMs: Date.now() - started,
          headersSent: res.headersSent,
        }));
        if (res.headersSent) {
          // A response already under way cannot change status; ending the socket tells the client
          // the answer is incomplete instead of leaving it waiting.
          res.destroy();
          return;
        }
        // Once the 503 is out, a handler that answers late must not throw "headers already sent"
        // from a callback, which would crash the process; its answer is dropped instead.
        res.once('finish', () => silence(res));
        if (!req.complete) {
          // The client is still sending its body, so a body parser is waiting for it. Were that
          // body to arrive, the parser would call next() and the route would perform the write
          // the client was just told to retry. Stop reading now, and once the 503 has been
          // flushed close the connection, so the parser never completes.
          req.pause();
          res.setHeader('Connection', 'close');
          res.once('finish', () => req.socket.destroy());
        }
        next(httpError(503, 'Request timed out', 'request_timeout', headers ? { headers } : {}));
      }, ms);
      timer.unref?.();

      res.once('close', () => {
        clearTimeout(timer);
        if (!res.writableFinished && !controller.signal.aborted) {
          controller.abort(new DOMException('Client closed the connection', 'AbortError'));
        }
      });
      res.once('finish', () => clearTimeout(timer));
      next();
    },
  );
}
