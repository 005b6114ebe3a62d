// The `openapi` self-description (contract version 1, docs/architecture.md) of errorHandler():
// the problem+json body every error answer has, which @bulwark/openapi puts on each one.

/** JSON Schema of the body `errorHandler()` sends, as `ProblemDetails` describes it. */
const PROBLEM_SCHEMA = {
  type: 'object',
  description: 'RFC 9457 problem details, with a stable `code` and the request’s `trace_id`.',
  properties: {
    type: {
      type: 'string',
      description: 'A URI naming the problem type; `about:blank` by default.',
    },
    title: { type: 'string', description: 'The HTTP status phrase.' },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    detail: { type: 'string', description: 'What went wrong, safe to show.' },
    code: {
      type: 'string',
      pattern: '^[a-z][a-z0-9_]{0,63}$',
      description: 'Stable snake_case code to branch on.',
    },
    trace_id: {
      type: 'string',
      description: 'The request’s trace id, also in X-Request-Id and the server log.',
    },
    errors: {
      type: 'array',
      description: 'Field-level failures, such as validation failures.',
      items: {
        type: 'object',
        properties: {
          location: { type: 'string' },
          pointer: { type: 'string', description: 'A JSON Pointer into the location.' },
          message: { type: 'string' },
        },
        required: ['pointer', 'message'],
      },
    },
    details: { type: 'object', description: 'Other safe, structured information.' },
    stack: { type: 'string', description: 'Only with exposeStack, outside production.' },
  },
  required: ['type', 'title', 'status', 'detail', 'code', 'trace_id'],
};

/** Attaches the description as `fn.openapi`. */
export function withOpenApi<F extends object>(fn: F): F {
  return Object.assign(fn, {
    openapi: Object.freeze({
      version: 1,
      kind: 'error-handler',
      mediaType: 'application/problem+json',
      schema: PROBLEM_SCHEMA,
      problems: Object.freeze([
        {
          status: 500,
          code: 'internal_error',
          title: 'the server failed; its log line with the same `trace_id` says why.',
        },
      ]),
    }),
  });
}
