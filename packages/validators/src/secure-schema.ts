// Refuses schemas that let untrusted input make validation slow, using ajv's secure meta-schema.
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import { ValidatorsConfigError } from './errors.js';
import { regexRisk } from './regex-risk.js';

const require = createRequire(import.meta.url);

// Subschema keywords of draft 2020-12 (and the draft-07 names ajv still reads). ajv's secure
// meta-schema is written for draft-07 and does not descend into $defs, prefixItems,
// dependentSchemas, unevaluated* or contentSchema, so every subschema is visited here and the
// meta-schema is applied to each one.
const SINGLE = [
  'additionalProperties',
  'propertyNames',
  'items',
  'additionalItems',
  'contains',
  'not',
  'if',
  'then',
  'else',
  'unevaluatedItems',
  'unevaluatedProperties',
  'contentSchema',
] as const;
const MAP = [
  'properties',
  'patternProperties',
  '$defs',
  'definitions',
  'dependentSchemas',
  'dependencies',
] as const;
const LIST = ['prefixItems', 'allOf', 'anyOf', 'oneOf', 'items'] as const;
const SCALAR_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null']);

let secureMeta: ValidateFunction | undefined;

function metaSchema(): ValidateFunction {
  if (!secureMeta) {
    // The meta-schema declares draft-07, which ajv's 2020-12 class does not load, so it is
    // compiled by ajv's draft-07 class.
    const ajv = new Ajv({ strict: false, logger: false });
    secureMeta = ajv.compile(require('ajv/lib/refs/json-schema-secure.json') as object);
  }
  return secureMeta;
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Every object subschema with its JSON Pointer inside the root schema. */
export function* subschemas(
  schema: unknown,
  pointer = '',
): Generator<[Record<string, unknown>, string]> {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return;
  const node = schema as Record<string, unknown>;
  yield [node, pointer];
  for (const key of SINGLE) {
    const child = node[key];
    if (typeof child === 'object' && child !== null && !Array.isArray(child)) {
      yield* subschemas(child, `${pointer}/${key}`);
    }
  }
  for (const key of MAP) {
    const map = node[key];
    if (typeof map !== 'object' || map === null || Array.isArray(map)) continue;
    for (const [name, child] of Object.entries(map)) {
      yield* subschemas(child, `${pointer}/${key}/${escapePointer(name)}`);
    }
  }
  for (const key of LIST) {
    const list = node[key];
    if (!Array.isArray(list)) continue;
    for (const [index, child] of list.entries())
      yield* subschemas(child, `${pointer}/${key}/${index}`);
  }
}

function explain(schemaPath: string): string {
  if (schemaPath.includes('/pattern/')) {
    return '`pattern` without `maxLength` lets a long string make the regular expression slow. Add maxLength beside pattern';
  }
  if (schemaPath.includes('/format/')) {
    return '`format` without `maxLength` lets a long string make the format check slow. Add maxLength beside format';
  }
  if (schemaPath.includes('/patternProperties/')) {
    return '`patternProperties` without `propertyNames: { maxLength }` lets long property names make matching slow. Add propertyNames with a maxLength';
  }
  if (schemaPath.includes('/uniqueItems/')) {
    return '`uniqueItems` over objects or arrays without `maxItems` compares every pair of items. Add maxItems';
  }
  return 'this schema may let untrusted input make validation slow';
}

function itemsMayBeCompound(node: Record<string, unknown>): boolean {
  const items = node.items;
  if (typeof items !== 'object' || items === null || Array.isArray(items)) return true;
  const type = (items as { type?: unknown }).type;
  if (typeof type === 'string') return !SCALAR_TYPES.has(type);
  if (Array.isArray(type)) return type.some((t) => typeof t !== 'string' || !SCALAR_TYPES.has(t));
  return !('enum' in items || 'const' in items);
}

function patternsOf(node: Record<string, unknown>, pointer: string): [string, string][] {
  const found: [string, string][] = [];
  if (typeof node.pattern === 'string') found.push([node.pattern, `#${pointer}/pattern`]);
  const map = node.patternProperties;
  if (typeof map === 'object' && map !== null && !Array.isArray(map)) {
    for (const key of Object.keys(map)) found.push([key, `#${pointer}/patternProperties`]);
  }
  return found;
}

/**
 * Throws `ERR_BULWARK_VALIDATORS_INSECURE_SCHEMA` naming the first subschema that fails ajv's
 * secure meta-schema, sets `uniqueItems` on items of unknown type without `maxItems`, or (unless
 * a linear-time `regExp` engine is used) has a pattern that can backtrack exponentially, which
 * no `maxLength` bounds: `^(a+)+$` takes seconds on 26 characters.
 */
export function assertSecureSchema(schema: unknown, location: string, linearRegExp = false): void {
  const check = metaSchema();
  for (const [node, pointer] of subschemas(schema)) {
    if (!linearRegExp) {
      for (const [pattern, where] of patternsOf(node, pointer)) {
        const risk = regexRisk(pattern);
        if (risk !== undefined) {
          throw new ValidatorsConfigError(
            'ERR_BULWARK_VALIDATORS_INSECURE_SCHEMA',
            `validate: the ${location} schema at ${where} is insecure: the pattern can take exponential time on a short string, because ${risk}. Rewrite it (for example [a-z]+(-[a-z]+)* instead of ([a-z]+-?)*), pass a linear-time engine such as RE2 as regExp, or pass allowInsecureSchemas: true if every client is trusted.`,
          );
        }
      }
    }
    if (!check(node)) {
      const error = check.errors?.[0];
      const where = `#${pointer}${error?.instancePath ?? ''}`;
      throw new ValidatorsConfigError(
        'ERR_BULWARK_VALIDATORS_INSECURE_SCHEMA',
        `validate: the ${location} schema at ${where} is insecure: ${explain(error?.schemaPath ?? '')}, or pass allowInsecureSchemas: true if every client is trusted.`,
      );
    }
    if (node.uniqueItems === true && node.maxItems === undefined && itemsMayBeCompound(node)) {
      throw new ValidatorsConfigError(
        'ERR_BULWARK_VALIDATORS_INSECURE_SCHEMA',
        `validate: the ${location} schema at #${pointer} is insecure: \`uniqueItems\` without \`maxItems\` on items that may be objects or arrays compares every pair of items. Add maxItems, or give items a scalar type, or pass allowInsecureSchemas: true if every client is trusted.`,
      );
    }
  }
}
