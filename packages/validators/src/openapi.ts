// The `openapi` self-descriptions (contract version 1, docs/architecture.md) of this package's
// middleware, from which @bulwark/openapi builds a route's parameters, body and error answers.

type Schema = Readonly<Record<string, unknown>> | boolean;

interface Problem {
  status: number;
  code: string;
  title: string;
}

/** Attaches a frozen description as `fn.openapi`. */
export function withOpenApi<F extends object>(description: object, fn: F): F {
  return Object.assign(fn, { openapi: Object.freeze(description) });
}

const problem = (status: number, code: string, title: string): Problem =>
  Object.freeze({ status, code, title });

const VALIDATION_FAILED = problem(
  422,
  'validation_failed',
  'the request does not match the route schema; `errors` says where.',
);

/** `validate()`: the schemas as given, and the shared `$id` schemas they may `$ref`. */
export function validateDescription(
  request: Readonly<Record<string, unknown>>,
  schemas: readonly unknown[],
) {
  const given: Record<string, Schema> = {};
  for (const location of ['body', 'query', 'params', 'headers']) {
    if (request[location] !== undefined) given[location] = request[location] as Schema;
  }
  return {
    version: 1,
    kind: 'validate',
    request: Object.freeze(given),
    ...(schemas.length > 0 ? { schemas: Object.freeze([...schemas]) } : {}),
    problems: Object.freeze([VALIDATION_FAILED]),
  };
}

const BODY_ERRORS = [
  problem(
    400,
    'invalid_json',
    'the body is not UTF-8 JSON, or its top level is not an object or array.',
  ),
  problem(400, 'json_too_deep', 'the body is nested too deeply.'),
  problem(400, 'json_forbidden_key', 'the body has a `__proto__` or `constructor.prototype` key.'),
  problem(400, 'json_duplicate_key', 'an object in the body has the same key twice.'),
  problem(400, 'invalid_content_length', 'Content-Length is not a number.'),
  problem(400, 'request_aborted', 'the body stopped arriving.'),
  problem(413, 'payload_too_large', 'the body is larger than the route accepts.'),
  problem(413, 'json_too_many_keys', 'the body has too many keys.'),
  problem(413, 'json_array_too_long', 'an array in the body is too long.'),
  problem(415, 'unsupported_charset', 'the body is not UTF-8.'),
  problem(415, 'unsupported_content_encoding', 'the body is compressed.'),
  problem(422, 'json_number_too_large', 'a number in the body is beyond the range of a double.'),
];

const NOT_JSON = problem(415, 'unsupported_media_type', 'the body is not `application/json`.');

/** `jsonBody()`: JSON bodies up to `maxBytes`, and how a bad one is refused. */
export function jsonBodyDescription(maxBytes: number, requireJson: boolean) {
  return {
    version: 1,
    kind: 'json-body',
    mediaTypes: Object.freeze(['application/json']),
    maxBytes,
    problems: Object.freeze(requireJson ? [...BODY_ERRORS, NOT_JSON] : BODY_ERRORS),
  };
}

const UPLOAD_ERRORS = Object.freeze([
  problem(400, 'upload_missing', 'the request has no file in its body.'),
  problem(400, 'request_aborted', 'the body stopped arriving.'),
  problem(413, 'upload_too_large', 'the file is larger than the route accepts.'),
  problem(415, 'unsupported_file_type', 'the file is not of an allowed type.'),
  problem(415, 'file_type_mismatch', 'the Content-Type does not match the file.'),
  problem(415, 'file_contains_markup', 'an image or text file holds markup or script.'),
  problem(415, 'unsupported_media_type', 'the file was sent as a multipart form.'),
  problem(415, 'unsupported_content_encoding', 'the body is compressed.'),
]);

/** `uploadLimits()`: the file itself as the body, of the allowed types. */
export function uploadDescription(maxBytes: number, allowedTypes: readonly string[]) {
  return {
    version: 1,
    kind: 'upload',
    mediaTypes: Object.freeze([...allowedTypes]),
    maxBytes,
    problems: UPLOAD_ERRORS,
  };
}

/** `paginate()`: its query parameters, and the 400 for a bad one. */
export function paginateDescription(settings: {
  limitParam: string;
  offsetParam: string;
  cursorParam: string;
  defaultLimit: number;
  maxLimit: number;
  maxOffset: number;
  maxCursorLength: number;
  overLimit: 'cap' | 'reject';
}) {
  const capped = settings.overLimit === 'cap';
  return {
    version: 1,
    kind: 'paginate',
    query: Object.freeze({
      [settings.limitParam]: {
        description: capped
          ? `Rows to return; more than ${settings.maxLimit} returns ${settings.maxLimit}.`
          : `Rows to return, at most ${settings.maxLimit}.`,
        schema: {
          type: 'integer',
          minimum: 1,
          ...(capped ? {} : { maximum: settings.maxLimit }),
          default: settings.defaultLimit,
        },
      },
      [settings.offsetParam]: {
        description: 'Rows to skip.',
        schema: { type: 'integer', minimum: 0, maximum: settings.maxOffset, default: 0 },
      },
      [settings.cursorParam]: {
        description: `A cursor from an earlier page; not together with ${settings.offsetParam}.`,
        schema: {
          type: 'string',
          maxLength: settings.maxCursorLength,
          pattern: '^[A-Za-z0-9_\\-.=~]+$',
        },
      },
    }),
    problems: Object.freeze([
      problem(
        400,
        'invalid_pagination',
        'a page parameter is not a whole number within its limits, or the cursor is malformed.',
      ),
    ]),
  };
}

const QUERY_ERRORS = Object.freeze([
  problem(414, 'query_too_long', 'the query string is too long.'),
  problem(400, 'too_many_query_params', 'the query string has too many parameters.'),
  problem(400, 'invalid_query', 'the query string is not correctly percent-encoded.'),
]);

/** `queryLimits()`: only how it refuses a query string. */
export function queryLimitsDescription() {
  return { version: 1, kind: 'query-limits', problems: QUERY_ERRORS };
}
