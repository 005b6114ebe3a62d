// asyncHandler(): hands a route's rejected promise to Express's error handling, on Express 4 too.
import type { NextFunction, Request, Response } from 'express';

/**
 * Wraps an `async` route handler or middleware so that a rejected promise goes to `next(err)`,
 * and so to `errorHandler()`, instead of becoming an unhandled rejection.
 *
 * Express 5 does this by itself; Express 4 ignores the promise a handler returns, so there a
 * failed `await` leaves the request hanging and, with `installProcessHandlers()`, ends the
 * process. Wrapping costs nothing on Express 5, so code that must run on both can wrap always.
 * A promise rejected with no reason (`Promise.reject()`) is passed on as an `Error`, as Express 5
 * does. A handler that has already answered when its promise rejects has its error passed on
 * too; `errorHandler()` then only logs it.
 *
 * @param handler A function `(req, res, next)` that may return a promise.
 * @returns A plain Express middleware with the same `req` and `res` types.
 * @example
 * const { asyncHandler } = require('@bulwark/error-handler');
 * app.get('/devices/:id', asyncHandler(async (req, res) => {
 *   res.json(await db.one(sql`SELECT * FROM device WHERE id = ${req.params.id}`));
 * }));
 */
export function asyncHandler<Req extends Request = Request, Res extends Response = Response>(
  handler: (req: Req, res: Res, next: NextFunction) => unknown,
): (req: Req, res: Res, next: NextFunction) => void {
  if (typeof handler !== 'function') {
    throw new TypeError(
      `asyncHandler: expected a function (req, res, next), got ${handler === null ? 'null' : typeof handler}.`,
    );
  }
  return function asyncHandler(req, res, next) {
    const result = handler(req, res, next);
    if (
      result !== null &&
      typeof result === 'object' &&
      typeof (result as PromiseLike<unknown>).then === 'function'
    ) {
      (result as PromiseLike<unknown>).then(undefined, (err: unknown) =>
        next(err ?? new Error('Rejected promise')),
      );
    }
  };
}
