// Tests for the ready-made format schemas.
import { describe, expect, it } from 'vitest';
import { createAjv } from './ajv.js';
import { formats } from './schemas.js';
import { assertSecureSchema } from './secure-schema.js';

describe('formats', () => {
  it('passes the secure-schema check and compiles for every format', () => {
    const ajv = createAjv({ useDefaults: false }, false);
    for (const schema of Object.values(formats)) {
      expect(() => assertSecureSchema(schema, 'body')).not.toThrow();
      expect(() => ajv.compile(schema)).not.toThrow();
    }
  });

  it('allows the longest valid value of each format', () => {
    const ajv = createAjv({ useDefaults: false }, false);
    const longest: Record<keyof typeof formats, string> = {
      slug: 'a'.repeat(50),
      email: `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.com`,
      date: '2024-01-31',
      apiKey: 'k'.repeat(512),
      macAddress: 'aa:bb:cc:dd:ee:ff',
      metricKey: 'm'.repeat(128),
      safePathSegment: 'f'.repeat(255),
      uuid: '0190d3d2-5f1c-7cc1-9b8e-4c2a0f9f6d11',
      deviceId: 'd'.repeat(64),
    };
    for (const [name, value] of Object.entries(longest)) {
      expect(ajv.validate(formats[name as keyof typeof formats], value), name).toBe(true);
    }
  });
});
