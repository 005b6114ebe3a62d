// queryLimits(): caps the query string's length and parameter count before anything parses it.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { requestError } from './errors.js';
import { publishRejected, routeOf } from './events.js';
import { queryLimitsDescription, withOpenApi } from './openapi.js';
import { checkOptions, integerOption } from './options.js';

/** Options for `queryLimits`. */
export interface QueryLimitsOptions {
  /** Most `&`-separated parameters. Default `100`. */
  maxParams?: number;
  /** Longest raw query string (after `?`), in characters. Default `4096`. */
  maxLength?: number;
}

const OPTION_NAMES = ['maxParams', 'maxLength'];

/**
 * Refuses a query string longer than `maxLength` with 414 `query_too_long`, more than
 * `maxParams` parameters with 400 `too_many_query_params`, and broken percent-encoding (`%zz`,
 * a lone `%`, invalid UTF-8) with 400 `invalid_query`, so every later layer decodes the same
 * text the same way. Mount it before anything reads `req.query`.
 *
 * Defaults: `maxParams 100`, `maxLength 4096`.
 * @throws {ValidatorsConfigError} `ERR_BULWARK_VALIDATORS_INVALID_OPTION` or `..._UNKNOWN_OPTION`.
 * @example
 * app.use(queryLimits({ maxParams: 20 }));
 */
export function queryLimits(options?: QueryLimitsOptions): RequestHandler {
  const opts = checkOptions('queryLimits', options, OPTION_NAMES);
  const maxParams = integerOption('queryLimits', 'maxParams', opts.maxParams, 100, {
    min: 1,
    example: '100',
  });
  const maxLength = integerOption('queryLimits', 'maxLength', opts.maxLength, 4096, {
    min: 1,
    example: '4096',
  });

  const middleware = function queryLimiter(req: Request, _res: Response, next: NextFunction): void {
    const url = req.originalUrl ?? req.url ?? '';
    const mark = url.indexOf('?');
    if (mark === -1) {
      next();
      return;
    }
    let failure: [number, string, string] | undefined;
    if (url.length - mark - 1 > maxLength) {
      failure = [414, 'query_too_long', 'Query string is too long'];
    } else {
      // The parameters are walked in place: a query string is not copied nor split into a list.
      let count = 0;
      let start = mark + 1;
      let percent = url.indexOf('%', start);
      while (start <= url.length) {
        let end = url.indexOf('&', start);
        if (end === -1) end = url.length;
        if (end > start) {
          count++;
          if (count > maxParams) {
            failure = [400, 'too_many_query_params', 'Query string has too many parameters'];
            break;
          }
          if (percent !== -1 && percent < start) percent = url.indexOf('%', start);
          if (percent !== -1 && percent < end) {
            try {
              decodeURIComponent(url.slice(start, end));
            } catch {
              failure = [400, 'invalid_query', 'Query string is not correctly percent-encoded'];
              break;
            }
          }
        }
        start = end + 1;
      }
    }
    if (failure === undefined) {
      next();
      return;
    }
    const [status, code, message] = failure;
    publishRejected({
      middleware: 'queryLimits',
      status,
      code,
      method: req.method,
      ...(routeOf(req) ? { route: routeOf(req) as string } : {}),
    });
    next(
      requestError(status, message, {
        code,
        details:
          code === 'query_too_long'
            ? { maxLength }
            : code === 'too_many_query_params'
              ? { maxParams }
              : {},
      }),
    );
  };
  return withOpenApi(queryLimitsDescription(), middleware);
}
