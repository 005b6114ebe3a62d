// openApiDocument(): the OpenAPI 3.1 document of an Express app, from what its routes run.
import { STATUS_CODES } from 'node:http';
import type {
  AuthenticateDescription,
  BodyDescription,
  ErrorHandlerDescription,
  HeaderDescription,
  JsonSchema,
  MiddlewareDescription,
  PermissionDescription,
  ProblemDescription,
  QueryDescription,
  RateLimitDescription,
  RouteDescription,
  ScopeDescription,
  SecuritySchemeDescription,
  ValidateDescription,
} from './contract.js';
import {
  checkOptions,
  describe,
  invalidOption,
  isPlainObject,
  OpenApiConfigError,
} from './errors.js';
import { type PathVariant, pathVariants } from './paths.js';
import { SchemaRegistry } from './schemas.js';
import { type FoundOperation, stackOf, walk } from './walk.js';

/** Options for `openApiDocument`. */
export interface OpenApiDocumentOptions {
  /** The document's `info`: `title` and `version` are required; any other Info Object field is kept. */
  info: { title: string; version: string; description?: string; [field: string]: unknown };
  /** The document's `servers`. Default: none (clients use the document's own origin). */
  servers?: readonly { url: string; description?: string }[];
  /** Descriptions of the tags routes use (`describeRoute({ tags })`). Default: none. */
  tags?: readonly { name: string; description?: string }[];
  /**
   * Path prefixes to leave out, in the app's path syntax (`'/internal'`, `'/docs'`): routes and
   * mounted apps at or below them. Default: none.
   */
  exclude?: readonly string[];
}

/** An OpenAPI 3.1 document, as plain JSON-ready data. */
export interface OpenApiDocument {
  openapi: '3.1.0';
  info: OpenApiDocumentOptions['info'];
  servers?: { url: string; description?: string }[];
  tags?: { name: string; description?: string }[];
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: {
    schemas?: Record<string, JsonSchema>;
    securitySchemes?: Record<string, Record<string, unknown>>;
  };
}

const OPTION_NAMES = ['info', 'servers', 'tags', 'exclude'];
// Request headers OpenAPI describes by other means (content negotiation, security schemes).
const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);
const BODY_METHODS = new Set(['post', 'put', 'patch']);

function checkDocumentOptions(options: unknown): OpenApiDocumentOptions {
  const opts = checkOptions('openApiDocument', options, OPTION_NAMES);
  const info = opts.info;
  if (
    !isPlainObject(info) ||
    typeof info.title !== 'string' ||
    info.title.trim() === '' ||
    typeof info.version !== 'string' ||
    info.version.trim() === ''
  ) {
    invalidOption(
      'openApiDocument',
      'info',
      info,
      "Pass the API's title and version, such as { title: 'Devices API', version: '1.4.0' }.",
    );
  }
  if (
    opts.servers !== undefined &&
    (!Array.isArray(opts.servers) ||
      !opts.servers.every((s) => isPlainObject(s) && typeof s.url === 'string' && s.url !== ''))
  ) {
    invalidOption(
      'openApiDocument',
      'servers',
      opts.servers,
      "Pass a list of { url }, such as [{ url: 'https://api.example.com' }].",
    );
  }
  if (
    opts.tags !== undefined &&
    (!Array.isArray(opts.tags) ||
      !opts.tags.every((t) => isPlainObject(t) && typeof t.name === 'string' && t.name !== ''))
  ) {
    invalidOption(
      'openApiDocument',
      'tags',
      opts.tags,
      "Pass a list of { name, description }, such as [{ name: 'devices' }].",
    );
  }
  if (
    opts.exclude !== undefined &&
    (!Array.isArray(opts.exclude) ||
      !opts.exclude.every((p) => typeof p === 'string' && p.startsWith('/')))
  ) {
    invalidOption(
      'openApiDocument',
      'exclude',
      opts.exclude,
      "Pass a list of path prefixes, such as ['/internal', '/docs'].",
    );
  }
  return opts as unknown as OpenApiDocumentOptions;
}

const is =
  <D extends MiddlewareDescription>(kind: D['kind']) =>
  (d: MiddlewareDescription): d is D =>
    d.kind === kind;

function statusText(status: string): string {
  if (/^[1-5]XX$/.test(status)) return `Any ${status[0]}xx status`;
  return STATUS_CODES[Number(status)] ?? `Status ${status}`;
}

