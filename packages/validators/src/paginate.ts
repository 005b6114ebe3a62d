// paginate(): caps limit and offset (or checks a cursor) on every list request and sets req.page.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { requestError, ValidatorsConfigError } from './errors.js';
import { publishRejected, routeOf } from './events.js';
import { paginateDescription, withOpenApi } from './openapi.js';
import { checkOptions, describe, integerOption } from './options.js';

/** The page a list handler should return, set on `req.page`. */
export interface Page {
  /** Rows to return: the client's limit capped at `maxLimit`, or `defaultLimit`. */
  limit: number;
  /** Rows to skip; `0` when a cursor is used. */
  offset: number;
  /** The client's opaque cursor, when given (checked for length and charset only). */
  cursor?: string;
  /** True when the client asked for more than `maxLimit` and got `maxLimit`. */
  capped: boolean;
}

/** Options for `paginate`. */
export interface PaginateOptions {
  /** Limit when the client sends none. Default `50`. */
  defaultLimit?: number;
  /** Largest limit served, search or not. Default `200`. */
  maxLimit?: number;
  /** Largest offset served; deep offsets make the database scan and discard rows. Default `10000`. */
  maxOffset?: number;
  /** Longest cursor accepted. Default `512`. */
  maxCursorLength?: number;
  /** `'cap'` serves `maxLimit` rows for a larger limit; `'reject'` answers 400. Default `'cap'`. */
  overLimit?: 'cap' | 'reject';
  /** Query parameter names. Defaults `'limit'`, `'offset'`, `'cursor'`. */
  limitParam?: string;
  offsetParam?: string;
  cursorParam?: string;
}

const OPTION_NAMES = [
  'defaultLimit',
  'maxLimit',
  'maxOffset',
  'maxCursorLength',
  'overLimit',
  'limitParam',
  'offsetParam',
  'cursorParam',
];
const INTEGER = /^(?:0|[1-9]\d{0,14})$/;
const CURSOR = /^[A-Za-z0-9_\-.=~]+$/;

function nameOption(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^[A-Za-z0-9_.[\]-]{1,64}$/.test(value)) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `paginate: ${name}: ${describe(value)} is not a valid query parameter name. Use a short name such as '${fallback}'.`,
    );
  }
  return value;
}

/**
 * Reads `limit`, `offset` and `cursor` from the query string and puts the capped page on
 * `req.page`, on every request, with or without search or filter parameters. A limit above
 * `maxLimit` is capped (or refused with `overLimit: 'reject'`); a non-integer or repeated value,
 * a limit of 0, an offset above `maxOffset`, a malformed cursor or a cursor together with an
 * offset is refused with 400 `invalid_pagination`.
 *
 * Defaults: `defaultLimit 50`, `maxLimit 200`, `maxOffset 10000`, `maxCursorLength 512`,
 * `overLimit 'cap'`.
 * @throws {ValidatorsConfigError} `ERR_BULWARK_VALIDATORS_INVALID_OPTION` (for example
 * `defaultLimit` above `maxLimit`) or `..._UNKNOWN_OPTION`.
 * @example
 * app.get('/rolls', paginate({ maxLimit: 100 }), async (req, res) => {
 *   const { limit, offset } = req.page!;
 *   res.json(await db.listRolls({ search: req.query.search, limit, offset }));
 * });
 */
export function paginate(options?: PaginateOptions): RequestHandler {
  const opts = checkOptions('paginate', options, OPTION_NAMES);
  const maxLimit = integerOption('paginate', 'maxLimit', opts.maxLimit, 200, {
    min: 1,
    example: '200',
  });
  const defaultLimit = integerOption(
    'paginate',
    'defaultLimit',
    opts.defaultLimit,
    Math.min(50, maxLimit),
    {
      min: 1,
      max: maxLimit,
      example: String(Math.min(50, maxLimit)),
    },
  );
  const maxOffset = integerOption('paginate', 'maxOffset', opts.maxOffset, 10_000, {
    min: 0,
    example: '10000',
  });
  const maxCursorLength = integerOption('paginate', 'maxCursorLength', opts.maxCursorLength, 512, {
    min: 1,
    max: 4096,
    example: '512',
  });
  const overLimit = opts.overLimit ?? 'cap';
  if (overLimit !== 'cap' && overLimit !== 'reject') {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `paginate: overLimit: ${describe(overLimit)} is not valid. Use 'cap' or 'reject'.`,
    );
  }
  const limitParam = nameOption('limitParam', opts.limitParam, 'limit');
  const offsetParam = nameOption('offsetParam', opts.offsetParam, 'offset');
  const cursorParam = nameOption('cursorParam', opts.cursorParam, 'cursor');

  const middleware = function paginator(req: Request, _res: Response, next: NextFunction): void {
    const query = (req.query ?? {}) as Record<string, unknown>;
    const has = (name: string) => Object.hasOwn(query, name);
    const refuse = (message: string, parameter: string) => {
      publishRejected({
        middleware: 'paginate',
        status: 400,
        code: 'invalid_pagination',
        method: req.method,
        ...(routeOf(req) ? { route: routeOf(req) as string } : {}),
      });
      next(
        requestError(400, message, {
          code: 'invalid_pagination',
          details: { parameter, maxLimit, maxOffset },
        }),
      );
    };
    let limit = defaultLimit;
    let capped = false;
    if (has(limitParam)) {
      const raw = query[limitParam];
      if (typeof raw !== 'string' || !INTEGER.test(raw) || Number(raw) < 1) {
        refuse(`${limitParam} must be a whole number from 1 to ${maxLimit}`, limitParam);
        return;
      }
      limit = Number(raw);
      if (limit > maxLimit) {
        if (overLimit === 'reject') {
          refuse(`${limitParam} must be a whole number from 1 to ${maxLimit}`, limitParam);
          return;
        }
        limit = maxLimit;
        capped = true;
      }
    }
    let offset = 0;
    if (has(offsetParam)) {
      const raw = query[offsetParam];
      if (typeof raw !== 'string' || !INTEGER.test(raw) || Number(raw) > maxOffset) {
        refuse(`${offsetParam} must be a whole number from 0 to ${maxOffset}`, offsetParam);
        return;
      }
      offset = Number(raw);
    }
    let cursor: string | undefined;
    if (has(cursorParam)) {
      const raw = query[cursorParam];
      if (typeof raw !== 'string' || raw.length > maxCursorLength || !CURSOR.test(raw)) {
        refuse(`${cursorParam} is not a valid cursor`, cursorParam);
        return;
      }
      if (has(offsetParam)) {
        refuse(`Use either ${cursorParam} or ${offsetParam}, not both`, cursorParam);
        return;
      }
      cursor = raw;
    }
    req.page = cursor === undefined ? { limit, offset, capped } : { limit, offset, cursor, capped };
    next();
  };
  return withOpenApi(
    paginateDescription({
      limitParam,
      offsetParam,
      cursorParam,
      defaultLimit,
      maxLimit,
      maxOffset,
      maxCursorLength,
      overLimit,
    }),
    middleware,
  );
}
