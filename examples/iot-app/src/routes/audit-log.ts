// The caller's tenant's audit log, newest first: who wrote what, when, with which trace id.
import { sql } from '@bulwark/db-safety';
import type { AuditLog } from '@bulwark/rbac';
import { auditEntry, page } from './responses.js';
import { type RouteSpec, valid } from './route-table.js';
import { pageQuery } from './schemas.js';
import type { Tenant } from './tenant.js';

export function auditLogRoutes(tenant: Tenant, log: AuditLog): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/audit-log',
      summary: "Query the tenant's audit log, newest first",
      permission: 'audit:read',
      schemas: {
        query: pageQuery({
          action: { type: 'string', pattern: '^[A-Z_]{1,32}$', maxLength: 32 },
          resourceType: { type: 'string', pattern: '^[a-z_]{1,32}$', maxLength: 32 },
        }),
      },
      page: { maxLimit: 200 },
      success: { status: 200, description: 'A page of audit entries', schema: page(auditEntry) },
      handler: async (req, res) => {
        const q = valid<{ action?: string; resourceType?: string }>(req, 'query');
        // Records are written in batches: the ones this tenant just made are listed too.
        await log.flush();
        const filters = [sql`tenant_id = current_setting('app.tenant_id', true)`];
        if (q.action) filters.push(sql`action = ${q.action}`);
        if (q.resourceType) filters.push(sql`resource_type = ${q.resourceType}`);
        await tenant.list(
          req,
          res,
          ({ limit, offset }) => sql`
            SELECT id::text, occurred_at AS "occurredAt", action, resource_type AS "resourceType",
              resource_id AS "resourceId", actor, status, details, trace_id AS "traceId"
            FROM bulwark_rbac.audit_log WHERE ${sql.join(filters, sql` AND `)}
            ORDER BY occurred_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}`,
        );
      },
    },
  ];
}
