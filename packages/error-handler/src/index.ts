// Public API of @bulwark/error-handler.
export { asyncHandler } from './async-handler.js';
export {
  ErrorHandlerConfigError,
  type ErrorHandlerConfigErrorCode,
  type LoggerLike,
} from './config.js';
export {
  currentTraceId,
  isValidTraceId,
  requestContext,
  runWithTraceId,
  type TraceContext,
  traceIdFromTraceparent,
} from './context.js';
export { errorHandler, notFound } from './error-handler.js';
export { type ErrorEvent, errorChannel } from './events.js';
export { httpLogger } from './http-logger.js';
export {
  HttpProblem,
  type HttpProblemOptions,
  type ProblemFieldError,
} from './http-problem.js';
export { createLogger } from './logger.js';
export {
  defaultCode,
  type ProblemDetails,
  type ProblemKind,
  type ProblemOptions,
  type ProblemResponse,
  problemFromError,
  sendProblem,
  statusTitle,
} from './problem.js';
export { closeLogger, installProcessHandlers } from './process-handlers.js';
export { DEFAULT_REDACT_KEYS, redact } from './redact.js';
export type {
  CloseLoggerOptions,
  CreateLoggerOptions,
  ErrorHandlerOptions,
  HttpLoggerOptions,
  ProcessHandlersOptions,
  RedactOptions,
  RequestContextOptions,
} from './types.js';
