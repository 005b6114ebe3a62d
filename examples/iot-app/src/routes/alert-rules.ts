// Alert rules of the caller's tenant: a metric, a comparison and a threshold, for one device or all.
import { sql } from '@bulwark/db-safety';
import { alertRule, page } from './responses.js';
import { type RouteSpec, valid } from './route-table.js';
import { deviceId, emptyQuery, name, pageQuery, params, uuid } from './schemas.js';
import { notFound, requireDevice, type Tenant, tenantOf } from './tenant.js';

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

const RULE_COLUMNS = sql`id, name, device_id AS "deviceId", metric, operator, threshold, severity, enabled`;

export function alertRuleRoutes(tenant: Tenant): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/alert-rules',
      summary: 'List alert rules',
      permission: 'rules:read',
      schemas: { query: pageQuery() },
      page: { maxLimit: 200 },
      success: { status: 200, description: 'A page of rules', schema: page(alertRule) },
      handler: async (req, res) => {
        await tenant.list(
          req,
          res,
          ({ limit, offset }) =>
            sql`SELECT ${RULE_COLUMNS} FROM iot.alert_rules ORDER BY name LIMIT ${limit} OFFSET ${offset}`,
        );
      },
    },
    {
      method: 'post',
      path: '/alert-rules',
      summary: 'Create an alert rule',
      permission: 'rules:write',
      schemas: { query: emptyQuery, body: ruleBody(true) },
      success: { status: 201, description: 'The rule', schema: alertRule },
      errors: [404, 409],
      handler: async (req, res) => {
        const b = valid<RuleBody>(req, 'body');
        const row = await tenant.transaction(req, async (tx) => {
          if (b.deviceId) await requireDevice(tx, b.deviceId);
          return tx.one<{ id: string }>(sql`
            INSERT INTO iot.alert_rules (tenant_id, name, device_id, metric, operator, threshold, severity, enabled)
            VALUES (${tenantOf(req)}, ${b.name}, ${b.deviceId ?? null}, ${b.metric}, ${b.operator}, ${b.threshold}, ${b.severity}, ${b.enabled ?? true})
            RETURNING ${RULE_COLUMNS}`);
        });
        tenant.audit(req, 'CREATE', 'alert_rule', row.id);
        res.status(201).json(row);
      },
    },
    {
      method: 'patch',
      path: '/alert-rules/:ruleId',
      summary: 'Update an alert rule',
      permission: 'rules:write',
      schemas: { params: params({ ruleId: uuid }), query: emptyQuery, body: ruleBody(false) },
      success: { status: 200, description: 'The rule', schema: alertRule },
      errors: [404, 409],
      handler: async (req, res) => {
        const { ruleId } = valid<{ ruleId: string }>(req, 'params');
        const b = valid<Partial<RuleBody>>(req, 'body');
        const row = await tenant.transaction(req, async (tx) => {
          if (b.deviceId) await requireDevice(tx, b.deviceId);
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
            RETURNING ${RULE_COLUMNS}`);
        });
        if (!row) throw notFound('The rule');
        tenant.audit(req, 'UPDATE', 'alert_rule', ruleId, { fields: Object.keys(b) });
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
        await tenant.remove(req, sql`DELETE FROM iot.alert_rules WHERE id = ${ruleId}`, 'The rule');
        tenant.audit(req, 'DELETE', 'alert_rule', ruleId);
        res.status(204).end();
      },
    },
  ];
}
