// Configuration errors thrown at construction, and the HTTP errors sent to next() at request time.
import createError, { type HttpError } from 'http-errors';

/** Every configuration error code this package throws. */
export type ValidatorsConfigErrorCode =
  | 'ERR_BULWARK_VALIDATORS_UNKNOWN_OPTION'
  | 'ERR_BULWARK_VALIDATORS_INVALID_OPTION'
  | 'ERR_BULWARK_VALIDATORS_NOT_CALLED'
  | 'ERR_BULWARK_VALIDATORS_NO_SCHEMA'
  | 'ERR_BULWARK_VALIDATORS_INVALID_SCHEMA'
  | 'ERR_BULWARK_VALIDATORS_INSECURE_SCHEMA'
  | 'ERR_BULWARK_VALIDATORS_HEADER_CASE'
  | 'ERR_BULWARK_VALIDATORS_INVALID_ALLOWLIST'
  | 'ERR_BULWARK_VALIDATORS_NO_BODY_PARSER';

/**
 * Thrown when a factory is called with options it cannot honour, or handed to `next()` when a
 * request shows the app is wired wrongly (`ERR_BULWARK_VALIDATORS_NO_BODY_PARSER`). The message
 * quotes the bad value and names the fix; `code` is stable, and each is explained at
 * https://github.com/bulwark-js/bulwark/blob/main/docs/errors/validators.md
 */
export class ValidatorsConfigError extends Error {
  readonly code: ValidatorsConfigErrorCode;
  /** Set so an error handler that receives this error answers 500 without exposing it. */
  readonly status = 500;
  readonly expose = false;

  constructor(code: ValidatorsConfigErrorCode, message: string) {
    super(message);
    this.name = 'ValidatorsConfigError';
    this.code = code;
  }
}

/** One entry of a validation failure: where, and what is wrong, never the rejected value. */
export interface ValidationIssue {
  location: 'body' | 'query' | 'params' | 'headers';
  /** JSON Pointer (RFC 6901) into the location, e.g. `/items/0/name`; `''` for the whole. */
  pointer: string;
  message: string;
}

/** Properties every HTTP error of this package carries, beside `status` and `message`. */
export interface RequestErrorProps {
  code: string;
  headers?: Record<string, string>;
  errors?: ValidationIssue[];
  details?: Record<string, unknown>;
}

/** Builds the shared error shape: http-errors, `expose: true`, a stable snake_case `code`. */
export function requestError(status: number, message: string, props: RequestErrorProps): HttpError {
  const fields: Record<string, unknown> = { code: props.code, expose: true };
  if (props.headers) fields.headers = props.headers;
  if (props.errors) fields.errors = props.errors;
  if (props.details) fields.details = props.details;
  return createError(status, message, fields);
}
