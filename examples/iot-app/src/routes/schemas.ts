// JSON Schemas shared by the routes: ids, pages, timestamps and the telemetry body.
import { MAX_METRICS } from '../telemetry.js';

export const deviceId = { type: 'string', format: 'device-id', maxLength: 64 } as const;
export const uuid = { type: 'string', format: 'uuid', maxLength: 36 } as const;
export const timestamp = { type: 'string', format: 'timestamp', maxLength: 40 } as const;
export const name = { type: 'string', minLength: 1, maxLength: 100 } as const;
export const tag = { type: 'string', format: 'slug', maxLength: 50 } as const;

export const params = <P extends Record<string, object>>(properties: P) =>
  ({
    type: 'object',
    properties,
    required: Object.keys(properties),
    additionalProperties: false,
  }) as const;

export const pageQuery = (extra: Record<string, object> = {}) =>
  ({
    type: 'object',
    properties: {
      limit: { type: 'integer', minimum: 1, maximum: 100_000 },
      offset: { type: 'integer', minimum: 0, maximum: 10_000 },
      ...extra,
    },
    additionalProperties: false,
  }) as const;

export const emptyQuery = { type: 'object', maxProperties: 0 } as const;

export const telemetryBody = {
  type: 'object',
  properties: {
    metrics: {
      type: 'object',
      minProperties: 1,
      maxProperties: MAX_METRICS,
      propertyNames: { type: 'string', format: 'metric-key', maxLength: 128 },
      additionalProperties: { type: 'number' },
    },
    ts: timestamp,
  },
  required: ['metrics'],
  additionalProperties: false,
} as const;
