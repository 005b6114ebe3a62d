// The customer API: every route scoped to the caller's tenant, guarded by a permission and validated.
import { type Db, sql } from '@bulwark/db-safety';
import type { ApiKeys, AuditLog } from '@bulwark/rbac';
import express, { type Request, type RequestHandler, type Router } from 'express';
import createError from 'http-errors';
import type { Database } from '../database.js';
import {
  DEVICE_COLUMNS,
  deleteDevice,
  type NewDevice,
  registerDevice,
} from '../device-registry.js';
import { type FiredAlert, recordedTime, storeReadings } from '../telemetry.js';
import { apiKeyRoutes } from './api-keys.js';
import { auditWrites, notFound, tenantOf } from './request-context.js';
import { mountRoutes, type RouteSpec, valid } from './route-table.js';
import {
  deviceId,
  emptyQuery,
  name,
  pageQuery,
  params,
  tag,
  telemetryBody,
  timestamp,
  uuid,
} from './schemas.js';

export interface CustomerContext {
  database: Database;
  apiKeys: ApiKeys;
  audit: AuditLog;
  /** The telemetry export limit (`RATE_LIMIT_EXPORTS` per minute per tenant, default 5). */
  exportLimit: RequestHandler;
  publishAlerts(alerts: FiredAlert[]): Promise<void>;
}

/** Most rows one export streams. */
const EXPORT_MAX_ROWS = 100_000;
const EXPORT_BATCH = 1000;

