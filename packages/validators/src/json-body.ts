// jsonBody(): a JSON body parser with byte, depth, key and array limits and prototype-key checks.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { requestError } from './errors.js';
import { publishRejected, routeOf } from './events.js';
import { scanJson } from './json-scan.js';
import { jsonBodyDescription, withOpenApi } from './openapi.js';
import { booleanOption, byteSizeOption, checkOptions, integerOption } from './options.js';
import { hasBody, readBody } from './read-body.js';

/** Options for `jsonBody`. */
export interface JsonBodyOptions {
  /** Largest body in bytes, as a number or `'100kb'`, `'10mb'`. Default `'100kb'`. */
  limit?: number | string;
  /** Deepest nesting of objects and arrays (`{}` is depth 1). Default `32`. */
  maxDepth?: number;
  /** Most object keys in the whole document. Default `1000`. */
  maxKeys?: number;
  /** Most elements in any one array. Default `1000`. */
  maxArrayLength?: number;
  /**
   * Refuse a body whose Content-Type is not JSON with 415. When `false`, such requests pass
   * through untouched for another parser. Default `false`.
   */
  requireJson?: boolean;
}

const OPTION_NAMES = ['limit', 'maxDepth', 'maxKeys', 'maxArrayLength', 'requireJson'];

const PROBLEMS = {
  too_deep: [400, 'json_too_deep', 'JSON body is nested too deeply'],
  too_many_keys: [413, 'json_too_many_keys', 'JSON body has too many keys'],
  array_too_long: [413, 'json_array_too_long', 'JSON body has an array that is too long'],
  forbidden_key: [400, 'json_forbidden_key', 'JSON body contains a forbidden key'],
  duplicate_key: [400, 'json_duplicate_key', 'JSON body repeats a key in one object'],
  number_too_large: [422, 'json_number_too_large', 'JSON body has a number too large to represent'],
  invalid: [400, 'invalid_json', 'Request body is not valid JSON'],
} as const;

/** Media type (lower case, no parameters) and charset of a Content-Type header. */
export function parseContentType(header: string | undefined): {
  type: string;
  charset: string | undefined;
} {
  if (header === undefined) return { type: '', charset: undefined };
  const [type = '', ...params] = header.split(';');
  let charset: string | undefined;
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq === -1) continue;
    if (param.slice(0, eq).trim().toLowerCase() === 'charset') {
      charset = param
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1')
        .toLowerCase();
    }
  }
  return { type: type.trim().toLowerCase(), charset };
}

function isJsonType(type: string): boolean {
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Parses `application/json` (and `application/*+json`) bodies into `req.body`, refusing before
 * any handler runs: a body over `limit` (413, while streaming), nesting deeper than `maxDepth`
 * (400), more than `maxKeys` keys or an array over `maxArrayLength` (413), `__proto__` or
 * `constructor.prototype` keys and duplicate keys (400), a number too large for a double such as
 * `1e400`, which would parse as Infinity (422), invalid UTF-8 or JSON, or a top level
 * that is not an object or array (400), a charset other than UTF-8 or any Content-Encoding (415).
 *
 * Defaults: `limit '100kb'`, `maxDepth 32`, `maxKeys 1000`, `maxArrayLength 1000`,
 * `requireJson false`.
 * @throws {ValidatorsConfigError} `ERR_BULWARK_VALIDATORS_INVALID_OPTION` for a bad limit and
 * `..._UNKNOWN_OPTION` for a misspelled option.
 * @example
 * app.use(jsonBody({ limit: '1mb', maxDepth: 16 }));
 */
export function jsonBody(options?: JsonBodyOptions): RequestHandler {
  const opts = checkOptions('jsonBody', options, OPTION_NAMES);
  const limit = byteSizeOption('jsonBody', 'limit', opts.limit, 100 * 1024);
  const limits = {
    maxDepth: integerOption('jsonBody', 'maxDepth', opts.maxDepth, 32, {
      min: 1,
      max: 1000,
      example: '32',
    }),
    maxKeys: integerOption('jsonBody', 'maxKeys', opts.maxKeys, 1000, { min: 1, example: '1000' }),
    maxArrayLength: integerOption('jsonBody', 'maxArrayLength', opts.maxArrayLength, 1000, {
      min: 1,
      example: '1000',
    }),
  };
  const requireJson = booleanOption('jsonBody', 'requireJson', opts.requireJson, false);

  const refuse = (
    req: Request,
    next: NextFunction,
    status: number,
    code: string,
    message: string,
  ) => {
    publishRejected({
      middleware: 'jsonBody',
      status,
      code,
      method: req.method,
      ...(routeOf(req) ? { route: routeOf(req) as string } : {}),
    });
    next(requestError(status, message, { code }));
  };

  const middleware = function jsonBodyParser(
    req: Request,
    _res: Response,
    next: NextFunction,
  ): void {
    // Defined on every request, parsed or not, as body-parser does: validate({ body }) takes a
    // request without the property as one that met no parser.
    if (!Reflect.has(req, 'body')) req.body = undefined;
    const flagged = req as Request & { _body?: boolean };
    if (flagged._body || !hasBody(req)) {
      next();
      return;
    }
    const { type, charset } = parseContentType(req.headers['content-type']);
    if (!isJsonType(type)) {
      if (requireJson)
        refuse(req, next, 415, 'unsupported_media_type', 'Request body must be application/json');
      else next();
      return;
    }
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      refuse(req, next, 415, 'unsupported_charset', 'JSON body must be UTF-8');
      return;
    }
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      refuse(
        req,
        next,
        415,
        'unsupported_content_encoding',
        'Compressed request bodies are not accepted',
      );
      return;
    }
    flagged._body = true;
    readBody(req, { limit, tooLargeCode: 'payload_too_large', details: { limit } }).then(
      (buffer) => {
        let text: string;
        try {
          text = decoder.decode(buffer);
        } catch {
          refuse(req, next, 400, 'invalid_json', 'Request body is not valid UTF-8');
          return;
        }
        const problem = scanJson(text, limits);
        if (problem !== undefined) {
          const [status, code, message] = PROBLEMS[problem];
          refuse(req, next, status, code, message);
          return;
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          refuse(req, next, 400, 'invalid_json', 'Request body is not valid JSON');
          return;
        }
        if (typeof parsed !== 'object' || parsed === null) {
          refuse(req, next, 400, 'invalid_json', 'JSON body must be an object or an array');
          return;
        }
        req.body = parsed;
        next();
      },
      (err: { status?: number; code?: string }) => {
        publishRejected({
          middleware: 'jsonBody',
          status: err.status ?? 400,
          code: err.code ?? 'request_aborted',
          method: req.method,
          ...(routeOf(req) ? { route: routeOf(req) as string } : {}),
        });
        next(err);
      },
    );
  };
  return withOpenApi(jsonBodyDescription(limit, requireJson), middleware);
}
