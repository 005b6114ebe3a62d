// The operator API: platform staff only (scope operator), system health with pool and broker status.
import { checkHealth } from '@bulwark/db-safety';
import type { AuditLog } from '@bulwark/rbac';
import type { Database } from '../database.js';
import type { Messaging } from '../messaging.js';
import { systemHealth } from './responses.js';
import type { RouteSpec } from './route-table.js';
import { emptyQuery } from './schemas.js';

export interface OperatorContext {
  database: Database;
  messaging: Messaging;
  audit: AuditLog;
  rateLimitState(): string;
}

export function operatorRoutes(ctx: OperatorContext): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/health',
      summary: 'System health: database pool, broker connection, rate-limit store, audit queue',
      permission: 'system:read',
      schemas: { query: emptyQuery },
      success: { status: 200, description: 'Health of each part', schema: systemHealth },
      handler: async (_req, res) => {
        const db = await checkHealth(ctx.database.pool, { timeoutMs: 1000 });
        res.json({
          status: db.status === 'down' || !ctx.messaging.status().connected ? 'degraded' : 'ok',
          database: {
            status: db.status,
            latencyMs: db.latencyMs,
            pool: db.pool,
            embedded: ctx.database.embedded,
          },
          broker: { ...ctx.messaging.status(), embedded: ctx.messaging.embedded },
          rateLimitStore: ctx.rateLimitState(),
          audit: ctx.audit.stats(),
          uptimeSec: Math.round(process.uptime()),
        });
      },
    },
  ];
}
