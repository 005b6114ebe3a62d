// Maintenance windows of the caller's tenant: no alert is raised for a device while one covers it.
import { sql } from '@bulwark/db-safety';
import { maintenanceWindow, page } from './responses.js';
import { type RouteSpec, valid } from './route-table.js';
import { deviceId, emptyQuery, pageQuery, params, timestamp, uuid } from './schemas.js';
import { invalidField, requireDevice, type Tenant, tenantOf } from './tenant.js';

const WINDOW_COLUMNS = sql`id, device_id AS "deviceId", starts_at AS "startsAt", ends_at AS "endsAt", reason`;

export function maintenanceWindowRoutes(tenant: Tenant): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/maintenance-windows',
      summary: 'List maintenance windows',
      permission: 'devices:read',
      schemas: { query: pageQuery() },
      page: { maxLimit: 200 },
      success: { status: 200, description: 'A page of windows', schema: page(maintenanceWindow) },
      handler: async (req, res) => {
        await tenant.list(
          req,
          res,
          ({ limit, offset }) => sql`
            SELECT ${WINDOW_COLUMNS}
            FROM iot.maintenance_windows ORDER BY starts_at DESC LIMIT ${limit} OFFSET ${offset}`,
        );
      },
    },
    {
      method: 'post',
      path: '/maintenance-windows',
      summary: 'Schedule a maintenance window (alerts are not raised during it)',
      permission: 'devices:write',
      schemas: {
        query: emptyQuery,
        body: {
          type: 'object',
          properties: {
            deviceId,
            startsAt: timestamp,
            endsAt: timestamp,
            reason: { type: 'string', maxLength: 200 },
          },
          required: ['startsAt', 'endsAt'],
          additionalProperties: false,
        },
      },
      success: { status: 201, description: 'The window', schema: maintenanceWindow },
      errors: [404],
      handler: async (req, res) => {
        const body = valid<{
          deviceId?: string;
          startsAt: string;
          endsAt: string;
          reason?: string;
        }>(req, 'body');
        if (Date.parse(body.endsAt) <= Date.parse(body.startsAt)) {
          throw invalidField('endsAt must be after startsAt.', '/endsAt', 'must be after startsAt');
        }
        const row = await tenant.transaction(req, async (tx) => {
          if (body.deviceId) await requireDevice(tx, body.deviceId);
          return tx.one<{ id: string }>(sql`
            INSERT INTO iot.maintenance_windows (tenant_id, device_id, starts_at, ends_at, reason)
            VALUES (${tenantOf(req)}, ${body.deviceId ?? null}, ${body.startsAt}, ${body.endsAt}, ${body.reason ?? ''})
            RETURNING ${WINDOW_COLUMNS}`);
        });
        tenant.audit(req, 'CREATE', 'maintenance_window', row.id);
        res.status(201).json(row);
      },
    },
    {
      method: 'delete',
      path: '/maintenance-windows/:windowId',
      summary: 'Delete a maintenance window',
      permission: 'devices:write',
      schemas: { params: params({ windowId: uuid }), query: emptyQuery },
      success: { status: 204, description: 'Deleted' },
      errors: [404],
      handler: async (req, res) => {
        const { windowId } = valid<{ windowId: string }>(req, 'params');
        await tenant.remove(
          req,
          sql`DELETE FROM iot.maintenance_windows WHERE id = ${windowId}`,
          'The maintenance window',
        );
        tenant.audit(req, 'DELETE', 'maintenance_window', windowId);
        res.status(204).end();
      },
    },
  ];
}
