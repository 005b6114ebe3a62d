// What errorHandler() hands to httpLogger() about a failed request, so one access line says it all.
import type { Request, Response } from 'express';

// Shared by the ESM and CommonJS builds, which an app may load side by side.
const ACCESS_LINE = Symbol.for('@bulwark/error-handler:access-line');
const REJECTION = Symbol.for('@bulwark/error-handler:rejection');

/** The log fields of a rendered error, and the line errorHandler() writes if no access line will. */
export interface Rejection {
  readonly fields: Readonly<Record<string, unknown>>;
  /** Writes errorHandler()'s own line, for a request httpLogger() skips. */
  readonly writeOwn?: () => void;
}

type Marked = Request & { [REJECTION]?: Rejection };

/**
 * Marks the listener httpLogger() puts on a response to write its access line. The mark is on
 * the listener, not the request: a property added to Express's request object costs on every
 * request, and only an error needs to know.
 */
export function markAccessListener(listener: () => void): void {
  (listener as { [ACCESS_LINE]?: true })[ACCESS_LINE] = true;
}

/** True when an httpLogger() will write the access line of the request `res` answers. */
export function isAccessLogged(res: Response): boolean {
  for (const listener of res.listeners('finish')) {
    if ((listener as { [ACCESS_LINE]?: true })[ACCESS_LINE] === true) return true;
  }
  return false;
}

export function setRejection(req: Request, rejection: Rejection): void {
  (req as Marked)[REJECTION] = rejection;
}

export function rejectionOf(req: Request): Rejection | undefined {
  return (req as Marked)[REJECTION];
}
