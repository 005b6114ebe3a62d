// validateResponses(): in development and tests, every JSON answer checked against its route's
// declared response schema, failing loudly on a mismatch.
import type { ValidateFunction } from 'ajv';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import createError from 'http-errors';
import type { ResponseDescription, RouteDescription } from './contract.js';
import {
  checkOptions,
  describe,
  invalidOption,
  isPlainObject,
  OpenApiConfigError,
} from './errors.js';
import { publishInvalid } from './events.js';
import { compileSchema, type FormatCheck, responseAjv } from './response-ajv.js';
import { descriptionOf, type RouteLike } from './walk.js';

/** Options for `validateResponses`. */
export interface ValidateResponsesOptions {
  /**
   * Check responses. Default: `true` when `NODE_ENV` is `development` or `test`, else `false`.
   * `true` is refused in any other environment: the check costs a copy of every answer.
   */
  enabled?: boolean;
  /**
   * Formats your response schemas use beyond the standard ones (`date-time`, `email`, `uuid`,
   * `uri`, ...), by name: a check of the string or a RegExp. Default: none.
   */
  formats?: Readonly<Record<string, FormatCheck>>;
}

const OPTION_NAMES = ['enabled', 'formats'];

interface Declared {
  /** By status (`'200'`, `'2XX'`): the compiled check, or null when the body is not described. */
  responses: Map<string, { check: ValidateFunction | null; names: Set<string> }>;
  route: string;
}

function isJsonType(type: string): boolean {
  const base = type.split(';')[0]?.trim().toLowerCase() ?? '';
  return base === 'application/json' || base.endsWith('+json');
}

/** Property names a schema defines: the only object keys a pointer may show. */
function propertyNames(schema: unknown, names = new Set<string>(), depth = 0): Set<string> {
  if (depth > 64) return names;
  if (Array.isArray(schema)) {
    for (const item of schema) propertyNames(item, names, depth + 1);
  } else if (isPlainObject(schema)) {
    for (const [key, value] of Object.entries(schema)) {
      if (key === 'properties' && isPlainObject(value)) {
        for (const name of Object.keys(value)) names.add(name);
      }
      if (key === 'required' && Array.isArray(value)) {
        for (const name of value) if (typeof name === 'string') names.add(name);
      }
      if (key !== 'const' && key !== 'enum' && key !== 'default' && key !== 'examples') {
        propertyNames(value, names, depth + 1);
      }
    }
  }
  return names;
}

/** The pointer up to the first key the schema does not name: a data key could be anything. */
function safePointer(instancePath: string, names: Set<string>): string {
  let pointer = '';
  for (const segment of instancePath === '' ? [] : instancePath.slice(1).split('/')) {
    const key = segment.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!/^(?:0|[1-9]\d{0,8})$/.test(segment) && !names.has(key)) break;
    pointer += `/${segment}`;
  }
  return pointer;
}

/**
 * In development and tests, checks every JSON answer (`res.json()`, `res.send(object)`) of a
 * route that declares its responses with `describeRoute({ responses })` against the schema
 * declared for its status, as the client will receive it (after `toJSON()`). A mismatch, or a
 * 1xx-3xx status the route does not declare, is not sent: the request fails with a 500
 * `response_invalid` naming the route, the status, the JSON Pointer and ajv's message (never the
 * value), which `errorHandler()` logs; the failure is also published on
 * `bulwark:openapi:response-invalid`. Error answers (4xx, 5xx) are checked only when the route
 * declares that status. Mount it first, before the routes.
 *
 * Defaults: `enabled` when `NODE_ENV` is `development` or `test`; standard formats only.
 * @throws {OpenApiConfigError} `ERR_BULWARK_OPENAPI_RESPONSE_VALIDATION_ENV` for `enabled: true`
 * outside development and test, `ERR_BULWARK_OPENAPI_INVALID_OPTION` / `..._UNKNOWN_OPTION`.
 * @example
 * app.use(validateResponses({ formats: { 'device-id': (s) => /^[a-z0-9-]{1,64}$/.test(s) } }));
 */
