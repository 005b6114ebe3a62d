// validate(): JSON Schema (draft 2020-12) checks of body, query, params and headers, compiled once.
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { RegExpEngine } from 'ajv/dist/types/index.js';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import {
  type AjvSettings,
  AjvWarning,
  createAjv,
  DECIMAL_KEYWORD,
  LOWERCASE_KEYWORD,
} from './ajv.js';
import { requestError, type ValidationIssue, ValidatorsConfigError } from './errors.js';
import { publishRejected, routeOf } from './events.js';
import type { SlugOptions } from './formats.js';
import { validateDescription } from './openapi.js';
import { booleanOption, checkOptions, describe, integerOption } from './options.js';
import { assertSecureSchema, subschemas } from './secure-schema.js';

/** The parts of a request `validate` can check. */
export type RequestLocation = 'body' | 'query' | 'params' | 'headers';

const LOCATIONS: readonly RequestLocation[] = ['body', 'query', 'params', 'headers'];

/** One JSON Schema (draft 2020-12) per location. */
export interface RequestSchemas {
  body?: JSONSchema;
  query?: JSONSchema;
  params?: JSONSchema;
  headers?: JSONSchema;
}

/** The validated values `validate` stores on `req.valid`, typed from the schemas. */
export type Validated<S extends RequestSchemas> = {
  [K in keyof S & RequestLocation]: S[K] extends JSONSchema ? FromSchema<S[K]> : never;
};

/** Options for `validate`. */
export interface ValidateOptions {
  /** Shape of the `slug` format. Default: 3 to 50 characters of `a-z A-Z 0-9 _`. */
  slug?: SlugOptions;
  /** More formats, by name, each a check of a string. Default: none. */
  formats?: Record<string, (value: string) => boolean>;
  /** Schemas with an `$id`, for `$ref` from the location schemas. Checked like them. Default: none. */
  schemas?: readonly JSONSchema[];
  /**
   * Fill in `default` values from the schemas. Query, params and headers are copies; a body is
   * copied before defaults are written, so `req.body` is never changed. Default `false`.
   */
  useDefaults?: boolean;
  /**
   * Skip the secure-schema check (a `pattern` or `format` without `maxLength`, unbounded
   * `uniqueItems`, ...). Only for schemas that never see untrusted input. Default `false`.
   */
  allowInsecureSchemas?: boolean;
  /**
   * Regular-expression engine for `pattern`, as ajv's `code.regExp` (for example RE2).
   * Default: JavaScript's RegExp, made safe by the required `maxLength`.
   */
  regExp?: RegExpEngine;
  /**
   * Report every failure of every location in one 422, instead of stopping at the first. ajv then
   * checks the whole request even after a failure, so a bad request costs as much as a valid one
   * of its size: keep the values bounded (jsonBody's `maxKeys` and `maxArrayLength`).
   * Default `false`.
   */
  allErrors?: boolean;
  /**
   * With `allErrors`, the most entries one 422 carries (1 to 1000); beyond it,
   * `details.truncated` is true. Default `20`.
   */
  maxErrors?: number;
}

const OPTION_NAMES = [
  'slug',
  'formats',
  'schemas',
  'useDefaults',
  'allowInsecureSchemas',
  'regExp',
  'allErrors',
  'maxErrors',
];

const DEFAULT_MAX_ERRORS = 20;

/** A `validate` middleware; `valid(req)` returns `req.valid` typed from the schemas. */
export interface ValidateHandler<S extends RequestSchemas> extends RequestHandler {
  valid(req: Request): Validated<S>;
}

interface CompiledLocation {
  location: RequestLocation;
  check: ValidateFunction;
  /** Property names the schema defines: the only object keys a pointer may show. */
  names: Set<string>;
  /** The check writes into the data (lower-cased emails, defaults): validate a copy. */
  copy: boolean;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Keywords that identify or describe a subschema, or that ajv reads from where the subschema
// sits (`default`, with useDefaults): they stay in place when `decimalOnly` wraps it.
const IN_PLACE = new Set([
  '$id',
  '$schema',
  '$anchor',
  '$dynamicAnchor',
  '$defs',
  'definitions',
  '$comment',
  'title',
  'description',
  'default',
  'examples',
  'deprecated',
  'readOnly',
  'writeOnly',
]);

/** `'number'` or `'integer'` when ajv may coerce a string to a number for this subschema. */
function numericKind(type: unknown): 'number' | 'integer' | undefined {
  const types = Array.isArray(type) ? type : [type];
  // With `string` allowed, ajv keeps a string as it is.
  if (types.includes('string')) return undefined;
  if (types.includes('number')) return 'number';
  if (types.includes('integer')) return 'integer';
  return undefined;
}

/**
 * Wraps a subschema that ajv would coerce to a number so the decimal check sees the string
 * first: ajv coerces before it runs any keyword of the subschema itself, but `allOf` runs its
 * subschemas in order on the same value.
 */
function decimalOnly(
  node: Record<string, unknown>,
  kind: 'number' | 'integer',
): Record<string, unknown> {
  const outer: Record<string, unknown> = {};
  const inner: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (IN_PLACE.has(key)) outer[key] = value;
    else inner[key] = value;
  }
  outer.allOf = [{ [DECIMAL_KEYWORD]: kind }, inner];
  return outer;
}

