// A device's telemetry as a CSV download, streamed in batches and limited per tenant.
import { type SqlQuery, sql } from '@bulwark/db-safety';
import type { RequestHandler } from 'express';
import { type RouteSpec, valid } from './route-table.js';
import { deviceId, params } from './schemas.js';
import { type TelemetryQuery, telemetryFilter, telemetryQuery } from './telemetry.js';
import { requireDevice, type Tenant } from './tenant.js';

/** Most rows one export streams. */
const EXPORT_MAX_ROWS = 100_000;
const EXPORT_BATCH = 1000;

export function telemetryExportRoutes(
  tenant: Tenant,
  {
    exportLimit,
  }: {
    /** The telemetry export limit (`RATE_LIMIT_EXPORTS` per minute per tenant, default 5). */
    exportLimit: RequestHandler;
  },
): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/devices/:id/telemetry/export',
      summary:
        "Export a device's telemetry as CSV (streamed; RATE_LIMIT_EXPORTS per minute per tenant, default 5)",
      permission: 'telemetry:export',
      before: [exportLimit],
      schemas: {
        params: params({ id: deviceId }),
        query: { type: 'object', properties: telemetryQuery, additionalProperties: false },
      },
      success: {
        status: 200,
        description: 'CSV: recorded_at,metric,value',
        type: 'text/csv',
        schema: { type: 'string' },
      },
      errors: [404],
      handler: async (req, res) => {
        const { id } = valid<{ id: string }>(req, 'params');
        const q = valid<TelemetryQuery>(req, 'query');
        await tenant.transaction(req, async (tx) => {
          await requireDevice(tx, id);
          res.status(200);
          res.setHeader('Content-Type', 'text/csv; charset=utf-8');
          res.setHeader('Content-Disposition', `attachment; filename="${id}-telemetry.csv"`);
          res.write('recorded_at,metric,value\n');
          let after: { at: Date; id: string } | null = null;
          for (let sent = 0; sent < EXPORT_MAX_ROWS; ) {
            const cursor: SqlQuery = after
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
        tenant.audit(req, 'EXPORT', 'telemetry', id);
        res.end();
      },
    },
  ];
}