/** The customer routes, as data: mounted by `customerRouter` and described by the OpenAPI document. */
export function customerRoutes(ctx: CustomerContext): RouteSpec[] {
  const { database } = ctx;
  const inTenant = <T>(req: Request, fn: (tx: Db) => Promise<T>) =>
    database.tenant(tenantOf(req), fn, req.signal);
  const audit = auditWrites(ctx.audit);
  const deviceExists = async (tx: Db, id: string) =>
    (await tx.maybeOne(sql`SELECT 1 AS found FROM iot.devices WHERE id = ${id}`)) !== null;

  return [
    // Devices
    {
      method: 'get',
      path: '/devices',
      summary: 'List devices',
      permission: 'devices:read',
      schemas: { query: pageQuery({ tag }) },
      page: { maxLimit: 200 },
      success: { status: 200, description: 'A page of devices' },
      handler: async (req, res) => {
        const { limit, offset } = req.page!;
        const { tag: filter } = valid<{ tag?: string }>(req, 'query');
        const where = filter ? sql`WHERE ${filter} = ANY(tags)` : sql``;
        const rows = await inTenant(req, (tx) =>
          tx.many(
            sql`SELECT ${DEVICE_COLUMNS} FROM iot.devices ${where} ORDER BY id LIMIT ${limit} OFFSET ${offset}`,
          ),
        );
        res.json({ items: rows, limit, offset, capped: req.page!.capped });
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
          properties: {
            id: deviceId,
            name,
            type: { type: 'string', minLength: 1, maxLength: 50 },
            location: { type: 'string', maxLength: 200 },
            tags: { type: 'array', items: tag, maxItems: 20, uniqueItems: true },
          },
          required: ['id', 'name'],
          additionalProperties: false,
        },
      },
      success: { status: 201, description: 'The device' },
      errors: [409],
      handler: async (req, res) => {
        const body = valid<NewDevice>(req, 'body');
        const row = await inTenant(req, (tx) => registerDevice(tx, tenantOf(req), body));
        audit(req, 'CREATE', 'device', body.id);
        res.status(201).json(row);
      },
    },
    {
      method: 'get',
      path: '/devices/:id',
      summary: 'Get a device',
      permission: 'devices:read',
      schemas: { params: params({ id: deviceId }), query: emptyQuery },
      success: { status: 200, description: 'The device' },
      errors: [404],
      handler: async (req, res) => {
        const { id } = valid<{ id: string }>(req, 'params');
        const row = await inTenant(req, (tx) =>
          tx.maybeOne(sql`SELECT ${DEVICE_COLUMNS} FROM iot.devices WHERE id = ${id}`),
        );
        if (!row) throw notFound('The device');
        res.json(row);
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
          properties: {
            name,
            type: { type: 'string', minLength: 1, maxLength: 50 },
            location: { type: 'string', maxLength: 200 },
          },
          minProperties: 1,
          additionalProperties: false,
        },
      },
      success: { status: 200, description: 'The updated device' },
      errors: [404],
      handler: async (req, res) => {
        const { id } = valid<{ id: string }>(req, 'params');
        const body = valid<{ name?: string; type?: string; location?: string }>(req, 'body');
        const row = await inTenant(req, (tx) =>
          tx.maybeOne(sql`
            UPDATE iot.devices SET
              name = coalesce(${body.name ?? null}, name),
              type = coalesce(${body.type ?? null}, type),
              location = coalesce(${body.location ?? null}, location),
              updated_at = now()
            WHERE id = ${id} RETURNING ${DEVICE_COLUMNS}`),
        );
        if (!row) throw notFound('The device');
        audit(req, 'UPDATE', 'device', id, { fields: Object.keys(body) });
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
        const gone = await inTenant(req, (tx) => deleteDevice(tx, tenantOf(req), id));
        if (!gone) throw notFound('The device');
        audit(req, 'DELETE', 'device', id);
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
          properties: { tags: { type: 'array', items: tag, maxItems: 20, uniqueItems: true } },
          required: ['tags'],
          additionalProperties: false,
        },
      },
      success: { status: 200, description: 'The device with its new tags' },
      errors: [404],
      handler: async (req, res) => {
        const { id } = valid<{ id: string }>(req, 'params');
        const { tags } = valid<{ tags: string[] }>(req, 'body');
        const row = await inTenant(req, (tx) =>
          tx.maybeOne(
            sql`UPDATE iot.devices SET tags = ${tags}, updated_at = now() WHERE id = ${id} RETURNING ${DEVICE_COLUMNS}`,
          ),
        );
        if (!row) throw notFound('The device');
        audit(req, 'UPDATE', 'device', id, { fields: ['tags'] });
        res.json(row);
      },
    },

    // Device groups
    {
      method: 'get',
      path: '/device-groups',
      summary: 'List device groups with their members',
      permission: 'devices:read',
      schemas: { query: pageQuery() },
      page: { maxLimit: 200 },
      success: { status: 200, description: 'A page of groups' },
      handler: async (req, res) => {
        const { limit, offset } = req.page!;
        const rows = await inTenant(req, (tx) =>
          tx.many(sql`
            SELECT g.id, g.name, g.created_at AS "createdAt",
              coalesce(array_agg(m.device_id ORDER BY m.device_id) FILTER (WHERE m.device_id IS NOT NULL), '{}') AS devices
            FROM iot.device_groups g LEFT JOIN iot.device_group_members m ON m.group_id = g.id
            GROUP BY g.id ORDER BY g.name LIMIT ${limit} OFFSET ${offset}`),
        );
        res.json({ items: rows, limit, offset, capped: req.page!.capped });
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
      success: { status: 201, description: 'The group' },
      errors: [409],
      handler: async (req, res) => {
        const body = valid<{ name: string }>(req, 'body');
        const row = await inTenant(req, (tx) =>
          tx.one<{ id: string }>(sql`
            INSERT INTO iot.device_groups (tenant_id, name) VALUES (${tenantOf(req)}, ${body.name})
            RETURNING id, name, created_at AS "createdAt"`),
        );
        audit(req, 'CREATE', 'device_group', row.id);
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
        const gone = await inTenant(req, (tx) =>
          tx.query(sql`DELETE FROM iot.device_groups WHERE id = ${groupId}`),
        );
        if (!gone.rowCount) throw notFound('The group');
        audit(req, 'DELETE', 'device_group', groupId);
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
        await inTenant(req, async (tx) => {
          // Foreign keys are checked without row-level security, so both rows are looked up first.
          const group = await tx.maybeOne(
            sql`SELECT 1 AS found FROM iot.device_groups WHERE id = ${groupId}`,
          );
          if (!group) throw notFound('The group');
          if (!(await deviceExists(tx, id))) throw notFound('The device');
          await tx.query(sql`
            INSERT INTO iot.device_group_members (tenant_id, group_id, device_id)
            VALUES (${tenantOf(req)}, ${groupId}, ${id}) ON CONFLICT DO NOTHING`);
        });
        audit(req, 'UPDATE', 'device_group', groupId, { added: id });
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
        const gone = await inTenant(req, (tx) =>
          tx.query(
            sql`DELETE FROM iot.device_group_members WHERE group_id = ${groupId} AND device_id = ${id}`,
          ),
        );
        if (!gone.rowCount) throw notFound('The membership');
        audit(req, 'UPDATE', 'device_group', groupId, { removed: id });
        res.status(204).end();
      },
    },

    // Maintenance windows
    {
      method: 'get',
      path: '/maintenance-windows',
      summary: 'List maintenance windows',
      permission: 'devices:read',
      schemas: { query: pageQuery() },
      page: { maxLimit: 200 },
      success: { status: 200, description: 'A page of windows' },
      handler: async (req, res) => {
        const { limit, offset } = req.page!;
        const rows = await inTenant(req, (tx) =>
          tx.many(sql`
            SELECT id, device_id AS "deviceId", starts_at AS "startsAt", ends_at AS "endsAt", reason
            FROM iot.maintenance_windows ORDER BY starts_at DESC LIMIT ${limit} OFFSET ${offset}`),
        );
        res.json({ items: rows, limit, offset, capped: req.page!.capped });
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
      success: { status: 201, description: 'The window' },
      errors: [404],
      handler: async (req, res) => {
        const body = valid<{
          deviceId?: string;
          startsAt: string;
          endsAt: string;
          reason?: string;
        }>(req, 'body');
        if (Date.parse(body.endsAt) <= Date.parse(body.startsAt)) {
          throw createError(422, 'endsAt must be after startsAt.', {
            code: 'validation_failed',
            expose: true,
            errors: [{ location: 'body', pointer: '/endsAt', message: 'must be after startsAt' }],
          });
        }
        const row = await inTenant(req, async (tx) => {
          if (body.deviceId && !(await deviceExists(tx, body.deviceId)))
            throw notFound('The device');
          return tx.one<{ id: string }>(sql`
            INSERT INTO iot.maintenance_windows (tenant_id, device_id, starts_at, ends_at, reason)
            VALUES (${tenantOf(req)}, ${body.deviceId ?? null}, ${body.startsAt}, ${body.endsAt}, ${body.reason ?? ''})
            RETURNING id, device_id AS "deviceId", starts_at AS "startsAt", ends_at AS "endsAt", reason`);
        });
        audit(req, 'CREATE', 'maintenance_window', row.id);
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
        const gone = await inTenant(req, (tx) =>
          tx.query(sql`DELETE FROM iot.maintenance_windows WHERE id = ${windowId}`),
        );
        if (!gone.rowCount) throw notFound('The maintenance window');
        audit(req, 'DELETE', 'maintenance_window', windowId);
        res.status(204).end();
      },
    },

    // Alerts
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
      success: { status: 200, description: 'A page of alerts' },
      handler: async (req, res) => {
        const { limit, offset } = req.page!;
        const q = valid<{ status?: string; deviceId?: string }>(req, 'query');
        const filters = [sql`true`];
        if (q.status) filters.push(sql`status = ${q.status}`);
        if (q.deviceId) filters.push(sql`device_id = ${q.deviceId}`);
        const rows = await inTenant(req, (tx) =>
          tx.many(sql`
            SELECT id, device_id AS "deviceId", rule_id AS "ruleId", severity, metric, value, status,
              created_at AS "createdAt", acknowledged_at AS "acknowledgedAt", acknowledged_by AS "acknowledgedBy",
              closed_at AS "closedAt", closed_by AS "closedBy"
            FROM iot.alerts WHERE ${sql.join(filters, sql` AND `)}
            ORDER BY created_at DESC, id LIMIT ${limit} OFFSET ${offset}`),
        );
        res.json({ items: rows, limit, offset, capped: req.page!.capped });
      },
    },
    ...(['acknowledge', 'close'] as const).map(
      (action): RouteSpec => ({
        method: 'post',
        path: `/alerts/:alertId/${action}`,
        summary: action === 'acknowledge' ? 'Acknowledge an open alert' : 'Close an alert',
        permission: 'alerts:write',
        schemas: { params: params({ alertId: uuid }), query: emptyQuery },
        success: { status: 200, description: 'The alert' },
        errors: [404, 409],
        handler: async (req, res) => {
          const { alertId } = valid<{ alertId: string }>(req, 'params');
          const actor = req.auth?.subject ?? null;
          const row = await inTenant(req, async (tx) => {
            const current = await tx.maybeOne<{ status: string }>(
              sql`SELECT status FROM iot.alerts WHERE id = ${alertId} FOR UPDATE`,
            );
            if (!current) throw notFound('The alert');
            const allowed =
              action === 'acknowledge' ? current.status === 'open' : current.status !== 'closed';
            if (!allowed) {
              throw createError(409, `The alert is ${current.status}.`, {
                code: 'alert_state_conflict',
                expose: true,
              });
            }
            return action === 'acknowledge'
              ? tx.one(sql`UPDATE iot.alerts SET status = 'acknowledged', acknowledged_at = now(), acknowledged_by = ${actor}
                  WHERE id = ${alertId} RETURNING id, status, acknowledged_at AS "acknowledgedAt", acknowledged_by AS "acknowledgedBy"`)
              : tx.one(sql`UPDATE iot.alerts SET status = 'closed', closed_at = now(), closed_by = ${actor}
                  WHERE id = ${alertId} RETURNING id, status, closed_at AS "closedAt", closed_by AS "closedBy"`);
          });
          audit(req, action.toUpperCase(), 'alert', alertId);
          res.json(row);
        },
      }),
    ),

    // Alert rules
    {
      method: 'get',
      path: '/alert-rules',
      summary: 'List alert rules',
      permission: 'rules:read',
      schemas: { query: pageQuery() },
      page: { maxLimit: 200 },
      success: { status: 200, description: 'A page of rules' },
      handler: async (req, res) => {
        const { limit, offset } = req.page!;
        const rows = await inTenant(req, (tx) =>
          tx.many(sql`
            SELECT id, name, device_id AS "deviceId", metric, operator, threshold, severity, enabled
            FROM iot.alert_rules ORDER BY name LIMIT ${limit} OFFSET ${offset}`),
        );
        res.json({ items: rows, limit, offset, capped: req.page!.capped });
      },
    },
    {
      method: 'post',
      path: '/alert-rules',
      summary: 'Create an alert rule',
      permission: 'rules:write',
      schemas: { query: emptyQuery, body: ruleBody(true) },
      success: { status: 201, description: 'The rule' },
      errors: [404, 409],
      handler: async (req, res) => {
        const b = valid<RuleBody>(req, 'body');
        const row = await inTenant(req, async (tx) => {
          if (b.deviceId && !(await deviceExists(tx, b.deviceId))) throw notFound('The device');
          return tx.one<{ id: string }>(sql`
            INSERT INTO iot.alert_rules (tenant_id, name, device_id, metric, operator, threshold, severity, enabled)
            VALUES (${tenantOf(req)}, ${b.name}, ${b.deviceId ?? null}, ${b.metric}, ${b.operator}, ${b.threshold}, ${b.severity}, ${b.enabled ?? true})
            RETURNING id, name, device_id AS "deviceId", metric, operator, threshold, severity, enabled`);
        });
        audit(req, 'CREATE', 'alert_rule', row.id);
        res.status(201).json(row);
      },
    },
    {
      method: 'patch',
      path: '/alert-rules/:ruleId',
      summary: 'Update an alert rule',
      permission: 'rules:write',
      schemas: { params: params({ ruleId: uuid }), query: emptyQuery, body: ruleBody(false) },
      success: { status: 200, description: 'The rule' },
      errors: [404, 409],
      handler: async (req, res) => {
        const { ruleId } = valid<{ ruleId: string }>(req, 'params');
        const b = valid<Partial<RuleBody>>(req, 'body');
        const row = await inTenant(req, async (tx) => {
          if (b.deviceId && !(await deviceExists(tx, b.deviceId))) throw notFound('The device');
          return tx.maybeOne(sql`
            UPDATE iot.alert_rules SET
              name = coalesce(${b.name ?? null}, name),
              device_id = coalesce(${b.deviceId ?? null}, device_id),
              metric = coalesce(${b.metric ?? null}, metric),
              operator = coalesce(${b.operator ?? null}, operator),
              threshold = coalesce(${b.threshold ?? null}::float8, threshold),
              severity = coalesce(${b.severity ?? null}, severity),
              enabled = coalesce(${b.enabled ?? null}::boolean, enabled)
            WHERE id = ${ruleId}
            RETURNING id, name, device_id AS "deviceId", metric, operator, threshold, severity, enabled`);
        });
        if (!row) throw notFound('The rule');
        audit(req, 'UPDATE', 'alert_rule', ruleId, { fields: Object.keys(b) });
        res.json(row);
      },
    },
    {
      method: 'delete',
      path: '/alert-rules/:ruleId',
      summary: 'Delete an alert rule',
      permission: 'rules:write',
      schemas: { params: params({ ruleId: uuid }), query: emptyQuery },
      success: { status: 204, description: 'Deleted' },
      errors: [404],
      handler: async (req, res) => {
        const { ruleId } = valid<{ ruleId: string }>(req, 'params');
        const gone = await inTenant(req, (tx) =>
          tx.query(sql`DELETE FROM iot.alert_rules WHERE id = ${ruleId}`),
        );
        if (!gone.rowCount) throw notFound('The rule');
        audit(req, 'DELETE', 'alert_rule', ruleId);
        res.status(204).end();
      },
    },

    // Notification channels
    {
      method: 'get',
      path: '/notification-channels',
      summary: 'List notification channels',
      permission: 'channels:read',
      schemas: { query: pageQuery() },
      page: { maxLimit: 200 },
      success: { status: 200, description: 'A page of channels' },
      handler: async (req, res) => {
        const { limit, offset } = req.page!;
        const rows = await inTenant(req, (tx) =>
          tx.many(
            sql`SELECT id, name, type, target, enabled FROM iot.notification_channels ORDER BY name LIMIT ${limit} OFFSET ${offset}`,
          ),
        );
        res.json({ items: rows, limit, offset, capped: req.page!.capped });
      },
    },
    {
      method: 'post',
      path: '/notification-channels',
      summary: 'Create a notification channel',
      permission: 'channels:write',
      schemas: { query: emptyQuery, body: channelBody(true) },
      success: { status: 201, description: 'The channel' },
      errors: [409],
      handler: async (req, res) => {
        const b = valid<ChannelBody>(req, 'body');
        checkTarget(b.type, b.target);
        const row = await inTenant(req, (tx) =>
          tx.one<{ id: string }>(sql`
            INSERT INTO iot.notification_channels (tenant_id, name, type, target, enabled)
            VALUES (${tenantOf(req)}, ${b.name}, ${b.type}, ${b.target}, ${b.enabled ?? true})
            RETURNING id, name, type, target, enabled`),
        );
        audit(req, 'CREATE', 'notification_channel', row.id);
        res.status(201).json(row);
      },
    },
    {
      method: 'patch',
      path: '/notification-channels/:channelId',
      summary: 'Update a notification channel',
      permission: 'channels:write',
      schemas: { params: params({ channelId: uuid }), query: emptyQuery, body: channelBody(false) },
      success: { status: 200, description: 'The channel' },
      errors: [404, 409],
      handler: async (req, res) => {
        const { channelId } = valid<{ channelId: string }>(req, 'params');
        const b = valid<Partial<ChannelBody>>(req, 'body');
        const row = await inTenant(req, async (tx) => {
          const current = await tx.maybeOne<{ type: string; target: string }>(
            sql`SELECT type, target FROM iot.notification_channels WHERE id = ${channelId} FOR UPDATE`,
          );
          if (!current) throw notFound('The channel');
          checkTarget(b.type ?? current.type, b.target ?? current.target);
          return tx.one(sql`
            UPDATE iot.notification_channels SET
              name = coalesce(${b.name ?? null}, name), type = coalesce(${b.type ?? null}, type),
              target = coalesce(${b.target ?? null}, target), enabled = coalesce(${b.enabled ?? null}::boolean, enabled)
            WHERE id = ${channelId} RETURNING id, name, type, target, enabled`);
        });
        audit(req, 'UPDATE', 'notification_channel', channelId, { fields: Object.keys(b) });
        res.json(row);
      },
    },
    {
      method: 'delete',
      path: '/notification-channels/:channelId',
      summary: 'Delete a notification channel',
      permission: 'channels:write',
      schemas: { params: params({ channelId: uuid }), query: emptyQuery },
      success: { status: 204, description: 'Deleted' },
      errors: [404],
      handler: async (req, res) => {
        const { channelId } = valid<{ channelId: string }>(req, 'params');
        const gone = await inTenant(req, (tx) =>
          tx.query(sql`DELETE FROM iot.notification_channels WHERE id = ${channelId}`),
        );
        if (!gone.rowCount) throw notFound('The channel');
        audit(req, 'DELETE', 'notification_channel', channelId);
        res.status(204).end();
      },
    },

    // Telemetry
    {
      method: 'get',
      path: '/devices/:id/telemetry',
      summary: "Query a device's telemetry, newest first (paginated, at most 500 per page)",
      permission: 'telemetry:read',
      schemas: {
        params: params({ id: deviceId }),
        query: pageQuery({
          metric: { type: 'string', format: 'metric-key', maxLength: 128 },
          from: timestamp,
          to: timestamp,
        }),
      },
      page: { maxLimit: 500, defaultLimit: 100 },
      success: { status: 200, description: 'A page of readings' },
      errors: [404],
      handler: async (req, res) => {
        const { id } = valid<{ id: string }>(req, 'params');
        const q = valid<{ metric?: string; from?: string; to?: string }>(req, 'query');
        const { limit, offset } = req.page!;
        const rows = await inTenant(req, async (tx) => {
          if (!(await deviceExists(tx, id))) throw notFound('The device');
          return tx.many(sql`
            SELECT metric, value, recorded_at AS "recordedAt", received_via AS via FROM iot.telemetry
            WHERE ${telemetryFilter(id, q)}
            ORDER BY recorded_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}`);
        });
        res.json({ items: rows, limit, offset, capped: req.page!.capped });
      },
    },
    {
      method: 'post',
      path: '/devices/:id/telemetry',
      summary: 'Send telemetry for a device over HTTP',
      permission: 'telemetry:write',
      schemas: { params: params({ id: deviceId }), query: emptyQuery, body: telemetryBody },
      success: { status: 202, description: 'Stored; alerts fired by the readings are listed' },
      errors: [404],
      handler: async (req, res) => {
        const { id } = valid<{ id: string }>(req, 'params');
        const body = valid<{ metrics: Record<string, number>; ts?: string }>(req, 'body');
        const recordedAt = recordedTime(body.ts);
        if (!recordedAt) {
          throw createError(422, 'ts must be within a day of now.', {
            code: 'validation_failed',
            expose: true,
            errors: [{ location: 'body', pointer: '/ts', message: 'must be within a day of now' }],
          });
        }
        const readings = Object.entries(body.metrics).map(([metric, value]) => ({ metric, value }));
        const fired = await inTenant(req, async (tx) => {
          if (!(await deviceExists(tx, id))) throw notFound('The device');
          return storeReadings(tx, tenantOf(req), id, readings, recordedAt, 'http');
        });
        await ctx.publishAlerts(fired);
        res.status(202).json({ stored: readings.length, alerts: fired.map((a) => a.id) });
      },
    },
    {
      method: 'get',
      path: '/devices/:id/telemetry/export',
      summary:
        "Export a device's telemetry as CSV (streamed; RATE_LIMIT_EXPORTS per minute per tenant, default 5)",
      permission: 'telemetry:export',
      before: [ctx.exportLimit],
      schemas: {
        params: params({ id: deviceId }),
        query: {
          type: 'object',
          properties: {
            metric: { type: 'string', format: 'metric-key', maxLength: 128 },
            from: timestamp,
            to: timestamp,
          },
          additionalProperties: false,
        },
      },
      success: { status: 200, description: 'CSV: recorded_at,metric,value', type: 'text/csv' },
      errors: [404, 429],
      handler: async (req, res) => {
        const { id } = valid<{ id: string }>(req, 'params');
        const q = valid<{ metric?: string; from?: string; to?: string }>(req, 'query');
        await inTenant(req, async (tx) => {
          if (!(await deviceExists(tx, id))) throw notFound('The device');
          res.status(200);
          res.setHeader('Content-Type', 'text/csv; charset=utf-8');
          res.setHeader('Content-Disposition', `attachment; filename="${id}-telemetry.csv"`);
          res.write('recorded_at,metric,value\n');
          let after: { at: Date; id: string } | null = null;
          for (let sent = 0; sent < EXPORT_MAX_ROWS; ) {
            const cursor: ReturnType<typeof sql> = after
              ? sql`AND (recorded_at, id) < (${after.at}, ${after.id})`
              : sql``;
            const rows = await tx.many<{
              id: string;
              recorded_at: Date;
              metric: string;
              value: number;
            }>(sql`
              SELECT id, recorded_at, metric, value FROM iot.telemetry
              WHERE ${telemetryFilter(id, q)} ${cursor}
              ORDER BY recorded_at DESC, id DESC LIMIT ${Math.min(EXPORT_BATCH, EXPORT_MAX_ROWS - sent)}`);
            if (rows.length === 0 || req.signal.aborted) break;
            const chunk = rows
              .map((r) => `${r.recorded_at.toISOString()},${r.metric},${r.value}\n`)
              .join('');
            if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
            sent += rows.length;
            const last = rows[rows.length - 1]!;
            after = { at: last.recorded_at, id: last.id };
          }
        });
        audit(req, 'EXPORT', 'telemetry', id);
        res.end();
      },
    },

    ...apiKeyRoutes(ctx),

    // Audit log
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
      success: { status: 200, description: 'A page of audit entries' },
      handler: async (req, res) => {
        const { limit, offset } = req.page!;
        const q = valid<{ action?: string; resourceType?: string }>(req, 'query');
        await ctx.audit.flush();
        const filters = [sql`tenant_id = current_setting('app.tenant_id', true)`];
        if (q.action) filters.push(sql`action = ${q.action}`);
        if (q.resourceType) filters.push(sql`resource_type = ${q.resourceType}`);
        const rows = await inTenant(req, (tx) =>
          tx.many(sql`
            SELECT id::text, occurred_at AS "occurredAt", action, resource_type AS "resourceType",
              resource_id AS "resourceId", actor, status, details, trace_id AS "traceId"
            FROM bulwark_rbac.audit_log WHERE ${sql.join(filters, sql` AND `)}
            ORDER BY occurred_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}`),
        );
        res.json({ items: rows, limit, offset, capped: req.page!.capped });
      },
    },
  ];
}