export function validateResponses(options?: ValidateResponsesOptions): RequestHandler {
  const opts = checkOptions('validateResponses', options, OPTION_NAMES);
  const env = process.env.NODE_ENV;
  const development = env === 'development' || env === 'test';
  if (opts.enabled !== undefined && typeof opts.enabled !== 'boolean') {
    invalidOption('validateResponses', 'enabled', opts.enabled, 'Use true or false.');
  }
  if (opts.enabled === true && !development) {
    throw new OpenApiConfigError(
      'ERR_BULWARK_OPENAPI_RESPONSE_VALIDATION_ENV',
      `validateResponses: enabled is true but NODE_ENV is ${env === undefined ? 'not set' : JSON.stringify(env)}. Responses are checked only when NODE_ENV is "development" or "test", where a mismatch may fail a request; remove enabled for this environment.`,
    );
  }
  const formats = opts.formats ?? {};
  if (
    !isPlainObject(formats) ||
    !Object.values(formats).every((f) => typeof f === 'function' || f instanceof RegExp)
  ) {
    invalidOption(
      'validateResponses',
      'formats',
      formats,
      "Pass an object of checks, such as { 'device-id': (s) => /^[a-z0-9-]{1,64}$/.test(s) }.",
    );
  }
  const enabled = (opts.enabled as boolean | undefined) ?? development;
  if (!enabled) {
    return function validateResponsesOff(_req: Request, _res: Response, next: NextFunction) {
      next();
    };
  }
  const ajv: Ajv2020 = responseAjv(formats as Record<string, FormatCheck>);
  const routes = new WeakMap<object, Map<string, Declared | null>>();

  /** The responses a route declares for a method, compiled on first use. */
  const declaredFor = (route: RouteLike, method: string): Declared | null => {
    let byMethod = routes.get(route);
    if (!byMethod) {
      byMethod = new Map();
      routes.set(route, byMethod);
    }
    const lower = method.toLowerCase();
    const key = lower === 'head' && !route.methods.head ? 'get' : lower;
    if (byMethod.has(key)) return byMethod.get(key) ?? null;
    const declared: Record<string, ResponseDescription> = {};
    for (const layer of route.stack) {
      if (layer.method !== undefined && layer.method !== key && layer.method !== '_all') continue;
      const description = descriptionOf(layer.handle);
      if (description?.kind !== 'route') continue;
      Object.assign(declared, (description as RouteDescription).responses ?? {});
    }
    const path = typeof route.path === 'string' ? route.path : describe(route.path);
    let result: Declared | null = null;
    if (Object.keys(declared).length > 0) {
      result = { responses: new Map(), route: path };
      for (const [status, response] of Object.entries(declared)) {
        const json = isJsonType(response.contentType ?? 'application/json');
        let check: ValidateFunction | null = null;
        if (json && response.schema !== undefined) {
          try {
            check = compileSchema(response.schema, { ajv });
          } catch (err) {
            throw new OpenApiConfigError(
              'ERR_BULWARK_OPENAPI_RESPONSE_SCHEMA',
              `validateResponses: the ${status} response schema of ${method.toUpperCase()} ${path} does not compile: ${err instanceof Error ? err.message : String(err)}. Pass a check for each custom format in validateResponses({ formats }), or fix the schema.`,
            );
          }
        }
        result.responses.set(status, { check, names: propertyNames(response.schema) });
      }
    }
    byMethod.set(key, result);
    return result;
  };

  /** The error to fail the request with, or undefined when the answer is as declared. */
  const problem = (req: Request, res: Response, body: unknown): Error | undefined => {
    const route = (req as Request & { route?: RouteLike }).route;
    if (!route || !Array.isArray(route.stack)) return undefined;
    let declared: Declared | null;
    try {
      declared = declaredFor(route, req.method);
    } catch (err) {
      return err as Error;
    }
    if (!declared) return undefined;
    const status = res.statusCode;
    const entry =
      declared.responses.get(String(status)) ??
      declared.responses.get(`${Math.floor(status / 100)}XX`);
    let pointer = '';
    let message: string;
    if (!entry) {
      if (status >= 400) return undefined;
      message = `status ${status} is not declared (declared: ${[...declared.responses.keys()].join(', ')})`;
    } else {
      if (!entry.check) return undefined;
      const type = res.getHeader('Content-Type');
      if (typeof type === 'string' && !isJsonType(type)) return undefined;
      let data: unknown;
      try {
        const replacer = req.app?.get?.('json replacer') as
          | ((key: string, value: unknown) => unknown)
          | undefined;
        const text = JSON.stringify(body, replacer);
        data = text === undefined ? undefined : JSON.parse(text);
      } catch {
        data = undefined;
      }
      if (entry.check(data)) return undefined;
      const error = entry.check.errors?.[0];
      pointer = error ? safePointer(error.instancePath, entry.names) : '';
      message = error?.message ?? 'does not match';
    }
    const where = `${req.method} ${declared.route}`;
    publishInvalid({ method: req.method, route: declared.route, status, pointer, message });
    return createError(
      500,
      `${where}: the ${status} response does not match its declared schema: ${pointer === '' ? 'the body' : pointer} ${message}. Fix the handler or the schema in describeRoute().`,
      { code: 'response_invalid', expose: true, details: { status, pointer } },
    );
  };

  return function validateResponses(req: Request, res: Response, next: NextFunction) {
    const json = res.json;
    res.json = function checkedJson(this: Response, body: unknown) {
      const error = problem(req, res, body);
      if (!error) return json.call(this, body);
      // Hand the failure to the error handler instead of sending the wrong answer.
      res.json = json;
      const forward = (req as Request & { next?: NextFunction }).next ?? next;
      forward(error);
      return this;
    };
    next();
  };
}
