// Device groups of the caller's tenant: list with members, create, delete, add and remove a device.
import { sql } from '@bulwark/db-safety';
import { deviceGroup, page } from './responses.js';
import { type RouteSpec, valid } from './route-table.js';
import { deviceId, emptyQuery, name, pageQuery, params, uuid } from './schemas.js';
import { notFound, requireDevice, type Tenant, tenantOf } from './tenant.js';

export function deviceGroupRoutes(tenant: Tenant): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/device-groups',
      summary: 'List device groups with their members',
      permission: 'devices:read',
      schemas: { query: pageQuery() },
      page: { maxLimit: 200 },
      success: { status: 200, description: 'A page of groups', schema: page(deviceGroup) },
      handler: async (req, res) => {
        await tenant.list(
          req,
          res,
          ({ limit, offset }) => sql`
            SELECT g.id, g.name, g.created_at AS "createdAt",
              coalesce(array_agg(m.device_id ORDER BY m.device_id) FILTER (WHERE m.device_id IS NOT NULL), '{}') AS devices
            FROM iot.device_groups g LEFT JOIN iot.device_group_members m ON m.group_id = g.id
            GROUP BY g.id ORDER BY g.name LIMIT ${limit} OFFSET ${offset}`,
        );
      },
    },
    {
      method: 'post',
      path: '/device-groups',
      summary: 'Create a device group',
      permission: 'devices:write',
      schemas: {
        query: emptyQuery,
        body: {
          type: 'object',
          properties: { name },
          required: ['name'],
          additionalProperties: false,
        },
      },
      success: { status: 201, description: 'The group', schema: deviceGroup },
      errors: [409],
      handler: async (req, res) => {
        const body = valid<{ name: string }>(req, 'body');
        const row = await tenant.transaction(req, (tx) =>
          tx.one<{ id: string }>(sql`
            INSERT INTO iot.device_groups (tenant_id, name) VALUES (${tenantOf(req)}, ${body.name})
            RETURNING id, name, created_at AS "createdAt"`),
        );
        tenant.audit(req, 'CREATE', 'device_group', row.id);
        res.status(201).json({ ...row, devices: [] });
      },
    },
    {
      method: 'delete',
      path: '/device-groups/:groupId',
      summary: 'Delete a device group',
      permission: 'devices:write',
      schemas: { params: params({ groupId: uuid }), query: emptyQuery },
      success: { status: 204, description: 'Deleted' },
      errors: [404],
      handler: async (req, res) => {
        const { groupId } = valid<{ groupId: string }>(req, 'params');
        await tenant.remove(
          req,
          sql`DELETE FROM iot.device_groups WHERE id = ${groupId}`,
          'The group',
        );
        tenant.audit(req, 'DELETE', 'device_group', groupId);
        res.status(204).end();
      },
    },
    {
      method: 'put',
      path: '/device-groups/:groupId/devices/:id',
      summary: 'Add a device to a group',
      permission: 'devices:write',
      schemas: { params: params({ groupId: uuid, id: deviceId }), query: emptyQuery },
      success: { status: 204, description: 'The device is in the group' },
      errors: [404],
      handler: async (req, res) => {
        const { groupId, id } = valid<{ groupId: string; id: string }>(req, 'params');
        await tenant.transaction(req, async (tx) => {
          // Foreign keys are checked without row-level security, so both rows are looked up first.
          const group = await tx.maybeOne(
            sql`SELECT 1 AS found FROM iot.device_groups WHERE id = ${groupId}`,
          );
          if (!group) throw notFound('The group');
          await requireDevice(tx, id);
          await tx.query(sql`
            INSERT INTO iot.device_group_members (tenant_id, group_id, device_id)
            VALUES (${tenantOf(req)}, ${groupId}, ${id}) ON CONFLICT DO NOTHING`);
        });
        tenant.audit(req, 'UPDATE', 'device_group', groupId, { added: id });
        res.status(204).end();
      },
    },
    {
      method: 'delete',
      path: '/device-groups/:groupId/devices/:id',
      summary: 'Remove a device from a group',
      permission: 'devices:write',
      schemas: { params: params({ groupId: uuid, id: deviceId }), query: emptyQuery },
      success: { status: 204, description: 'Removed' },
      errors: [404],
      handler: async (req, res) => {
        const { groupId, id } = valid<{ groupId: string; id: string }>(req, 'params');
        await tenant.remove(
          req,
          sql`DELETE FROM iot.device_group_members WHERE group_id = ${groupId} AND device_id = ${id}`,
          'The membership',
        );
        tenant.audit(req, 'UPDATE', 'device_group', groupId, { removed: id });
        res.status(204).end();
      },
    },
  ];
}
