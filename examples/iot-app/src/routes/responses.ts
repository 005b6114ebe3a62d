// JSON Schemas of the answers: what each route sends back on success, checked in development and tests.

export const text = { type: 'string' } as const;
const nullableText = { type: ['string', 'null'] } as const;
const id = { type: 'string', format: 'uuid' } as const;
export const dateTime = { type: 'string', format: 'date-time' } as const;
const nullableDateTime = { type: ['string', 'null'], format: 'date-time' } as const;
const texts = { type: 'array', items: text } as const;

/** An object with these properties, all of them present (a nullable one as `null`). */
export const record = <P extends Record<string, object>>(properties: P) =>
  ({ type: 'object', properties, required: Object.keys(properties) }) as const;

/** A page of `item`s, as `sendPage` answers it. */
export const page = (item: object) =>
  record({
    items: { type: 'array', items: item },
    limit: { type: 'integer', minimum: 1 },
    offset: { type: 'integer', minimum: 0 },
    capped: { type: 'boolean' },
  });

/** An object whose `items` are all `item`s, without paging. */
export const list = (item: object) => record({ items: { type: 'array', items: item } });

export const device = record({
  id: text,
  name: text,
  type: text,
  location: text,
  tags: texts,
  createdAt: dateTime,
  updatedAt: dateTime,
});

export const deviceGroup = record({ id, name: text, createdAt: dateTime, devices: texts });

export const maintenanceWindow = record({
  id,
  deviceId: nullableText,
  startsAt: dateTime,
  endsAt: dateTime,
  reason: text,
});

const severity = { type: 'string', enum: ['info', 'warning', 'critical'] } as const;

export const alertRule = record({
  id,
  name: text,
  deviceId: nullableText,
  metric: text,
  operator: { type: 'string', enum: ['gt', 'gte', 'lt', 'lte'] },
  threshold: { type: 'number' },
  severity,
  enabled: { type: 'boolean' },
});

const alertStatus = { type: 'string', enum: ['open', 'acknowledged', 'closed'] } as const;

export const alert = record({
  id,
  deviceId: text,
  ruleId: { type: ['string', 'null'], format: 'uuid' },
  severity: text,
  metric: text,
  value: { type: 'number' },
  status: alertStatus,
  createdAt: dateTime,
  acknowledgedAt: nullableDateTime,
  acknowledgedBy: nullableText,
  closedAt: nullableDateTime,
  closedBy: nullableText,
});

export const acknowledgedAlert = record({
  id,
  status: alertStatus,
  acknowledgedAt: nullableDateTime,
  acknowledgedBy: nullableText,
});

export const closedAlert = record({
  id,
  status: alertStatus,
  closedAt: nullableDateTime,
  closedBy: nullableText,
});

export const notificationChannel = record({
  id,
  name: text,
  type: { type: 'string', enum: ['email', 'webhook'] },
  target: text,
  enabled: { type: 'boolean' },
});

export const reading = record({
  metric: text,
  value: { type: 'number' },
  recordedAt: dateTime,
  via: { type: 'string', enum: ['http', 'mqtt'] },
});

export const stored = record({
  stored: { type: 'integer', minimum: 0 },
  alerts: { type: 'array', items: id },
});

export const apiKeyInfo = record({
  id,
  tenantId: text,
  name: text,
  prefix: text,
  scopes: texts,
  createdAt: dateTime,
  expiresAt: nullableDateTime,
  revokedAt: nullableDateTime,
  lastUsedAt: nullableDateTime,
  active: { type: 'boolean' },
});

export const issuedApiKey = record({
  id,
  key: { type: 'string', description: 'The secret: shown in this answer only.' },
  prefix: text,
  tenantId: text,
  name: text,
  scopes: texts,
  createdAt: dateTime,
  expiresAt: nullableDateTime,
});

export const rotatedApiKeys = record({
  key: issuedApiKey,
  revoked: { type: 'array', items: record({ id, revokedAt: dateTime }) },
});

export const auditEntry = record({
  id: text,
  occurredAt: dateTime,
  action: text,
  resourceType: text,
  resourceId: nullableText,
  actor: nullableText,
  status: text,
  details: { type: ['object', 'null'] },
  traceId: nullableText,
});

export const systemHealth = record({
  status: { type: 'string', enum: ['ok', 'degraded'] },
  database: { type: 'object', properties: { status: text, embedded: { type: 'boolean' } } },
  broker: { type: 'object', properties: { connected: { type: 'boolean' } } },
  rateLimitStore: text,
  audit: { type: 'object' },
  uptimeSec: { type: 'integer', minimum: 0 },
});

export const apiKeyList = list(apiKeyInfo);
