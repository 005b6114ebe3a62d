// describeRoute(): a route's summary and success responses, declared next to the route.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { JsonSchema, ResponseDescription, RouteDescription } from './contract.js';
import {
  checkOptions,
  describe,
  invalidOption,
  isPlainObject,
  OpenApiConfigError,
} from './errors.js';
import { compileSchema } from './response-ajv.js';

/** One response a route declares. */
export interface RouteResponse {
  /** What the response means, shown in the document. Required. */
  description: string;
  /** JSON Schema (draft 2020-12) of the body. Default: none (the body is not described). */
  schema?: JsonSchema;
  /** The body's media type. Default `'application/json'`. */
  contentType?: string;
  /** Headers the response carries, each `{ description, schema }`. Default: none. */
  headers?: Readonly<Record<string, { description: string; schema: JsonSchema }>>;
}

/** Options for `describeRoute`. */
export interface DescribeRouteOptions {
  /** One line saying what the route does. Default: none. */
  summary?: string;
  /** Longer text (CommonMark). Default: none. */
  description?: string;
  /** Tags grouping the route in the document. Default: none. */
  tags?: readonly string[];
  /** A unique name for the operation (`getDevice`). Default: none. */
  operationId?: string;
  /** Mark the route deprecated. Default `false`. */
  deprecated?: boolean;
  /**
   * The route's own responses by status (`200`, `201`, `204`, `'2XX'`), each with its body's
   * schema. Error answers come from the middleware the route runs. Default: none.
   */
  responses?: Readonly<Record<number | string, RouteResponse>>;
}

const OPTION_NAMES = ['summary', 'description', 'tags', 'operationId', 'deprecated', 'responses'];
const RESPONSE_NAMES = ['description', 'schema', 'contentType', 'headers'];
const STATUS = /^(?:[1-5]\d\d|[1-5]XX)$/;
const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+*-]+$/i;
const OPERATION_ID = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

function text(name: string, value: unknown, max: number): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '' || value.length > max) {
    invalidOption(
      'describeRoute',
      name,
      value,
      `Use a non-empty string of at most ${max} characters.`,
    );
  }
  return value;
}

function isSchema(value: unknown): value is JsonSchema {
  return typeof value === 'boolean' || isPlainObject(value);
}

function checkResponse(status: string, value: unknown): ResponseDescription {
  const where = `responses[${status}]`;
  if (!isPlainObject(value)) {
    invalidOption(
      'describeRoute',
      where,
      value,
      "Pass { description, schema }, such as { description: 'The device', schema: { type: 'object' } }.",
    );
  }
  const given = checkOptions(`describeRoute ${where}`, value, RESPONSE_NAMES);
  const description = text(`${where}.description`, given.description, 2000);
  if (description === undefined) {
    invalidOption(
      'describeRoute',
      `${where}.description`,
      undefined,
      "Every response needs a description, such as 'The device'.",
    );
  }
  const out: ResponseDescription = { description };
  if (given.schema !== undefined) {
    if (!isSchema(given.schema)) {
      invalidOption(
        'describeRoute',
        `${where}.schema`,
        given.schema,
        'Pass a JSON Schema (draft 2020-12) object.',
      );
    }
    try {
      compileSchema(given.schema, { formats: 'any' });
    } catch (err) {
      throw new OpenApiConfigError(
        'ERR_BULWARK_OPENAPI_INVALID_SCHEMA',
        `describeRoute: the schema of ${where} does not compile: ${err instanceof Error ? err.message : String(err)}. Fix the schema (draft 2020-12, ajv strict mode).`,
      );
    }
    out.schema = given.schema;
  }
  if (given.contentType !== undefined) {
    if (typeof given.contentType !== 'string' || !MEDIA_TYPE.test(given.contentType)) {
      invalidOption(
        'describeRoute',
        `${where}.contentType`,
        given.contentType,
        "Use a media type such as 'application/json' or 'text/csv'.",
      );
    }
    out.contentType = given.contentType;
  }
  if (given.headers !== undefined) {
    if (
      !isPlainObject(given.headers) ||
      !Object.values(given.headers).every(
        (h) => isPlainObject(h) && typeof h.description === 'string' && isSchema(h.schema),
      )
    ) {
      invalidOption(
        'describeRoute',
        `${where}.headers`,
        given.headers,
        "Pass { 'Header-Name': { description, schema } }, such as { Location: { description: 'The new device', schema: { type: 'string' } } }.",
      );
    }
    out.headers = given.headers as ResponseDescription['headers'] & object;
  }
  return out;
}

