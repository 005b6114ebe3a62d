// Diagnostics channels, logging and the per-request state shared by authenticators and guards.
import { channel } from 'node:diagnostics_channel';
import type { Request } from 'express';
import type { HttpError } from 'http-errors';
import { requestSlot } from '../../../internal/request-slot.js';
import { warn } from '../../../internal/warn.js';
import type { AuditEntry } from './audit-log.js';
import { unauthorized } from './errors.js';
import type { AuthContext, Logger } from './types.js';

export const channels = {
  authenticated: channel('bulwark:rbac:authenticated'),
  authFailed: channel('bulwark:rbac:auth-failed'),
  denied: channel('bulwark:rbac:denied'),
  /** The permission store's LISTEN connection was found dead: `{ reason, error }`. */
  listenerLost: channel('bulwark:rbac:listener-lost'),
  /** Caching resumed on a new LISTEN connection after a loss: `{ downMs }`. */
  listenerRestored: channel('bulwark:rbac:listener-restored'),
};

/** Why authentication failed; appears in events, logs and audit rows, never in a response. */
export type AuthFailureReason =
  | 'missing'
  | 'ambiguous'
  | 'malformed'
  | 'algorithm'
  | 'header'
  | 'unknown_key'
  | 'key_unavailable'
  | 'signature'
  | 'expired'
  | 'not_yet_valid'
  | 'issuer'
  | 'audience'
  | 'type'
  | 'claims'
  | 'invalid'
  | 'revoked'
  | 'unavailable';

/** The slice of an audit log the authenticators and guards write to. */
export interface AuditSink {
  record(entry: AuditEntry): void;
}

/** What an authenticator leaves on the request for the guards that follow it. */
export interface RequestState {
  logger?: Logger | undefined;
  audit?: AuditSink | undefined;
  exposeMissing: boolean;
  loadPermissions?: ((auth: AuthContext) => Promise<readonly string[]>) | undefined;
  /** The grants `loadPermissions` would resolve, when the source has them cached; else `undefined`. */
  cachedPermissions?: ((auth: AuthContext) => readonly string[] | undefined) | undefined;
}

// A symbol-keyed property (no name to clash with, left out by Object.keys, for...in and JSON),
// or a WeakMap entry where adding a property to a request is slow (see requestSlot).
const stateSlot = requestSlot<RequestState>(Symbol('bulwark.rbac.state'));

export function setState(req: Request, value: RequestState): void {
  stateSlot.set(req, value);
}

export function getState(req: Request): RequestState | undefined {
  return stateSlot.get(req);
}

/** Sends a warning to the logger, or to `process.emitWarning` with its code when there is none. */
export { warn };

const lastWarned = new Map<string, number>();

/**
 * Like `warn`, at most once per `intervalMs` for a code: an outage or a misconfiguration hit on
 * every request should not flood the log.
 */
export function warnThrottled(
  logger: Logger | undefined,
  code: string,
  message: string,
  meta: Record<string, unknown>,
  intervalMs = 10_000,
): void {
  const now = Date.now();
  if (now - (lastWarned.get(code) ?? Number.NEGATIVE_INFINITY) < intervalMs) return;
  lastWarned.set(code, now);
  warn(logger, code, message, meta);
}

/** The trace id a request carries: `req.id` from a request-context middleware, read structurally. */
export function traceIdOf(req: Request): string | null {
  const id = (req as { id?: unknown }).id;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : null;
}

/** The request path without its query string, which may carry secrets. */
export function pathOf(req: Request): string {
  const url = req.originalUrl || req.url || '/';
  const q = url.indexOf('?');
  return (q === -1 ? url : url.slice(0, q)).slice(0, 512);
}

/** Publishes, logs and audits a failed authentication, and returns the 401 to pass to `next`. */
export function authFailure(
  req: Request,
  state: RequestState,
  via: AuthContext['via'] | 'none',
  reason: AuthFailureReason,
  challenge: string,
  extra: Record<string, unknown> = {},
): HttpError {
  const path = pathOf(req);
  const event = { via, reason, method: req.method, path, traceId: traceIdOf(req), ...extra };
  if (channels.authFailed.hasSubscribers) channels.authFailed.publish(event);
  state.logger?.info('authentication failed', { code: 'unauthorized', ...event });
  state.audit?.record({
    action: 'AUTHENTICATE',
    resourceType: 'request',
    resourceId: `${req.method} ${path}`,
    actor: null,
    tenantId: null,
    status: 'failure',
    details: { via, reason, ip: req.ip ?? null, ...extra },
    traceId: traceIdOf(req),
  });
  return unauthorized(challenge);
}

/** Sets `req.auth` and publishes the success. */
export function authSuccess(req: Request, state: RequestState, auth: AuthContext): void {
  req.auth = auth;
  setState(req, state);
  if (channels.authenticated.hasSubscribers) {
    channels.authenticated.publish({
      via: auth.via,
      subject: auth.subject,
      tenantId: auth.tenantId,
      scope: auth.scope,
      apiKeyId: auth.apiKeyId ?? null,
      traceId: traceIdOf(req),
    });
  }
}
