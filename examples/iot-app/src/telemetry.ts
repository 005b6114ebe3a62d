// Storing telemetry readings and firing the alert rules they match, inside a tenant transaction.
import { type Db, sql } from '@bulwark/db-safety';
import { isMetricKey } from '@bulwark/validators';

export interface Reading {
  metric: string;
  value: number;
}

export interface FiredAlert {
  id: string;
  tenant_id: string;
  device_id: string;
  rule_id: string;
  severity: string;
  metric: string;
  value: number;
  created_at: Date;
}

const OPERATORS: Record<string, (value: number, threshold: number) => boolean> = {
  gt: (v, t) => v > t,
  gte: (v, t) => v >= t,
  lt: (v, t) => v < t,
  lte: (v, t) => v <= t,
};

/** Most metrics accepted in one message or request. */
export const MAX_METRICS = 50;

/**
 * Checks an MQTT payload (`{"metrics": {"temperature": 21.5}, "ts": "..."}`) the way `validate`
 * checks the HTTP body: bounded size, known keys only, metric keys by format, finite numbers.
 */
export function parseTelemetryPayload(
  payload: Buffer,
): { readings: Reading[]; recordedAt: Date } | null {
  if (payload.length === 0 || payload.length > 16_384) return null;
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const { metrics, ts, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return null;
  if (typeof metrics !== 'object' || metrics === null || Array.isArray(metrics)) return null;
  const entries = Object.entries(metrics as Record<string, unknown>);
  if (entries.length === 0 || entries.length > MAX_METRICS) return null;
  const readings: Reading[] = [];
  for (const [metric, value] of entries) {
    if (!isMetricKey(metric) || typeof value !== 'number' || !Number.isFinite(value)) return null;
    readings.push({ metric, value });
  }
  const recordedAt = recordedTime(ts);
  return recordedAt ? { readings, recordedAt } : null;
}

/** A reading's time: now when absent; refused when malformed or more than a day off. */
export function recordedTime(ts: unknown): Date | null {
  if (ts === undefined) return new Date();
  if (typeof ts !== 'string' || ts.length > 40) return null;
  const date = new Date(ts);
  if (Number.isNaN(date.getTime())) return null;
  return Math.abs(date.getTime() - Date.now()) > 86_400_000 ? null : date;
}

/** Stores the readings and inserts an alert for each enabled rule they break (outside maintenance). */
export async function storeReadings(
  tx: Db,
  tenantId: string,
  deviceId: string,
  readings: Reading[],
  recordedAt: Date,
  via: 'http' | 'mqtt',
): Promise<FiredAlert[]> {
  const metrics = readings.map((r) => r.metric);
  const values = readings.map((r) => r.value);
  await tx.query(sql`
    INSERT INTO iot.telemetry (tenant_id, device_id, metric, value, recorded_at, received_via)
    SELECT ${tenantId}, ${deviceId}, m, v, ${recordedAt}, ${via}
    FROM unnest(${metrics}::text[], ${values}::float8[]) AS t(m, v)`);
  const maintenance = await tx.maybeOne(sql`
    SELECT 1 AS found FROM iot.maintenance_windows
    WHERE (device_id IS NULL OR device_id = ${deviceId}) AND now() BETWEEN starts_at AND ends_at
    LIMIT 1`);
  if (maintenance) return [];
  const rules = await tx.many<{
    id: string;
    metric: string;
    operator: string;
    threshold: number;
    severity: string;
  }>(sql`
    SELECT id, metric, operator, threshold, severity FROM iot.alert_rules
    WHERE enabled AND (device_id IS NULL OR device_id = ${deviceId}) AND metric = ANY(${metrics}::text[])`);
  const fired: FiredAlert[] = [];
  for (const rule of rules) {
    for (const reading of readings) {
      if (reading.metric !== rule.metric) continue;
      if (!OPERATORS[rule.operator]?.(reading.value, rule.threshold)) continue;
      fired.push(
        await tx.one<FiredAlert>(sql`
          INSERT INTO iot.alerts (tenant_id, device_id, rule_id, severity, metric, value)
          VALUES (${tenantId}, ${deviceId}, ${rule.id}, ${rule.severity}, ${reading.metric}, ${reading.value})
          RETURNING id, tenant_id, device_id, rule_id, severity, metric, value, created_at`),
      );
    }
  }
  return fired;
}