interface RuleBody {
  name: string;
  deviceId?: string;
  metric: string;
  operator: 'gt' | 'gte' | 'lt' | 'lte';
  threshold: number;
  severity: 'info' | 'warning' | 'critical';
  enabled?: boolean;
}

function ruleBody(create: boolean) {
  return {
    type: 'object',
    properties: {
      name,
      deviceId,
      metric: { type: 'string', format: 'metric-key', maxLength: 128 },
      operator: { type: 'string', enum: ['gt', 'gte', 'lt', 'lte'] },
      threshold: { type: 'number', minimum: -1e12, maximum: 1e12 },
      severity: { type: 'string', enum: ['info', 'warning', 'critical'] },
      enabled: { type: 'boolean' },
    },
    ...(create
      ? { required: ['name', 'metric', 'operator', 'threshold', 'severity'] }
      : { minProperties: 1 }),
    additionalProperties: false,
  } as const;
}

interface ChannelBody {
  name: string;
  type: 'email' | 'webhook';
  target: string;
  enabled?: boolean;
}

function channelBody(create: boolean) {
  return {
    type: 'object',
    properties: {
      name,
      type: { type: 'string', enum: ['email', 'webhook'] },
      target: { type: 'string', minLength: 3, maxLength: 500 },
      enabled: { type: 'boolean' },
    },
    ...(create ? { required: ['name', 'type', 'target'] } : { minProperties: 1 }),
    additionalProperties: false,
  } as const;
}

