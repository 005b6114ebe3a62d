// The OpenAPI 3.1 description of the API, built from the same route table that mounts the routes.
import type { RouteSpec } from './routes/route-table.js';

const STATUS_TEXT: Record<number, string> = {
  400: 'Malformed request (bad JSON, bad pagination)',
  401: 'No or invalid credentials',
  403: 'Authenticated, but without the permission or scope',
  404: 'Not found in your tenant',
  409: 'Conflicts with an existing resource or state',
  413: 'Body too large',
  422: 'Validation failed',
  429: 'Rate limited; see Retry-After',
  503: 'Database or dependency unavailable, or the request timed out',
};

const problem = {
  description: '',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};

function toOpenApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function parameters(route: RouteSpec): object[] {
  const out: object[] = [];
  const params = route.schemas.params as { properties?: Record<string, object> } | undefined;
  for (const [name, schema] of Object.entries(params?.properties ?? {})) {
    out.push({ name, in: 'path', required: true, schema });
  }
  const query = route.schemas.query as { properties?: Record<string, object> } | undefined;
  for (const [name, schema] of Object.entries(query?.properties ?? {})) {
    out.push({ name, in: 'query', required: false, schema });
  }
  return out;
}

/** The document: every customer and operator route, with its permission in `x-permission`. */
export function openApiDocument(
  groups: { prefix: string; tag: string; routes: RouteSpec[] }[],
  version: string,
): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const group of groups) {
    for (const route of group.routes) {
      const path = toOpenApiPath(`${group.prefix}${route.path}`);
      paths[path] ??= {};
      const responses: Record<string, object> = {
        [route.success.status]: {
          description: route.success.description,
          ...(route.success.status === 204
            ? {}
            : { content: { [route.success.type ?? 'application/json']: { schema: {} } } }),
        },
      };
      for (const status of [401, 403, 422, 429, 503, ...(route.errors ?? [])]) {
        responses[status] = { ...problem, description: STATUS_TEXT[status] ?? 'Error' };
      }
      paths[path][route.method] = {
        tags: [group.tag],
        summary: route.summary,
        'x-permission': route.permission,
        security: [{ bearer: [] }, { apiKey: [] }],
        parameters: parameters(route),
        ...(route.schemas.body
          ? {
              requestBody: {
                required: true,
                content: { 'application/json': { schema: route.schemas.body } },
              },
            }
          : {}),
        responses,
      };
    }
  }
  paths['/health'] = {
    get: {
      tags: ['system'],
      summary: 'Liveness',
      security: [],
      responses: { 200: { description: 'Alive' } },
    },
  };
  paths['/ready'] = {
    get: {
      tags: ['system'],
      summary: 'Readiness: database and broker',
      security: [],
      responses: { 200: { description: 'Ready' }, 503: { description: 'Not ready' } },
    },
  };
  paths['/metrics'] = {
    get: {
      tags: ['system'],
      summary: 'Prometheus metrics (allowlisted addresses, permission metrics:read)',
      'x-permission': 'metrics:read',
      security: [{ bearer: [] }, { apiKey: [] }],
      responses: { 200: { description: 'Prometheus text format' }, 401: problem, 403: problem },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Bulwark IoT example API',
      version,
      description:
        'Devices, telemetry, alerts and rules per tenant. Every error is application/problem+json (RFC 9457) with a stable `code` and a `trace_id`.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
      schemas: {
        Problem: {
          type: 'object',
          properties: {
            type: { type: 'string' },
            title: { type: 'string' },
            status: { type: 'integer' },
            detail: { type: 'string' },
            code: { type: 'string' },
            trace_id: { type: 'string' },
            errors: { type: 'array', items: { type: 'object' } },
          },
          required: ['type', 'title', 'status', 'code', 'trace_id'],
        },
      },
    },
    paths,
  };
}

/** A script-free HTML page listing the routes, so the strict docs CSP needs no exceptions. */
export function docsPage(document: {
  paths?: Record<string, Record<string, { summary?: string; 'x-permission'?: string }>>;
}): string {
  const html = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const rows = Object.entries(document.paths ?? {})
    .flatMap(([path, ops]) =>
      Object.entries(ops).map(
        ([method, op]) =>
          `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${html(path)}</code></td><td>${html(op.summary ?? '')}</td><td><code>${html(op['x-permission'] ?? 'public')}</code></td></tr>`,
      ),
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>IoT example API</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}td{padding:.2rem .8rem;border-bottom:1px solid #ddd}</style></head>
<body><h1>IoT example API</h1><p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<table><thead><tr><th>Method</th><th>Path</th><th>What</th><th>Permission</th></tr></thead><tbody>
${rows}
</tbody></table></body></html>`;
}
