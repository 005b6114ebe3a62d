// The diagnostics channel this package publishes on.
import { channel } from 'node:diagnostics_channel';

/**
 * Message published on `bulwark:error-handler:error` each time a 5xx is rendered. Every field is
 * bounded (at most 128 characters) and comes from code, never from the request, so each one is
 * safe to use as a metric label.
 */
export interface ErrorEvent {
  status: number;
  code: string;
  traceId: string;
  /** The error's class name, e.g. `'DatabaseError'`; never its message. */
  errorName: string;
  method: string;
  /** The matched route pattern, e.g. `'/devices/:id'`, when a route matched; never the raw path. */
  route?: string;
}

/** `bulwark:error-handler:error`: a 5xx was rendered. */
export const errorChannel = channel('bulwark:error-handler:error');
