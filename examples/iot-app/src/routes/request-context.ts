// What every customer route reads from its request: the caller's tenant, a 404, and an audit record.
import type { AuditLog } from '@bulwark/rbac';
import type { Request } from 'express';
import createError from 'http-errors';

/** The caller's tenant; `requireCustomer()` has made sure there is one. */
export function tenantOf(req: Request): string {
  return req.auth?.tenantId as string;
}

/** The answer for a row that does not exist in the caller's tenant (another tenant's looks the same). */
export const notFound = (what: string) =>
  createError(404, `${what} was not found.`, { code: 'not_found', expose: true });

/** Records a successful write with the caller, the tenant and the trace id. */
export function auditWrites(log: AuditLog) {
  return (req: Request, action: string, resourceType: string, resourceId: string, details = {}) =>
    log.record({
      action,
      resourceType,
      resourceId,
      actor: req.auth?.subject ?? null,
      tenantId: tenantOf(req),
      status: 'success',
      details,
      traceId: req.id ?? null,
    });
}
