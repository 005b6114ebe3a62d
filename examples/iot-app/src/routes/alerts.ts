// Alerts of the caller's tenant: list newest first, acknowledge an open one, close one.
import { sql } from '@bulwark/db-safety';
import { HttpProblem } from '@bulwark/error-handler';
import { acknowledgedAlert, alert, closedAlert, page } from './responses.js';
import { type RouteSpec, valid } from './route-table.js';
import { deviceId, emptyQuery, pageQuery, params, uuid } from './schemas.js';
import { notFound, type Tenant } from './tenant.js';

/** What each action changes, and the states it may start from. */
const TRANSITIONS = {
  acknowledge: {
    summary: 'Acknowledge an open alert',
    allowed: (status: string) => status === 'open',
    update: (alertId: string, actor: string | null) =>
      sql`UPDATE iot.alerts SET status = 'acknowledged', acknowledged_at = now(), acknowledged_by = ${actor}
        WHERE id = ${alertId} RETURNING id, status, acknowledged_at AS "acknowledgedAt", acknowledged_by AS "acknowledgedBy"`,
  },
  close: {
    summary: 'Close an alert',
    allowed: (status: string) => status !== 'closed',
    update: (alertId: string, actor: string | null) =>
      sql`UPDATE iot.alerts SET status = 'closed', closed_at = now(), closed_by = ${actor}
        WHERE id = ${alertId} RETURNING id, status, closed_at AS "closedAt", closed_by AS "closedBy"`,
  },
} as const;

export function alertRoutes(tenant: Tenant): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/alerts',
      summary: 'List alerts, newest first',
      permission: 'alerts:read',
      schemas: {
        query: pageQuery({
          status: { type: 'string', enum: ['open', 'acknowledged', 'closed'] },
          deviceId,
        }),
      },
      page: { maxLimit: 200 },
      success: { status: 200, description: 'A page of alerts', schema: page(alert) },
      handler: async (req, res) => {
        const q = valid<{ status?: string; deviceId?: string }>(req, 'query');
        const filters = [sql`true`];
        if (q.status) filters.push(sql`status = ${q.status}`);
        if (q.deviceId) filters.push(sql`device_id = ${q.deviceId}`);
        await tenant.list(
          req,
          res,
          ({ limit, offset }) => sql`
            SELECT id, device_id AS "deviceId", rule_id AS "ruleId", severity, metric, value, status,
              created_at AS "createdAt", acknowledged_at AS "acknowledgedAt", acknowledged_by AS "acknowledgedBy",
              closed_at AS "closedAt", closed_by AS "closedBy"
            FROM iot.alerts WHERE ${sql.join(filters, sql` AND `)}
            ORDER BY created_at DESC, id LIMIT ${limit} OFFSET ${offset}`,
        );
      },
    },
    ...(['acknowledge', 'close'] as const).map(
      (action): RouteSpec => ({
        method: 'post',
        path: `/alerts/:alertId/${action}`,
        summary: TRANSITIONS[action].summary,
        permission: 'alerts:write',
        schemas: { params: params({ alertId: uuid }), query: emptyQuery },
        success: {
          status: 200,
          description: 'The alert',
          schema: action === 'acknowledge' ? acknowledgedAlert : closedAlert,
        },
        errors: [404, 409],
        handler: async (req, res) => {
          const { alertId } = valid<{ alertId: string }>(req, 'params');
          const transition = TRANSITIONS[action];
          const row = await tenant.transaction(req, async (tx) => {
            const current = await tx.maybeOne<{ status: string }>(
              sql`SELECT status FROM iot.alerts WHERE id = ${alertId} FOR UPDATE`,
            );
            if (!current) throw notFound('The alert');
            if (!transition.allowed(current.status)) {
              throw HttpProblem.conflict(`The alert is ${current.status}.`, {
                code: 'alert_state_conflict',
              });
            }
            return tx.one(transition.update(alertId, req.auth?.subject ?? null));
          });
          tenant.audit(req, action.toUpperCase(), 'alert', alertId);
          res.json(row);
        },
      }),
    ),
  ];
}
