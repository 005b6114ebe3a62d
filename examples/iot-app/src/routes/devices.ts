// Devices of the caller's tenant: list, register, read, update, delete (the id stays retired) and tag.
import { sql } from '@bulwark/db-safety';
import {
  DEVICE_COLUMNS,
  deleteDevice,
  type NewDevice,
  registerDevice,
} from '../device-registry.js';
import { device, page } from './responses.js';
import { type RouteSpec, valid } from './route-table.js';
import { deviceId, emptyQuery, name, pageQuery, params, tag } from './schemas.js';
import { notFound, type Tenant, tenantOf } from './tenant.js';

const deviceType = { type: 'string', minLength: 1, maxLength: 50 } as const;
const location = { type: 'string', maxLength: 200 } as const;
const tags = { type: 'array', items: tag, maxItems: 20, uniqueItems: true } as const;

export function deviceRoutes(tenant: Tenant): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/devices',
      summary: 'List devices',
      permission: 'devices:read',
      schemas: { query: pageQuery({ tag }) },
      page: { maxLimit: 200 },
      success: { status: 200, description: 'A page of devices', schema: page(device) },
      handler: async (req, res) => {
        const { tag: filter } = valid<{ tag?: string }>(req, 'query');
        const where = filter ? sql`WHERE ${filter} = ANY(tags)` : sql``;
        await tenant.list(
          req,
          res,
          ({ limit, offset }) =>
            sql`SELECT ${DEVICE_COLUMNS} FROM iot.devices ${where} ORDER BY id LIMIT ${limit} OFFSET ${offset}`,
        );
      },
    },
    {
      method: 'post',
      path: '/devices',
      summary: 'Register a device',
      permission: 'devices:write',
      schemas: {
        query: emptyQuery,
        body: {
          type: 'object',
          properties: { id: deviceId, name, type: deviceType, location, tags },
          required: ['id', 'name'],
          additionalProperties: false,
        },
      },
      success: { status: 201, description: 'The device', schema: device },
      errors: [409],
      handler: async (req, res) => {
        const body = valid<NewDevice>(req, 'body');
        const row = await tenant.transaction(req, (tx) => registerDevice(tx, tenantOf(req), body));
        tenant.audit(req, 'CREATE', 'device', body.id);
        res.status(201).json(row);
      },
    },
    {
      method: 'get',
      path: '/devices/:id',
      summary: 'Get a device',
      permission: 'devices:read',
      schemas: { params: params({ id: deviceId }), query: emptyQuery },
      success: { status: 200, description: 'The device', schema: device },
      errors: [404],
      handler: async (req, res) => {
        const { id } = valid<{ id: string }>(req, 'params');
        res.json(
          await tenant.one(
            req,
            sql`SELECT ${DEVICE_COLUMNS} FROM iot.devices WHERE id = ${id}`,
            'The device',
          ),
        );
      },
    },
    {
      method: 'patch',
      path: '/devices/:id',
      summary: 'Update a device',
      permission: 'devices:write',
      schemas: {
        params: params({ id: deviceId }),
        query: emptyQuery,
        body: {
          type: 'object',
          properties: { name, type: deviceType, location },
          minProperties: 1,
          additionalProperties: false,
        },
      },
      success: { status: 200, description: 'The updated device', schema: device },
      errors: [404],
      handler: async (req, res) => {
        const { id } = valid<{ id: string }>(req, 'params');
        const body = valid<{ name?: string; type?: string; location?: string }>(req, 'body');
        const row = await tenant.one(
          req,
          sql`
            UPDATE iot.devices SET
              name = coalesce(${body.name ?? null}, name),
              type = coalesce(${body.type ?? null}, type),
              location = coalesce(${body.location ?? null}, location),
              updated_at = now()
            WHERE id = ${id} RETURNING ${DEVICE_COLUMNS}`,
          'The device',
        );
        tenant.audit(req, 'UPDATE', 'device', id, { fields: Object.keys(body) });
        res.json(row);
      },
    },
    {
      method: 'delete',
      path: '/devices/:id',
      summary: 'Delete a device and its telemetry; its id stays retired in the tenant',
      permission: 'devices:write',
      schemas: { params: params({ id: deviceId }), query: emptyQuery },
      success: { status: 204, description: 'Deleted' },
      errors: [404],
      handler: async (req, res) => {
        const { id } = valid<{ id: string }>(req, 'params');
        const gone = await tenant.transaction(req, (tx) => deleteDevice(tx, tenantOf(req), id));
        if (!gone) throw notFound('The device');
        tenant.audit(req, 'DELETE', 'device', id);
        res.status(204).end();
      },
    },
    {
      method: 'put',
      path: '/devices/:id/tags',
      summary: "Replace a device's tags",
      permission: 'devices:write',
      schemas: {
        params: params({ id: deviceId }),
        query: emptyQuery,
        body: {
          type: 'object',
          properties: { tags },
          required: ['tags'],
          additionalProperties: false,
        },
      },
      success: { status: 200, description: 'The device with its new tags', schema: device },
      errors: [404],
      handler: async (req, res) => {
        const { id } = valid<{ id: string }>(req, 'params');
        const body = valid<{ tags: string[] }>(req, 'body');
        const row = await tenant.one(
          req,
          sql`UPDATE iot.devices SET tags = ${body.tags}, updated_at = now() WHERE id = ${id} RETURNING ${DEVICE_COLUMNS}`,
          'The device',
        );
        tenant.audit(req, 'UPDATE', 'device', id, { fields: ['tags'] });
        res.json(row);
      },
    },
  ];
}