/** A webhook must be HTTPS (no credentials in it); an email target must look like one. */
function checkTarget(type: string, target: string): void {
  let ok = false;
  if (type === 'email') ok = /^[^\s@]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$/.test(target);
  else {
    try {
      const url = new URL(target);
      ok = url.protocol === 'https:' && url.username === '' && url.password === '';
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    throw createError(422, 'The target does not fit the channel type.', {
      code: 'validation_failed',
      expose: true,
      errors: [
        {
          location: 'body',
          pointer: '/target',
          message:
            type === 'email'
              ? 'must be an email address'
              : 'must be an https URL without credentials',
        },
      ],
    });
  }
}

function telemetryFilter(id: string, q: { metric?: string; from?: string; to?: string }) {
  const parts = [sql`device_id = ${id}`];
  if (q.metric) parts.push(sql`metric = ${q.metric}`);
  if (q.from) parts.push(sql`recorded_at >= ${q.from}`);
  if (q.to) parts.push(sql`recorded_at < ${q.to}`);
  return sql.join(parts, sql` AND `);
}

/** The `/customer` router: routes from `customerRoutes`, each behind its guards. */
export function customerRouter(routes: RouteSpec[]): Router {
  const router = express.Router();
  mountRoutes(router, routes);
  return router;
}