/**
 * Declares what the route's own middleware cannot say: a summary, tags, an operationId and its
 * success responses with their schemas. It does nothing to requests; `openApiDocument()` reads
 * it, and `validateResponses()` checks each JSON answer against the declared schema. Put it in
 * the route (`app.get(path, describeRoute({...}), ...)`); with `app.use()` or `router.use()` it
 * may only carry `tags`, which then apply to every route below.
 *
 * Defaults: nothing declared.
 * @throws {OpenApiConfigError} `ERR_BULWARK_OPENAPI_INVALID_OPTION` / `..._UNKNOWN_OPTION` for
 * bad options, `..._INVALID_SCHEMA` when a response schema does not compile.
 * @example
 * app.get('/devices/:id',
 *   describeRoute({
 *     summary: 'One device',
 *     responses: { 200: { description: 'The device', schema: deviceSchema } },
 *   }),
 *   validate({ params }),
 *   getDevice);
 */
export function describeRoute(options: DescribeRouteOptions): RequestHandler {
  const opts = checkOptions('describeRoute', options, OPTION_NAMES);
  const description: { -readonly [K in keyof RouteDescription]: RouteDescription[K] } = {
    version: 1,
    kind: 'route',
  };
  const summary = text('summary', opts.summary, 200);
  if (summary !== undefined) description.summary = summary;
  const long = text('description', opts.description, 10_000);
  if (long !== undefined) description.description = long;
  if (opts.tags !== undefined) {
    if (
      !Array.isArray(opts.tags) ||
      !opts.tags.every((t) => typeof t === 'string' && t.trim() !== '' && t.length <= 100)
    ) {
      invalidOption(
        'describeRoute',
        'tags',
        opts.tags,
        "Use a list of names, such as ['devices'].",
      );
    }
    description.tags = Object.freeze([...new Set(opts.tags as string[])]);
  }
  if (opts.operationId !== undefined) {
    if (typeof opts.operationId !== 'string' || !OPERATION_ID.test(opts.operationId)) {
      invalidOption(
        'describeRoute',
        'operationId',
        opts.operationId,
        "Use a name of letters, digits, '_', '.' and '-', such as 'getDevice'.",
      );
    }
    description.operationId = opts.operationId;
  }
  if (opts.deprecated !== undefined) {
    if (typeof opts.deprecated !== 'boolean') {
      invalidOption('describeRoute', 'deprecated', opts.deprecated, 'Use true or false.');
    }
    if (opts.deprecated) description.deprecated = true;
  }
  if (opts.responses !== undefined) {
    if (!isPlainObject(opts.responses)) {
      invalidOption(
        'describeRoute',
        'responses',
        opts.responses,
        "Pass responses by status, such as { 200: { description: 'The device', schema } }.",
      );
    }
    const responses: Record<string, ResponseDescription> = {};
    for (const [status, response] of Object.entries(opts.responses)) {
      if (!STATUS.test(status)) {
        invalidOption(
          'describeRoute',
          'responses',
          status,
          `${describe(status)} is not a status. Use a status from 100 to 599, or a range such as '2XX'.`,
        );
      }
      responses[status] = checkResponse(status, response);
    }
    description.responses = Object.freeze(responses);
  }
  const middleware = function describedRoute(_req: Request, _res: Response, next: NextFunction) {
    next();
  };
  return Object.assign(middleware, { openapi: Object.freeze(description) });
}
