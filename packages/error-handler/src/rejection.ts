// What errorHandler() hands to httpLogger() about a failed request, so one access line says it all.
import type { Response } from 'express';

// Shared by the ESM and CommonJS builds, which an app may load side by side.
const ACCESS_LINE = Symbol.for('@bulwark/error-handler:access-line');
const REJECTION = Symbol.for('@bulwark/error-handler:rejection');

/** The log fields of a rendered error, and the line errorHandler() writes if no access line will. */
export interface Rejection {
  readonly fields: Readonly<Record<string, unknown>>;
  /** Writes errorHandler()'s own line, for a request httpLogger() skips. */
  readonly writeOwn?: () => void;
}

/**
 * The listener httpLogger() puts on a response to write its access line. The mark and the
 * rejection are on the listener, not the request: a property added to Express's request object
 * costs on every request, and only an error needs to know. The mark is true until the line is
 * written (or the request skipped), then false: the listener stays on the response, as taking it
 * off costs more than the call that finds it done.
 */
type AccessListener = (() => void) & { [ACCESS_LINE]?: boolean; [REJECTION]?: Rejection };

/** Marks `listener` as the pending access line of a response. */
export function markAccessListener(listener: () => void): void {
  (listener as AccessListener)[ACCESS_LINE] = true;
}

/** Marks `listener` as done: its line is written, or will not be. */
export function markAccessDone(listener: () => void): void {
  (listener as AccessListener)[ACCESS_LINE] = false;
}

/** True when an httpLogger() will write the access line of the request `res` answers. */
export function isAccessLogged(res: Response): boolean {
  for (const listener of res.listeners('finish')) {
    if ((listener as AccessListener)[ACCESS_LINE] === true) return true;
  }
  return false;
}

/**
 * Hands `rejection` to every httpLogger() that will write the access line of the request `res`
 * answers (one, unless httpLogger() is mounted twice).
 */
export function setRejection(res: Response, rejection: Rejection): void {
  for (const listener of res.listeners('finish')) {
    if ((listener as AccessListener)[ACCESS_LINE] === true)
      (listener as AccessListener)[REJECTION] = rejection;
  }
}

/** What errorHandler() handed to the access-line listener `listener`, if anything. */
export function rejectionOf(listener: () => void): Rejection | undefined {
  return (listener as AccessListener)[REJECTION];
}
