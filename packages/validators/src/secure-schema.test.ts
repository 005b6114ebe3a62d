// Tests for the secure-schema check: schemas that must be refused, and schemas that must pass.
import { describe, expect, it } from 'vitest';
import { assertSecureSchema, subschemas } from './secure-schema.js';
import { validate } from './validate.js';

const insecure: [string, object, RegExp][] = [
  [
    'a pattern without maxLength',
    { type: 'string', pattern: '^a+$' },
    /at # is insecure: `pattern` without `maxLength`/,
  ],
  [
    'a format without maxLength',
    { type: 'string', format: 'email' },
    /`format` without `maxLength`/,
  ],
  [
    'a pattern deep in properties',
    {
      type: 'object',
      properties: { a: { type: 'object', properties: { b: { type: 'string', pattern: 'x' } } } },
    },
    /#\/properties\/a\/properties\/b/,
  ],
  [
    'a pattern under $defs',
    { $defs: { name: { type: 'string', pattern: 'x' } }, $ref: '#/$defs/name' },
    /#\/\$defs\/name/,
  ],
  [
    'a pattern in prefixItems',
    { type: 'array', prefixItems: [{ type: 'string', pattern: 'x' }], maxItems: 1 },
    /#\/prefixItems\/0/,
  ],
  [
    'a pattern in dependentSchemas',
    {
      type: 'object',
      dependentSchemas: { a: { properties: { b: { type: 'string', pattern: 'x' } } } },
    },
    /#\/dependentSchemas\/a\/properties\/b/,
  ],
  [
    'a format in unevaluatedProperties',
    { type: 'object', unevaluatedProperties: { type: 'string', format: 'slug' } },
    /#\/unevaluatedProperties/,
  ],
  [
    'a pattern in anyOf',
    { anyOf: [{ type: 'string', pattern: 'x' }, { type: 'number' }] },
    /#\/anyOf\/0/,
  ],
  // biome-ignore lint/suspicious/noThenProperty: `then` is a JSON Schema keyword here.
  ['a pattern in if/then', { if: { type: 'string' }, then: { pattern: 'x' } }, /#\/then/],
  [
    'patternProperties without bounded property names',
    { type: 'object', patternProperties: { '^x-': { type: 'string', maxLength: 5 } } },
    /`patternProperties` without `propertyNames/,
  ],
  [
    'uniqueItems over objects without maxItems',
    { type: 'array', uniqueItems: true, items: { type: 'object' } },
    /`uniqueItems` over objects or arrays/,
  ],
  [
    'uniqueItems over untyped items without maxItems',
    { type: 'array', uniqueItems: true },
    /`uniqueItems` (over objects or arrays )?without `maxItems`/,
  ],
];

describe('assertSecureSchema', () => {
  for (const [what, schema, message] of insecure) {
    it(`refuses ${what}`, () => {
      expect(() => assertSecureSchema(schema, 'body')).toThrow(
        expect.objectContaining({
          code: 'ERR_BULWARK_VALIDATORS_INSECURE_SCHEMA',
          message: expect.stringMatching(message),
        }),
      );
    });
  }

  it('accepts bounded schemas', () => {
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string', pattern: '^[a-z]+$', maxLength: 40 },
        email: { type: 'string', format: 'email', maxLength: 254 },
        tags: { type: 'array', uniqueItems: true, items: { type: 'string', maxLength: 20 } },
        points: { type: 'array', uniqueItems: true, maxItems: 50, items: { type: 'object' } },
        extra: {
          type: 'object',
          propertyNames: { maxLength: 30 },
          patternProperties: { '^x-': { type: 'string', maxLength: 5 } },
        },
      },
      $defs: { id: { type: 'string', format: 'uuid', maxLength: 36 } },
    };
    expect(() => assertSecureSchema(schema, 'body')).not.toThrow();
  });

  it('visits every subschema keyword of draft 2020-12', () => {
    const leaf = { type: 'string' };
    const schema = {
      properties: { a: leaf },
      patternProperties: { b: leaf },
      additionalProperties: leaf,
      propertyNames: leaf,
      items: leaf,
      prefixItems: [leaf],
      contains: leaf,
      not: leaf,
      if: leaf,
      // biome-ignore lint/suspicious/noThenProperty: `then` is a JSON Schema keyword here.
      then: leaf,
      else: leaf,
      allOf: [leaf],
      anyOf: [leaf],
      oneOf: [leaf],
      $defs: { c: leaf },
      dependentSchemas: { d: leaf },
      unevaluatedItems: leaf,
      unevaluatedProperties: leaf,
      contentSchema: leaf,
    };
    expect([...subschemas(schema)].length).toBe(20);
  });
});

describe('patterns that backtrack exponentially', () => {
  it('refuses them even with a maxLength', () => {
    for (const pattern of ['^(a+)+$', '^(\\w+\\s?)*$', '^(a|a)*$']) {
      expect(() => assertSecureSchema({ type: 'string', pattern, maxLength: 30 }, 'body')).toThrow(
        expect.objectContaining({
          code: 'ERR_BULWARK_VALIDATORS_INSECURE_SCHEMA',
          message: expect.stringContaining('exponential time'),
        }),
      );
    }
  });

  it('refuses the shapes the old check let through (regression: optional parts and the i flag were missed)', () => {
    // ajv compiles schema patterns with the u flag only; the slug tests cover the i flag.
    const untyped = validate as (schemas: object) => unknown;
    for (const pattern of ['^(a?a)+$', '^(?:a?){30}a{30}$', '^(?:[a-z]?a)+$', '^(?:a|b?a)+$']) {
      expect(() =>
        untyped({
          body: {
            type: 'object',
            properties: { s: { type: 'string', pattern, maxLength: 64 } },
          },
        }),
      ).toThrow(
        expect.objectContaining({
          code: 'ERR_BULWARK_VALIDATORS_INSECURE_SCHEMA',
          message: expect.stringContaining('body schema at #/properties/s/pattern'),
        }),
      );
    }
  });

  it('accepts the patterns of the example app', () => {
    const untyped = validate as (schemas: object) => unknown;
    expect(() =>
      untyped({
        body: {
          type: 'object',
          properties: {
            action: { type: 'string', pattern: '^[A-Z_]{1,32}$', maxLength: 32 },
            resourceType: { type: 'string', pattern: '^[a-z_]{1,32}$', maxLength: 32 },
            permission: {
              type: 'string',
              pattern: '^[a-z][a-z0-9_-]*(:[a-z][a-z0-9_.-]*)+$',
              maxLength: 128,
            },
          },
        },
      }),
    ).not.toThrow();
  });

  it('refuses them as patternProperties keys', () => {
    const schema = {
      type: 'object',
      propertyNames: { maxLength: 20 },
      patternProperties: { '^(x+)+$': { type: 'string', maxLength: 5 } },
    };
    expect(() => assertSecureSchema(schema, 'body')).toThrow(/#\/patternProperties is insecure/);
  });

  it('accepts them when a linear-time engine runs patterns', () => {
    expect(() =>
      assertSecureSchema({ type: 'string', pattern: '^(a+)+$', maxLength: 30 }, 'body', true),
    ).not.toThrow();
  });
});

describe('validate and insecure schemas', () => {
  it('refuses an insecure schema at construction', () => {
    expect(() => {
      validate({
        query: { type: 'object', properties: { q: { type: 'string', pattern: '(a|a)*$' } } },
      });
    }).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_VALIDATORS_INSECURE_SCHEMA',
        message: expect.stringContaining('query schema at #/properties/q'),
      }),
    );
  });

  it('refuses an insecure shared schema', () => {
    expect(() => {
      validate(
        { body: { $ref: 'urn:name' } },
        { schemas: [{ $id: 'urn:name', type: 'string', pattern: 'x' }] },
      );
    }).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_VALIDATORS_INSECURE_SCHEMA',
        message: expect.stringContaining('schemas[0]'),
      }),
    );
  });

  it('accepts an insecure schema only when explicitly allowed', () => {
    expect(() => {
      validate({ body: { type: 'string', pattern: '^x$' } }, { allowInsecureSchemas: true });
    }).not.toThrow();
  });
});
