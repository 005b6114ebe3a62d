// Publishes refusals on the `bulwark:validators:rejected` diagnostics channel.
import { channel } from 'node:diagnostics_channel';

/** What subscribers of `bulwark:validators:rejected` receive. Never the rejected value. */
export interface RejectedEvent {
  /** The middleware that refused the request, e.g. `validate` or `jsonBody`. */
  middleware: 'validate' | 'jsonBody' | 'queryLimits' | 'paginate' | 'uploadLimits';
  status: number;
  code: string;
  method: string;
  /** The Express route pattern when known (e.g. `/devices/:id`), never the raw URL. */
  route?: string;
  /** For validation failures: which part of the request failed, and where. */
  location?: string;
  pointer?: string;
}

const rejected = channel('bulwark:validators:rejected');

/** Publishes a refusal when someone listens; costs nothing otherwise. */
export function publishRejected(event: RejectedEvent): void {
  if (rejected.hasSubscribers) rejected.publish(event);
}

/** The route pattern Express matched, when it is a plain string. */
export function routeOf(req: { route?: { path?: unknown } }): string | undefined {
  const path = req.route?.path;
  return typeof path === 'string' ? path : undefined;
}
