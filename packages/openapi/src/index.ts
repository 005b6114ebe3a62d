// Public API of @bulwark/openapi.
export type {
  AuthenticateDescription,
  BodyDescription,
  DescriptionBase,
  ErrorHandlerDescription,
  HeaderDescription,
  JsonSchema,
  MiddlewareDescription,
  PermissionDescription,
  ProblemDescription,
  QueryDescription,
  RateLimitDescription,
  ResponseDescription,
  RouteDescription,
  ScopeDescription,
  SecuritySchemeDescription,
  ValidateDescription,
} from './contract.js';
export { DESCRIPTION_VERSION } from './contract.js';
export { type DescribeRouteOptions, describeRoute, type RouteResponse } from './describe-route.js';
export {
  type OpenApiDocument,
  type OpenApiDocumentOptions,
  openApiDocument,
} from './document.js';
export { OpenApiConfigError, type OpenApiConfigErrorCode } from './errors.js';
export type { ResponseInvalidEvent } from './events.js';
export type { FormatCheck } from './response-ajv.js';
export { type ValidateResponsesOptions, validateResponses } from './validate-responses.js';
