// The configuration error every factory of this package throws, with its stable codes.
import { checkOptionsObject } from '../../../internal/options.js';

/** Every configuration error code this package throws. */
export type OpenApiConfigErrorCode =
  | 'ERR_BULWARK_OPENAPI_UNKNOWN_OPTION'
  | 'ERR_BULWARK_OPENAPI_INVALID_OPTION'
  | 'ERR_BULWARK_OPENAPI_NOT_CALLED'
  | 'ERR_BULWARK_OPENAPI_NOT_AN_APP'
  | 'ERR_BULWARK_OPENAPI_ROUTE_PATH'
  | 'ERR_BULWARK_OPENAPI_MOUNT_PATH'
  | 'ERR_BULWARK_OPENAPI_SUB_APP'
  | 'ERR_BULWARK_OPENAPI_PATH_PARAMS'
  | 'ERR_BULWARK_OPENAPI_DESCRIPTION_VERSION'
  | 'ERR_BULWARK_OPENAPI_ROUTER_DESCRIPTION'
  | 'ERR_BULWARK_OPENAPI_SCHEMA_CONFLICT'
  | 'ERR_BULWARK_OPENAPI_DUPLICATE_OPERATION_ID'
  | 'ERR_BULWARK_OPENAPI_INVALID_SCHEMA'
  | 'ERR_BULWARK_OPENAPI_RESPONSE_SCHEMA'
  | 'ERR_BULWARK_OPENAPI_RESPONSE_VALIDATION_ENV';

/**
 * Thrown when a factory is called with options it cannot honour, or when `openApiDocument()`
 * meets a route it cannot describe truthfully. The message quotes the bad value and names the
 * fix; `code` is stable and documented in
 * https://github.com/bulwark-js/bulwark/blob/main/docs/errors/openapi.md. Handed to `next()` at request
 * time only by `validateResponses()`, for a response schema it cannot compile.
 */
export class OpenApiConfigError extends Error {
  readonly code: OpenApiConfigErrorCode;
  /** Set so an error handler that receives this error answers 500 without exposing it. */
  readonly status = 500;
  readonly expose = false;

  constructor(code: OpenApiConfigErrorCode, message: string) {
    super(message);
    this.name = 'OpenApiConfigError';
    this.code = code;
  }
}

/** A short, safe rendering of a value for a configuration message. */
export function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (value instanceof RegExp) return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value === null || typeof value !== 'object') return String(value);
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 80)}…` : text;
  } catch {
    return 'an object';
  }
}

/**
 * Refuses a non-object options argument, a request passed where options belong (the factory was
 * mounted without being called), and any option name not in `known`, with a "did you mean".
 */
export function checkOptions(
  factory: string,
  options: unknown,
  known: readonly string[],
): Record<string, unknown> {
  return checkOptionsObject(factory, options, known, describe, (problem, message) => {
    throw new OpenApiConfigError(CODES[problem], message);
  });
}

const CODES = {
  not_called: 'ERR_BULWARK_OPENAPI_NOT_CALLED',
  not_an_object: 'ERR_BULWARK_OPENAPI_INVALID_OPTION',
  unknown_option: 'ERR_BULWARK_OPENAPI_UNKNOWN_OPTION',
} as const;

/** Throws `ERR_BULWARK_OPENAPI_INVALID_OPTION` with the value and the fix. */
export function invalidOption(factory: string, name: string, value: unknown, fix: string): never {
  throw new OpenApiConfigError(
    'ERR_BULWARK_OPENAPI_INVALID_OPTION',
    `${factory}: ${name}: ${describe(value)} is not valid. ${fix}`,
  );
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
