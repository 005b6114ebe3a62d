// The self-description (version 1) a Bulwark middleware carries on its `openapi` property.
//
// Packages never import each other, so this contract is structural: a middleware function has a
// plain, frozen object on `fn.openapi` with `version: 1`, a `kind`, and the fields of that kind.
// `openApiDocument()` reads the properties of every middleware a route runs.

/** A JSON Schema (draft 2020-12): an object, or `true`/`false`. */
export type JsonSchema = Readonly<Record<string, unknown>> | boolean;

/** A response header a middleware sets, as an OpenAPI Header Object. */
export interface HeaderDescription {
  description: string;
  schema: JsonSchema;
}

/** One error answer a middleware may give: a problem+json body with this `code`. */
export interface ProblemDescription {
  status: number;
  /** The stable snake_case `code` of the problem body. */
  code: string;
  /** When it happens, in one sentence. */
  title: string;
  /** Headers the answer carries (`Retry-After`, `WWW-Authenticate`, ...). */
  headers?: Readonly<Record<string, HeaderDescription>>;
}

/** Fields every description has. */
export interface DescriptionBase<K extends string = string> {
  /** The contract version. A reader refuses a version it does not know. */
  version: 1;
  kind: K;
  /** The error answers the middleware may give. */
  problems?: readonly ProblemDescription[];
}

/** `validate()` from `@bulwark/validators`: one schema per request location. */
export interface ValidateDescription extends DescriptionBase<'validate'> {
  request: {
    body?: JsonSchema;
    query?: JsonSchema;
    params?: JsonSchema;
    headers?: JsonSchema;
  };
  /** Schemas with an `$id` that the location schemas may `$ref`. */
  schemas?: readonly JsonSchema[];
}

/** `jsonBody()` or `uploadLimits()` from `@bulwark/validators`: what a body may be. */
export interface BodyDescription extends DescriptionBase<'json-body' | 'upload'> {
  /** Media types accepted, e.g. `application/json`, or the allowed upload types. */
  mediaTypes: readonly string[];
  /** Largest body, in bytes. */
  maxBytes: number;
}

/** A middleware that reads query parameters itself, such as `paginate()`. */
export interface QueryDescription extends DescriptionBase<'paginate'> {
  query: Readonly<Record<string, { description: string; schema: JsonSchema }>>;
}

/** A way to authenticate, as an OpenAPI Security Scheme Object and a suggested name. */
export interface SecuritySchemeDescription {
  /** The key under `components.securitySchemes`, e.g. `bearer` or `apiKey`. */
  name: string;
  scheme: Readonly<Record<string, unknown>>;
}

/** An authenticator from `@bulwark/rbac` (`authenticate()`, `staticApiKeys()`, `basicAuth()`). */
export interface AuthenticateDescription extends DescriptionBase<'authenticate'> {
  /** Any one of these authenticates a request. */
  schemes: readonly SecuritySchemeDescription[];
  /** Requests without credentials pass unauthenticated. */
  optional: boolean;
}

/** `requirePermission()` (`mode: 'all'`) or `requireAnyPermission()` (`mode: 'any'`). */
export interface PermissionDescription extends DescriptionBase<'permission'> {
  permissions: readonly string[];
  mode: 'all' | 'any';
}

/** `requireCustomer()` or `requireOperator()`. */
export interface ScopeDescription extends DescriptionBase<'scope'> {
  scope: 'customer' | 'operator';
}

/** A rate-limit policy from `@bulwark/rate-limit`. */
export interface RateLimitDescription extends DescriptionBase<'rate-limit'> {
  policy: string;
  /** Requests per key per window; `null` when the limit is a function of the request. */
  limit: number | null;
  windowMs: number;
  /** Methods counted; `null` for all. */
  methods: readonly string[] | null;
  /** Whether the policy limits (false when switched off by option or `RATE_LIMIT_ENABLED`). */
  enabled: boolean;
}

/** A response a route declares through `describeRoute()`. */
export interface ResponseDescription {
  description: string;
  /** The body's schema. */
  schema?: JsonSchema;
  /** The body's media type. Default `application/json`. */
  contentType?: string;
  headers?: Readonly<Record<string, HeaderDescription>>;
}

/** `describeRoute()`: what the route's own middlewares cannot say. */
export interface RouteDescription extends DescriptionBase<'route'> {
  summary?: string;
  description?: string;
  tags?: readonly string[];
  operationId?: string;
  deprecated?: boolean;
  /** By status code (`'200'`, `'201'`, `'2XX'`). */
  responses?: Readonly<Record<string, ResponseDescription>>;
}

/** `errorHandler()` from `@bulwark/error-handler`: the body every error answer has. */
export interface ErrorHandlerDescription extends DescriptionBase<'error-handler'> {
  mediaType: string;
  schema: JsonSchema;
}

/** Any version 1 description; kinds this package does not know contribute their `problems`. */
export type MiddlewareDescription =
  | ValidateDescription
  | BodyDescription
  | QueryDescription
  | AuthenticateDescription
  | PermissionDescription
  | ScopeDescription
  | RateLimitDescription
  | RouteDescription
  | ErrorHandlerDescription
  | DescriptionBase;

/** The version of the contract this package reads. */
export const DESCRIPTION_VERSION = 1;
