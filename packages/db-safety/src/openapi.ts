// The `openapi` self-descriptions (contract version 1, docs/architecture.md) of dbErrors() and
// healthRoute(), from which @bulwark/openapi documents the database answers a client can get.

interface Header {
  description: string;
  schema: { type: string };
}

/** Attaches a frozen description as `fn.openapi`. */
export function withOpenApi<F extends object>(description: object, fn: F): F {
  return Object.assign(fn, { openapi: Object.freeze(description) });
}

const RETRY_AFTER: Readonly<Record<string, Header>> = Object.freeze({
  'Retry-After': Object.freeze({
    description: 'Seconds until the client may try again.',
    schema: Object.freeze({ type: 'integer' }),
  }),
});

const problem = (status: number, code: string, title: string, retry = false) =>
  Object.freeze({ status, code, title, ...(retry ? { headers: RETRY_AFTER } : {}) });

/**
 * `dbErrors()`: the answers it turns database failures into. It is error middleware, mounted after
 * the routes, so it describes itself as an error handler: its problems apply to every route.
 */
export function dbErrorsDescription() {
  return {
    version: 1,
    kind: 'error-handler',
    problems: Object.freeze([
      problem(409, 'conflict', 'a unique constraint refused the write.'),
      problem(409, 'reference_conflict', 'a foreign key refused the write.'),
      problem(
        409,
        'transaction_conflict',
        'a concurrent change won; the request can be sent again as it is.',
        true,
      ),
      problem(422, 'invalid_value', 'a value broke a rule of the table itself.'),
      problem(503, 'database_timeout', 'a statement ran past the database timeout.', true),
      problem(503, 'database_busy', 'the data is locked by another operation.', true),
      problem(503, 'database_unavailable', 'no database connection was free in time.', true),
      problem(
        503,
        'request_timeout',
        "the request's deadline passed before its query or transaction finished.",
      ),
    ]),
  };
}

const HEALTH_BODY = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string' },
    latencyMs: { type: 'number' },
    pool: { type: 'object' },
  },
};

/**
 * `healthRoute()`: a handler that answers itself, in plain JSON rather than problem+json, so it
 * describes its two responses the way `describeRoute()` does.
 */
export function healthRouteDescription() {
  return {
    version: 1,
    kind: 'route',
    responses: Object.freeze({
      200: Object.freeze({
        description: 'The database answers (`status` is `ok`, or `degraded` when it is slow).',
        schema: Object.freeze({
          ...HEALTH_BODY,
          properties: { ...HEALTH_BODY.properties, status: { enum: ['ok', 'degraded'] } },
        }),
      }),
      503: Object.freeze({
        description:
          'Service Unavailable.\n\n- `database_unavailable`: the database is unreachable, erroring or too slow.',
        headers: RETRY_AFTER,
        schema: Object.freeze({
          ...HEALTH_BODY,
          required: ['status', 'code'],
          properties: {
            ...HEALTH_BODY.properties,
            status: { const: 'down' },
            code: { const: 'database_unavailable' },
          },
        }),
      }),
    }),
  };
}
