// Public API of @bulwark/validators.

export { FORMAT_NAMES } from './ajv.js';
export {
  type RequestErrorProps,
  type ValidationIssue,
  ValidatorsConfigError,
  type ValidatorsConfigErrorCode,
} from './errors.js';
export type { RejectedEvent } from './events.js';
export {
  type DetectedFileType,
  detectFileType,
  findMarkup,
  MARKUP_SCAN_BYTES,
  SUPPORTED_FILE_TYPES,
  type SupportedFileType,
} from './file-type.js';
export {
  type Allowlist,
  type DateOptions,
  isApiKey,
  isDate,
  isDeviceId,
  isEmail,
  isMacAddress,
  isMetricKey,
  isSafePathSegment,
  isSlug,
  isUuid,
  normalizeEmail,
  normalizeMac,
  type OneOfOptions,
  oneOf,
  parseDate,
  type SlugOptions,
  safePathSegment,
} from './formats.js';
export { type JsonBodyOptions, jsonBody } from './json-body.js';
export { type Page, type PaginateOptions, paginate } from './paginate.js';
export { type QueryLimitsOptions, queryLimits } from './query-limits.js';
export type { ValidRequestData } from './request.js';
export { formats } from './schemas.js';
export { type ServeUploadOptions, serveUpload } from './serve-upload.js';
export { type UploadInfo, type UploadLimitsOptions, uploadLimits } from './upload-limits.js';
export {
  type RequestLocation,
  type RequestSchemas,
  type Validated,
  type ValidateHandler,
  type ValidateOptions,
  validate,
} from './validate.js';
