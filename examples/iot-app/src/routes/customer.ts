// The customer API: one route table per resource, every route scoped to the caller's tenant.
import type { ApiKeys, AuditLog } from '@bulwark/rbac';
import express, { type RequestHandler, type Router } from 'express';
import type { Database } from '../database.js';
import type { FiredAlert } from '../telemetry.js';
import { alertRuleRoutes } from './alert-rules.js';
import { alertRoutes } from './alerts.js';
import { apiKeyRoutes } from './api-keys.js';
import { auditLogRoutes } from './audit-log.js';
import { deviceGroupRoutes } from './device-groups.js';
import { deviceRoutes } from './devices.js';
import { maintenanceWindowRoutes } from './maintenance-windows.js';
import { notificationChannelRoutes } from './notification-channels.js';
import { mountRoutes, type RouteSpec } from './route-table.js';
import { telemetryRoutes } from './telemetry.js';
import { telemetryExportRoutes } from './telemetry-export.js';
import { tenantScope } from './tenant.js';

export interface CustomerContext {
  database: Database;
  apiKeys: ApiKeys;
  audit: AuditLog;
  /** The telemetry export limit (`RATE_LIMIT_EXPORTS` per minute per tenant, default 5). */
  exportLimit: RequestHandler;
  publishAlerts(alerts: FiredAlert[]): Promise<void>;
}

/** The customer routes, as data: mounted by `customerRouter` and described by the OpenAPI document. */
export function customerRoutes(ctx: CustomerContext): RouteSpec[] {
  const tenant = tenantScope(ctx.database, ctx.audit);
  return [
    ...deviceRoutes(tenant),
    ...deviceGroupRoutes(tenant),
    ...maintenanceWindowRoutes(tenant),
    ...alertRoutes(tenant),
    ...alertRuleRoutes(tenant),
    ...notificationChannelRoutes(tenant),
    ...telemetryRoutes(tenant, { publishAlerts: ctx.publishAlerts }),
    ...telemetryExportRoutes(tenant, { exportLimit: ctx.exportLimit }),
    ...apiKeyRoutes(tenant, ctx.apiKeys),
    ...auditLogRoutes(tenant, ctx.audit),
  ];
}

/** The `/customer` router: routes from `customerRoutes`, each behind its guards. */
export function customerRouter(routes: RouteSpec[]): Router {
  const router = express.Router();
  mountRoutes(router, routes);
  return router;
}
