// A device's telemetry: query it newest first, or send readings over HTTP (the MQTT path is in messaging.ts).
import { sql } from '@bulwark/db-safety';
import { type FiredAlert, recordedTime, storeReadings } from '../telemetry.js';
import { page, reading, stored } from './responses.js';
import { type RouteSpec, valid } from './route-table.js';
import { deviceId, emptyQuery, pageQuery, params, telemetryBody, timestamp } from './schemas.js';
import { invalidField, requireDevice, sendPage, type Tenant, tenantOf } from './tenant.js';

/** The query fields that pick readings, shared with the export. */
export const telemetryQuery = {
  metric: { type: 'string', format: 'metric-key', maxLength: 128 },
  from: timestamp,
  to: timestamp,
} as const;

export interface TelemetryQuery {
  metric?: string;
  from?: string;
  to?: string;
}

/** The `WHERE` condition for a device's readings that match `q`. */
export function telemetryFilter(id: string, q: TelemetryQuery) {
  const parts = [sql`device_id = ${id}`];
  if (q.metric) parts.push(sql`metric = ${q.metric}`);
  if (q.from) parts.push(sql`recorded_at >= ${q.from}`);
  if (q.to) parts.push(sql`recorded_at < ${q.to}`);
  return sql.join(parts, sql` AND `);
}

export function telemetryRoutes(
  tenant: Tenant,
  { publishAlerts }: { publishAlerts(alerts: FiredAlert[]): Promise<void> },
): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/devices/:id/telemetry',
      summary: "Query a device's telemetry, newest first (paginated, at most 500 per page)",
      permission: 'telemetry:read',
      schemas: { params: params({ id: deviceId }), query: pageQuery(telemetryQuery) },
      page: { maxLimit: 500, defaultLimit: 100 },
      success: { status: 200, description: 'A page of readings', schema: page(reading) },
      errors: [404],
      handler: async (req, res) => {
        const { id } = valid<{ id: string }>(req, 'params');
        const q = valid<TelemetryQuery>(req, 'query');
        const { limit, offset } = req.page!;
        const rows = await tenant.transaction(req, async (tx) => {
          await requireDevice(tx, id);
          return tx.many(sql`
            SELECT metric, value, recorded_at AS "recordedAt", received_via AS via FROM iot.telemetry
            WHERE ${telemetryFilter(id, q)}
            ORDER BY recorded_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}`);
        });
        sendPage(req, res, rows);
      },
    },
    {
      method: 'post',
      path: '/devices/:id/telemetry',
      summary: 'Send telemetry for a device over HTTP',
      permission: 'telemetry:write',
      schemas: { params: params({ id: deviceId }), query: emptyQuery, body: telemetryBody },
      success: {
        status: 202,
        description: 'Stored; alerts fired by the readings are listed',
        schema: stored,
      },
      errors: [404],
      handler: async (req, res) => {
        const { id } = valid<{ id: string }>(req, 'params');
        const body = valid<{ metrics: Record<string, number>; ts?: string }>(req, 'body');
        const recordedAt = recordedTime(body.ts);
        if (!recordedAt) {
          throw invalidField(
            'ts must be within a day of now.',
            '/ts',
            'must be within a day of now',
          );
        }
        const readings = Object.entries(body.metrics).map(([metric, value]) => ({ metric, value }));
        const fired = await tenant.transaction(req, async (tx) => {
          await requireDevice(tx, id);
          return storeReadings(tx, tenantOf(req), id, readings, recordedAt, 'http');
        });
        await publishAlerts(fired);
        res.status(202).json({ stored: readings.length, alerts: fired.map((a) => a.id) });
      },
    },
  ];
}
