// Declares the properties this package adds to Express's Request.
import type { Page } from './paginate.js';
import type { UploadInfo } from './upload-limits.js';

/** What `req.valid` holds after `validate` (and `uploadLimits`) accepted a request. */
export interface ValidRequestData {
  body?: unknown;
  query?: unknown;
  params?: unknown;
  headers?: unknown;
  /** Set by `uploadLimits`. */
  upload?: UploadInfo;
}

declare global {
  namespace Express {
    interface Request {
      /** Validated copies of the request's parts, set by `validate` and `uploadLimits`. */
      valid?: ValidRequestData;
      /** The capped page, set by `paginate`. */
      page?: Page;
    }
  }
}