/**
 * Deep copy of a schema with the lower-casing keyword beside every `format: 'email'` and, for a
 * coercing instance (`decimal`), the decimal check in front of every numeric subschema.
 */
function prepare(schema: unknown, decimal = false): { schema: unknown; modifies: boolean } {
  let modifies = false;
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (!isPlainObject(node)) return node;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      // `const`, `enum`, `default`, `examples` and `dependentRequired` hold data, not schemas.
      out[key] =
        key === 'const' ||
        key === 'enum' ||
        key === 'default' ||
        key === 'examples' ||
        key === 'dependentRequired'
          ? value
          : walk(value);
    }
    if (node.format === 'email') {
      out[LOWERCASE_KEYWORD] = true;
      modifies = true;
    }
    const kind = decimal ? numericKind(node.type) : undefined;
    return kind ? decimalOnly(out, kind) : out;
  };
  return { schema: walk(schema), modifies };
}

/**
 * Deep copy of parsed request data (objects, arrays, primitives). Faster than structuredClone
 * for JSON-shaped data; a `__proto__` key stays an own data property and never sets a prototype.
 */
export function copyData(value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (depth > 256) throw new RangeError('too deep to copy');
  if (Array.isArray(value)) return value.map((item) => copyData(item, depth + 1));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return structuredClone(value);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const raw = (value as Record<string, unknown>)[key];
    // Primitives, all that params and most query values and headers hold, without a call.
    const item = typeof raw !== 'object' || raw === null ? raw : copyData(raw, depth + 1);
    if (key === '__proto__') {
      Object.defineProperty(out, key, {
        value: item,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      out[key] = item;
    }
  }
  return out;
}

function propertyNames(schema: unknown): Set<string> {
  const names = new Set<string>();
  for (const [node] of subschemas(schema)) {
    if (isPlainObject(node.properties))
      for (const name of Object.keys(node.properties)) names.add(name);
    if (Array.isArray(node.required))
      for (const name of node.required) if (typeof name === 'string') names.add(name);
  }
  return names;
}

function unescapePointer(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * The error's place as a JSON Pointer. An object key the schema does not define came from the
 * client, so the pointer stops at its parent rather than echo it.
 */
function pointerOf(error: ErrorObject, names: Set<string>): string {
  const segments = error.instancePath === '' ? [] : error.instancePath.slice(1).split('/');
  if (error.keyword === 'required' || error.keyword === 'dependentRequired') {
    const missing = (error.params as { missingProperty?: unknown }).missingProperty;
    if (typeof missing === 'string')
      segments.push(missing.replace(/~/g, '~0').replace(/\//g, '~1'));
  }
  let pointer = '';
  for (const segment of segments) {
    if (!/^(?:0|[1-9]\d{0,8})$/.test(segment) && !names.has(unescapePointer(segment))) break;
    pointer += `/${segment}`;
  }
  return pointer;
}

function assertHeaderNames(schema: unknown): void {
  for (const [node, pointer] of subschemas(schema)) {
    const names = [
      ...(isPlainObject(node.properties) ? Object.keys(node.properties) : []),
      ...(Array.isArray(node.required)
        ? node.required.filter((n): n is string => typeof n === 'string')
        : []),
    ];
    const upper = names.find((name) => name !== name.toLowerCase());
    if (upper !== undefined) {
      throw new ValidatorsConfigError(
        'ERR_BULWARK_VALIDATORS_HEADER_CASE',
        `validate: the headers schema at #${pointer} names ${describe(upper)}, but Node.js lower-cases header names, so it would never match. Write ${describe(upper.toLowerCase())}.`,
      );
    }
  }
}

/**
 * The error for a body checked before any body parser ran. Express leaves `req.body` undefined
 * until a parser sets it, and every parser this package knows of (jsonBody, express.json() and the
 * other body-parser parsers) defines the property on each request it sees, parsed or not; so a
 * request without the property never met one, and its body, whatever it holds, would fail the
 * schema as if the client had sent nothing.
 */
function noBodyParserError(req: Request): ValidatorsConfigError {
  const route = routeOf(req);
  const where = route === undefined ? 'this route' : `${req.method} ${route}`;
  return new ValidatorsConfigError(
    'ERR_BULWARK_VALIDATORS_NO_BODY_PARSER',
    `validate: ${where} checks the body, but no body parser ran before it, so req.body is undefined and every request would fail as if it had no body. Mount jsonBody() before the route: app.use(jsonBody()), or app.post(path, jsonBody(), validate({ body }), handler).`,
  );
}

/** Whether an equal issue is already listed: pointers that stop at a parent repeat. */
function listed(issues: readonly ValidationIssue[], issue: ValidationIssue): boolean {
  return issues.some(
    (seen) =>
      seen.location === issue.location &&
      seen.pointer === issue.pointer &&
      seen.message === issue.message,
  );
}

function compileError(location: string, err: unknown): ValidatorsConfigError {
  const reason = err instanceof Error ? err.message : String(err);
  const kind = err instanceof AjvWarning ? 'has a part ajv would ignore' : 'does not compile';
  return new ValidatorsConfigError(
    'ERR_BULWARK_VALIDATORS_INVALID_SCHEMA',
    `validate: the ${location} schema ${kind}: ${reason}. Fix the schema (draft 2020-12, strict mode).`,
  );
}

/**
 * Validates the request against one JSON Schema (draft 2020-12) per location, compiled once
 * here. Validated values go to `req.valid.body | query | params | headers`: query, params and
 * headers are copies with types coerced from strings; bodies are not coerced. Values with
 * `format: 'email'` are lower-cased. On failure calls `next()` with a 422 `validation_failed`
 * error carrying `errors: [{ location, pointer, message }]`, never the rejected value.
 *
 * Defaults: no extra formats, `useDefaults: false`, `allowInsecureSchemas: false`.
 * @throws {ValidatorsConfigError} `ERR_BULWARK_VALIDATORS_NO_SCHEMA` without a schema,
 * `..._INVALID_SCHEMA` when one does not compile, `..._INSECURE_SCHEMA` when one fails the
 * secure-schema check, `..._HEADER_CASE` for an upper-case header name, and
 * `..._UNKNOWN_OPTION` / `..._INVALID_OPTION` for bad options.
 * @example
 * const createDevice = validate({
 *   body: {
 *     type: 'object',
 *     properties: { name: { type: 'string', format: 'slug', maxLength: 50 } },
 *     required: ['name'],
 *     additionalProperties: false,
 *   },
 * });
 * app.post('/devices', jsonBody(), createDevice, (req, res) => {
 *   const { body } = createDevice.valid(req); // { name: string }
 *   res.status(201).json({ name: body.name });
 * });
 */
export function validate<const S extends RequestSchemas>(
  schemas: S,
  options?: ValidateOptions,
): ValidateHandler<S> {
  const given = checkOptions('validate', schemas, LOCATIONS);
  const opts = checkOptions('validate', options, OPTION_NAMES);
  const locations = LOCATIONS.filter((location) => given[location] !== undefined);
  if (locations.length === 0) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_NO_SCHEMA',
      'validate: no schema was given. Pass at least one of body, query, params or headers, such as validate({ body: { type: "object" } }).',
    );
  }
  const allowInsecure = booleanOption(
    'validate',
    'allowInsecureSchemas',
    opts.allowInsecureSchemas,
    false,
  );
  const useDefaults = booleanOption('validate', 'useDefaults', opts.useDefaults, false);
  const allErrors = booleanOption('validate', 'allErrors', opts.allErrors, false);
  const maxErrors = integerOption('validate', 'maxErrors', opts.maxErrors, DEFAULT_MAX_ERRORS, {
    min: 1,
    max: 1000,
    example: String(DEFAULT_MAX_ERRORS),
  });
  if (opts.maxErrors !== undefined && !allErrors) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `validate: maxErrors: ${describe(opts.maxErrors)} has no effect without allErrors, which reports only the first failure. Add allErrors: true, or remove maxErrors.`,
    );
  }
  if (opts.formats !== undefined) {
    if (
      !isPlainObject(opts.formats) ||
      Object.values(opts.formats).some((f) => typeof f !== 'function')
    ) {
      throw new ValidatorsConfigError(
        'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
        `validate: formats: ${describe(opts.formats)} is not valid. Pass an object of functions, such as { sku: (s) => /^[A-Z]{3}-\\d{4}$/.test(s) }.`,
      );
    }
  }
  if (opts.schemas !== undefined && !Array.isArray(opts.schemas)) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `validate: schemas: ${describe(opts.schemas)} is not valid. Pass an array of schemas, each with an $id.`,
    );
  }
  if (opts.regExp !== undefined && typeof opts.regExp !== 'function') {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `validate: regExp: ${describe(opts.regExp)} is not valid. Pass a RegExp engine such as RE2 (a function with a "code" property).`,
    );
  }
  const shared = (opts.schemas ?? []) as readonly JSONSchema[];
  if (!allowInsecure) {
    for (const [index, schema] of shared.entries()) {
      assertSecureSchema(schema, `schemas[${index}]`, opts.regExp !== undefined);
    }
  }
  const settings: AjvSettings = {
    slug: opts.slug as SlugOptions | undefined,
    formats: opts.formats as Record<string, (value: string) => boolean> | undefined,
    useDefaults,
    allErrors,
    regExp: opts.regExp as RegExpEngine | undefined,
  };
  const sharedFor = (decimal: boolean) =>
    shared.map((schema) => prepare(schema, decimal).schema as object);
  let bodyAjv: ReturnType<typeof createAjv>;
  let stringAjv: ReturnType<typeof createAjv>;
  try {
    bodyAjv = createAjv({ ...settings, schemas: sharedFor(false) }, false);
    stringAjv = createAjv({ ...settings, schemas: sharedFor(true) }, true);
  } catch (err) {
    if (err instanceof ValidatorsConfigError) throw err;
    throw compileError('shared', err);
  }
  const sharedModifies = shared.some((schema) => prepare(schema).modifies);

  const compiled: CompiledLocation[] = locations.map((location) => {
    const schema = given[location];
    if (
      location !== 'body' &&
      isPlainObject(schema) &&
      schema.type !== undefined &&
      schema.type !== 'object'
    ) {
      throw new ValidatorsConfigError(
        'ERR_BULWARK_VALIDATORS_INVALID_SCHEMA',
        `validate: the ${location} schema has type ${describe(schema.type)}, but ${location} is always an object. Use type: 'object' with properties.`,
      );
    }
    if (location === 'headers') assertHeaderNames(schema);
    if (!allowInsecure) assertSecureSchema(schema, location, opts.regExp !== undefined);
    const { schema: ready, modifies } = prepare(schema, location !== 'body');
    let check: ValidateFunction;
    try {
      check = (location === 'body' ? bodyAjv : stringAjv).compile(ready as object);
    } catch (err) {
      throw compileError(location, err);
    }
    const names = propertyNames(schema);
    for (const extra of shared) for (const name of propertyNames(extra)) names.add(name);
    return { location, check, names, copy: modifies || sharedModifies || useDefaults };
  });

  const checksBody = locations.includes('body');
  let reportedNoParser = false;

  const middleware = function validateRequest(
    req: Request,
    _res: Response,
    next: NextFunction,
  ): void {
    if (checksBody && !Reflect.has(req, 'body')) {
      const error = noBodyParserError(req);
      // Every such request fails the same way: one warning says it, the error handler the rest.
      if (!reportedNoParser) {
        reportedNoParser = true;
        process.emitWarning(error.message, { code: error.code });
      }
      next(error);
      return;
    }
    // Made on the first location that passes, and the list of issues on the first that fails:
    // a valid request allocates only what it keeps.
    let valid: Record<string, unknown> | undefined;
    let issues: ValidationIssue[] | undefined;
    let truncated = false;
    for (const { location, check, names, copy } of compiled) {
      const source: unknown = req[location];
      // Query, params and headers are always copies: coercion writes into the data, and on
      // Express 5 req.query is a read-only getter.
      let data: unknown;
      try {
        data = location !== 'body' || copy ? copyData(source) : source;
      } catch {
        data = undefined;
      }
      if (check(data)) {
        valid ??= { ...req.valid };
        valid[location] = data;
        continue;
      }
      issues ??= [];
      // Without allErrors ajv stops at the first failure; a keyword may still have said more.
      const reported = check.errors ?? [];
      const errors: (ErrorObject | undefined)[] =
        reported.length === 0 ? [undefined] : allErrors ? reported : reported.slice(0, 1);
      for (const error of errors) {
        const issue: ValidationIssue = {
          location,
          pointer: error ? pointerOf(error, names) : '',
          message: error?.message ?? 'is not valid',
        };
        if (listed(issues, issue)) continue;
        if (issues.length === maxErrors) {
          truncated = true;
          break;
        }
        issues.push(issue);
      }
      if (!allErrors || truncated) break;
    }
    const first = issues?.[0];
    if (issues === undefined || first === undefined) {
      req.valid = valid ?? { ...req.valid };
      next();
      return;
    }
    publishRejected({
      middleware: 'validate',
      status: 422,
      code: 'validation_failed',
      method: req.method,
      ...(routeOf(req) ? { route: routeOf(req) as string } : {}),
      location: first.location,
      pointer: first.pointer,
    });
    next(
      requestError(422, 'Request validation failed', {
        code: 'validation_failed',
        errors: issues,
        ...(truncated ? { details: { truncated: true, maxErrors } } : {}),
      }),
    );
  };
  return Object.assign(middleware, {
    valid: (req: Request) => (req.valid ?? {}) as Validated<S>,
    openapi: Object.freeze(validateDescription(given, shared)),
  });
}
