// Ready-made schema fragments for each format, with the maxLength the secure-schema check asks for.

/**
 * One bounded string schema per registered format, to use as property schemas:
 * `properties: { email: formats.email }`. Each sets `maxLength` to the longest value the format
 * can accept, so the secure-schema check passes without extra keywords.
 * @example validate({ params: { type: 'object', properties: { mac: formats.macAddress }, required: ['mac'] } })
 */
export const formats = {
  slug: { type: 'string', format: 'slug', maxLength: 50 },
  email: { type: 'string', format: 'email', maxLength: 254 },
  date: { type: 'string', format: 'date', maxLength: 10 },
  apiKey: { type: 'string', format: 'api-key', maxLength: 512 },
  macAddress: { type: 'string', format: 'mac-address', maxLength: 17 },
  metricKey: { type: 'string', format: 'metric-key', maxLength: 128 },
  safePathSegment: { type: 'string', format: 'safe-path-segment', maxLength: 255 },
  uuid: { type: 'string', format: 'uuid', maxLength: 36 },
  deviceId: { type: 'string', format: 'device-id', maxLength: 64 },
} as const;