/** A name for components derived from an operation: `post /devices/{id}` → `PostDevicesId`. */
function operationName(method: string, template: string): string {
  const words = [method, ...template.split(/[^A-Za-z0-9]+/)].filter(Boolean);
  return words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

interface ProblemEntry {
  codes: Map<string, string>;
  headers: Record<string, HeaderDescription>;
}

/** Collects what one document needs across operations: schemas, security schemes, ids. */
class Builder {
  readonly schemas = new SchemaRegistry();
  readonly securitySchemes: Record<string, Record<string, unknown>> = {};
  private readonly schemeText = new Map<string, string>();
  private readonly operationIds = new Map<string, RouteDescription>();
  problem: { mediaType: string; ref: string } | undefined;

  constructor(errorHandlers: ErrorHandlerDescription[]) {
    const handler = errorHandlers.find(
      (d) => typeof d.mediaType === 'string' && d.schema !== undefined,
    );
    if (handler) {
      const name = 'Problem';
      this.schemas.components[name] = this.schemas.rewrite(handler.schema);
      this.problem = { mediaType: handler.mediaType, ref: `#/components/schemas/${name}` };
    }
  }

  scheme(description: SecuritySchemeDescription): string {
    const text = JSON.stringify(description.scheme);
    const base = String(description.name).replace(/[^A-Za-z0-9._-]+/g, '_') || 'auth';
    for (let n = 1; ; n++) {
      const name = n === 1 ? base : `${base}${n}`;
      const known = this.schemeText.get(name);
      if (known === text) return name;
      if (known === undefined) {
        this.schemeText.set(name, text);
        this.securitySchemes[name] = structuredClone(description.scheme) as Record<string, unknown>;
        return name;
      }
    }
  }

  operationId(id: string, owner: RouteDescription, template: string): string {
    const known = this.operationIds.get(id);
    if (known === undefined) {
      this.operationIds.set(id, owner);
      return id;
    }
    if (known !== owner) {
      throw new OpenApiConfigError(
        'ERR_BULWARK_OPENAPI_DUPLICATE_OPERATION_ID',
        `openApiDocument: the operationId ${describe(id)} of ${describe(template)} is already used by another route. Give each route its own operationId.`,
      );
    }
    // One route with an optional part stands for several paths: number the later ones.
    for (let n = 2; ; n++) {
      const next = `${id}_${n}`;
      if (!this.operationIds.has(next)) {
        this.operationIds.set(next, owner);
        return next;
      }
    }
  }

  operation(found: FoundOperation, globalProblems: ProblemDescription[]): Record<string, unknown> {
    const { method, path } = found;
    const descs = found.descriptions;
    const name = operationName(method, path.template);
    const routes = descs.filter(is<RouteDescription>('route'));
    const validates = descs.filter(is<ValidateDescription>('validate'));
    const bodies = descs.filter(
      (d): d is BodyDescription => d.kind === 'json-body' || d.kind === 'upload',
    );
    const queries = descs.filter(is<QueryDescription>('paginate'));
    const auths = descs.filter(is<AuthenticateDescription>('authenticate'));
    const permissions = descs.filter(is<PermissionDescription>('permission'));
    const scopes = descs.filter(is<ScopeDescription>('scope'));
    const limits = descs
      .filter(is<RateLimitDescription>('rate-limit'))
      .filter((d) => !d.methods || d.methods.some((m) => m.toLowerCase() === method));
    for (const v of validates) this.schemas.addShared(v.schemas);

    const op: Record<string, unknown> = {};
    const tags = [...new Set(routes.flatMap((r) => r.tags ?? []))];
    if (tags.length > 0) op.tags = tags;
    const last = <K extends keyof RouteDescription>(key: K) =>
      routes.reduce<RouteDescription[K] | undefined>((v, r) => r[key] ?? v, undefined);
    const summary = last('summary');
    if (summary !== undefined) op.summary = summary;
    const description = last('description');
    if (description !== undefined) op.description = description;
    const idOwner = [...routes].reverse().find((r) => r.operationId !== undefined);
    if (idOwner?.operationId !== undefined) {
      op.operationId = this.operationId(idOwner.operationId, idOwner, path.template);
    }
    if (last('deprecated') === true) op.deprecated = true;

    const parameters = this.parameters(found, validates, queries, name);
    if (parameters.length > 0) op.parameters = parameters;

    const body = [...validates].reverse().find((v) => v.request.body !== undefined);
    const jsonTypes = [
      ...new Set(bodies.filter((b) => b.kind === 'json-body').flatMap((b) => b.mediaTypes)),
    ];
    const uploads = bodies.filter((b) => b.kind === 'upload');
    let hasBody = false;
    if (body?.request.body !== undefined) {
      const schema = this.schemas.place(body.request.body, `${name}Body`);
      const types = jsonTypes.length > 0 ? jsonTypes : ['application/json'];
      const limit = bodies.find((b) => b.kind === 'json-body')?.maxBytes;
      op.requestBody = {
        required: true,
        ...(limit !== undefined ? { description: `At most ${limit} bytes.` } : {}),
        content: Object.fromEntries(types.map((type) => [type, { schema }])),
      };
      hasBody = true;
    } else if (uploads.length > 0) {
      const upload = uploads[uploads.length - 1]!;
      op.requestBody = {
        required: true,
        description: `The file itself as the body, at most ${upload.maxBytes} bytes; its type is checked from its bytes.`,
        content: Object.fromEntries(upload.mediaTypes.map((type) => [type, {}])),
      };
      hasBody = true;
    }

    const problems: ProblemDescription[] = [];
    for (const d of descs) {
      if (d.kind === 'route' || !Array.isArray(d.problems)) continue;
      if (d.kind === 'rate-limit' && !limits.includes(d as RateLimitDescription)) continue;
      if (d.kind === 'json-body' && !hasBody && !BODY_METHODS.has(method)) continue;
      problems.push(...d.problems);
    }
    problems.push(...globalProblems);
    op.responses = this.responses(routes, problems, name);

    const security = this.security(auths, permissions, scopes);
    if (security) op.security = security;
    if (validates.length === 0) op['x-bulwark-unvalidated'] = true;
    const all = [
      ...new Set(permissions.filter((p) => p.mode === 'all').flatMap((p) => p.permissions)),
    ];
    const any = permissions.filter((p) => p.mode === 'any').map((p) => [...p.permissions]);
    if (all.length > 0) op['x-bulwark-permissions'] = all;
    if (any.length > 0) op['x-bulwark-any-permissions'] = any;
    const scope = scopes[scopes.length - 1]?.scope;
    if (scope !== undefined) op['x-bulwark-scope'] = scope;
    if (limits.length > 0) {
      op['x-bulwark-rate-limits'] = limits.map((l) => ({
        policy: l.policy,
        ...(l.limit === null ? {} : { limit: l.limit }),
        windowMs: l.windowMs,
      }));
    }
    return op;
  }

  private parameters(
    found: FoundOperation,
    validates: ValidateDescription[],
    queries: QueryDescription[],
    name: string,
  ): Record<string, unknown>[] {
    const { path } = found;
    const out = new Map<string, Record<string, unknown>>();
    const params = [...validates].reverse().find((v) => v.request.params !== undefined)
      ?.request.params;
    const { properties: paramProps, required: paramRequired } = objectParts(params);
    for (const name of paramRequired) {
      if (!path.params.some((p) => p.name === name)) {
        throw new OpenApiConfigError(
          'ERR_BULWARK_OPENAPI_PATH_PARAMS',
          `openApiDocument: ${found.method.toUpperCase()} ${path.template} runs validate() with a params schema that requires ${describe(name)}, which this path does not have, so every request to it would fail with 422. Name the route parameter :${name}, or fix the params schema.`,
        );
      }
    }
    for (const param of path.params) {
      const given = paramProps[param.name];
      const schema =
        given !== undefined && params !== undefined
          ? this.schemas.placePart(given, params, `${name}Params`)
          : {
              type: 'string',
              ...(param.pattern ? { pattern: `^(?:${param.pattern})$` } : {}),
            };
      out.set(`path:${param.name}`, {
        name: param.name,
        in: 'path',
        required: true,
        ...(param.wildcard ? { description: 'One or more path segments.' } : {}),
        schema,
      });
    }
    for (const location of ['query', 'headers'] as const) {
      const schema = [...validates].reverse().find((v) => v.request[location] !== undefined)
        ?.request[location];
      if (schema === undefined) continue;
      const where = location === 'query' ? 'query' : 'header';
      const parts = objectParts(schema);
      if (parts.composite) {
        // A schema built with allOf/oneOf/$ref: one parameter carrying the whole object.
        out.set(`${where}:*`, {
          name: location,
          in: where,
          ...(location === 'query' ? { style: 'form', explode: true } : {}),
          schema: this.schemas.place(
            schema,
            `${name}${location === 'query' ? 'Query' : 'Headers'}`,
          ),
        });
        continue;
      }
      for (const [key, property] of Object.entries(parts.properties)) {
        if (where === 'header' && IGNORED_HEADERS.has(key.toLowerCase())) continue;
        out.set(`${where}:${key}`, {
          name: key,
          in: where,
          ...(parts.required.includes(key) ? { required: true } : {}),
          schema: this.schemas.placePart(
            property,
            schema,
            `${name}${location === 'query' ? 'Query' : 'Headers'}`,
          ),
        });
      }
    }
    for (const query of queries) {
      for (const [key, { description, schema }] of Object.entries(query.query)) {
        const known = out.get(`query:${key}`);
        if (known) {
          known.description = description;
          const own = known.schema;
          if (isPlainObject(own) && isPlainObject(schema) && schema.default !== undefined) {
            if (own.default === undefined) known.schema = { ...own, default: schema.default };
          }
        } else {
          out.set(`query:${key}`, {
            name: key,
            in: 'query',
            description,
            schema: structuredClone(schema),
          });
        }
      }
    }
    return [...out.values()];
  }

  private responses(
    routes: RouteDescription[],
    problems: ProblemDescription[],
    name: string,
  ): Record<string, unknown> {
    const responses: Record<string, Record<string, unknown>> = {};
    for (const route of routes) {
      for (const [status, response] of Object.entries(route.responses ?? {})) {
        const contentType = response.contentType ?? 'application/json';
        responses[status] = {
          description: response.description,
          ...(response.headers ? { headers: structuredClone(response.headers) } : {}),
          ...(response.schema !== undefined
            ? {
                content: {
                  [contentType]: {
                    schema: this.schemas.place(response.schema, `${name}Response${status}`),
                  },
                },
              }
            : {}),
        };
      }
    }
    if (!Object.keys(responses).some((status) => /^[123]/.test(status))) {
      responses['2XX'] = {
        description: 'Success. The route declares no response: describe it with describeRoute().',
      };
    }
    const byStatus = new Map<string, ProblemEntry>();
    for (const problem of problems) {
      const status = String(problem.status);
      let entry = byStatus.get(status);
      if (!entry) {
        entry = { codes: new Map(), headers: {} };
        byStatus.set(status, entry);
      }
      if (!entry.codes.has(problem.code)) entry.codes.set(problem.code, problem.title);
      Object.assign(entry.headers, structuredClone(problem.headers ?? {}));
    }
    // An error the route declares itself (a 404 of its own) is a problem+json answer too.
    for (const [status, declared] of Object.entries(responses)) {
      if (/^[45]/.test(status) && declared.content === undefined && this.problem) {
        declared.content = { [this.problem.mediaType]: { schema: { $ref: this.problem.ref } } };
      }
    }
    for (const [status, entry] of byStatus) {
      const codes = [...entry.codes.keys()];
      const declared = responses[status];
      if (declared) {
        declared['x-bulwark-codes'] = codes;
        continue;
      }
      const lines = [...entry.codes].map(([code, title]) => `- \`${code}\`: ${title}`);
      responses[status] = {
        description: `${statusText(status)}.\n\n${lines.join('\n')}`,
        ...(Object.keys(entry.headers).length > 0 ? { headers: entry.headers } : {}),
        ...(this.problem
          ? { content: { [this.problem.mediaType]: { schema: { $ref: this.problem.ref } } } }
          : {}),
        'x-bulwark-codes': codes,
      };
    }
    const order = (status: string) =>
      status === 'default' ? 1000 : Number(status.replace(/XX$/, '99'));
    return Object.fromEntries(Object.entries(responses).sort(([a], [b]) => order(a) - order(b)));
  }

  private security(
    auths: AuthenticateDescription[],
    permissions: PermissionDescription[],
    scopes: ScopeDescription[],
  ): Record<string, string[]>[] | undefined {
    if (auths.length === 0) return undefined;
    const names = [...new Set(auths.flatMap((a) => a.schemes.map((s) => this.scheme(s))))];
    const all = [
      ...new Set(permissions.filter((p) => p.mode === 'all').flatMap((p) => p.permissions)),
    ];
    let roleSets: string[][] = [all];
    for (const group of permissions.filter((p) => p.mode === 'any')) {
      roleSets = roleSets.flatMap((roles) =>
        group.permissions.map((p) => [...new Set([...roles, p])]),
      );
    }
    const security = names.flatMap((name) => roleSets.map((roles) => ({ [name]: roles })));
    const guarded = permissions.length > 0 || scopes.length > 0;
    if (!guarded && auths.every((a) => a.optional)) security.push({});
    return security;
  }
}

function objectParts(schema: JsonSchema | undefined): {
  properties: Record<string, JsonSchema>;
  required: string[];
  composite: boolean;
} {
  if (!isPlainObject(schema)) return { properties: {}, required: [], composite: false };
  const composite = ['$ref', 'allOf', 'anyOf', 'oneOf', 'if', 'not'].some((k) => k in schema);
  const properties = isPlainObject(schema.properties)
    ? (schema.properties as Record<string, JsonSchema>)
    : {};
  const required = Array.isArray(schema.required)
    ? schema.required.filter((n): n is string => typeof n === 'string')
    : [];
  return { properties, required, composite };
}

function mergeOperations(operations: FoundOperation[]): FoundOperation[] {
  const merged = new Map<string, FoundOperation>();
  for (const found of operations) {
    const key = `${found.method} ${found.path.template}`;
    const known = merged.get(key);
    if (!known) {
      merged.set(key, { ...found, descriptions: [...found.descriptions] });
      continue;
    }
    // A later route on the same method and path runs when an earlier one calls next().
    for (const d of found.descriptions) {
      if (!known.descriptions.includes(d)) known.descriptions.push(d);
    }
  }
  return [...merged.values()];
}

/**
 * Builds the OpenAPI 3.1 document of an Express 4 or 5 app (or router) from the
 * self-descriptions of the middleware each route runs: parameters and request bodies from
 * `validate()` and `jsonBody()`/`uploadLimits()`, security schemes and requirements from the
 * authenticators and permission guards (with their 401 and 403), 429 and its headers from
 * rate-limit policies, 413/415/422 from the validators, the problem+json schema of
 * `errorHandler()` for every error answer, and summaries and success responses from
 * `describeRoute()`. A route that runs no `validate()` is marked `x-bulwark-unvalidated: true`.
 * Call it after every route is added; it reads the app, and changes nothing.
 *
 * Defaults: no `servers`, no `tags`, nothing excluded.
 * @throws {OpenApiConfigError} `ERR_BULWARK_OPENAPI_INVALID_OPTION` / `..._UNKNOWN_OPTION` for bad
 * options, `..._NOT_AN_APP`, `..._ROUTE_PATH` / `..._MOUNT_PATH` for a path with no OpenAPI
 * template, `..._SUB_APP` for a mounted app, `..._PATH_PARAMS` for a params schema requiring a
 * parameter its path lacks, `..._SCHEMA_CONFLICT`, `..._DUPLICATE_OPERATION_ID`,
 * `..._ROUTER_DESCRIPTION` and `..._DESCRIPTION_VERSION`.
 * @example
 * app.get('/devices/:id', describeRoute({ summary: 'One device', responses: { 200: { description: 'The device', schema: device } } }),
 *   validate({ params }), getDevice);
 * const document = openApiDocument(app, { info: { title: 'Devices API', version: '1.0.0' } });
 * app.get('/openapi.json', (_req, res) => res.json(document));
 */
export function openApiDocument(app: unknown, options: OpenApiDocumentOptions): OpenApiDocument {
  const opts = checkDocumentOptions(options);
  const { syntax } = stackOf(app);
  const exclude: PathVariant[] = (opts.exclude ?? []).flatMap((p) => pathVariants(p, syntax));
  const { operations, errorHandlers } = walk(app, exclude);
  const builder = new Builder(errorHandlers as ErrorHandlerDescription[]);
  const globalProblems = errorHandlers.flatMap((d) => d.problems ?? []);
  const paths: OpenApiDocument['paths'] = {};
  for (const found of mergeOperations(operations)) {
    const item = paths[found.path.template] ?? {};
    paths[found.path.template] = item;
    item[found.method] = builder.operation(found, globalProblems);
  }
  const components: OpenApiDocument['components'] = {};
  if (Object.keys(builder.schemas.components).length > 0) {
    components.schemas = builder.schemas.components;
  }
  if (Object.keys(builder.securitySchemes).length > 0) {
    components.securitySchemes = builder.securitySchemes;
  }
  return {
    openapi: '3.1.0',
    info: structuredClone(opts.info),
    ...(opts.servers ? { servers: structuredClone([...opts.servers]) } : {}),
    ...(opts.tags ? { tags: structuredClone([...opts.tags]) } : {}),
    paths,
    components,
  };
}
