// Publishes response-validation failures on the `bulwark:openapi:response-invalid` channel.
import { channel } from 'node:diagnostics_channel';

/** What subscribers of `bulwark:openapi:response-invalid` receive. Never the response body. */
export interface ResponseInvalidEvent {
  method: string;
  /** The Express route pattern, e.g. `/devices/:id`; never the raw URL. */
  route: string;
  status: number;
  /** JSON Pointer into the body where the first mismatch is; `''` for the whole. */
  pointer: string;
  /** ajv's message, such as `must be string`, or why the status is not declared. */
  message: string;
}

const invalid = channel('bulwark:openapi:response-invalid');

/** Publishes a failure when someone listens; costs nothing otherwise. */
export function publishInvalid(event: ResponseInvalidEvent): void {
  if (invalid.hasSubscribers) invalid.publish(event);
}
