// What errorHandler() hands to httpLogger() about a failed request, so one access line says it all.
import type { Request } from 'express';

// Shared by the ESM and CommonJS builds, which an app may load side by side.
const ACCESS_LOGGED = Symbol.for('@bulwark/error-handler:access-logged');
const REJECTION = Symbol.for('@bulwark/error-handler:rejection');

/** The log fields of a rendered error, and the line errorHandler() writes if no access line will. */
export interface Rejection {
  readonly fields: Readonly<Record<string, unknown>>;
  /** Writes errorHandler()'s own line, for a request httpLogger() skips. */
  readonly writeOwn?: () => void;
}

type Marked = Request & { [ACCESS_LOGGED]?: true; [REJECTION]?: Rejection };

/** Called by httpLogger() on each request it will write an access line for. */
export function markAccessLogged(req: Request): void {
  (req as Marked)[ACCESS_LOGGED] = true;
}

/** True when an httpLogger() will write this request's access line. */
export function isAccessLogged(req: Request): boolean {
  return (req as Marked)[ACCESS_LOGGED] === true;
}

export function setRejection(req: Request, rejection: Rejection): void {
  (req as Marked)[REJECTION] = rejection;
}

export function rejectionOf(req: Request): Rejection | undefined {
  return (req as Marked)[REJECTION];
}
