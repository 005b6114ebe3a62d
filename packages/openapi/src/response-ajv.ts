// The ajv (draft 2020-12) instances that compile declared response schemas.
import type { Format, ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import type { JsonSchema } from './contract.js';

/** A format check by name: a function of the string, or a regular expression. */
export type FormatCheck = ((value: string) => boolean) | RegExp;

// Keywords OpenAPI 3.1 adds to its schemas; they describe, and never fail a value.
const OPENAPI_KEYWORDS = ['example', 'discriminator', 'xml', 'externalDocs'];

function createAjv(formats: 'any' | Readonly<Record<string, FormatCheck>>): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: false,
    // Unknown keywords and formats are schema mistakes; loose typing is a matter of style.
    strictSchema: true,
    strictNumbers: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    validateFormats: formats !== 'any',
    formats: formats === 'any' ? {} : { ...(fullFormats as Record<string, Format>), ...formats },
    logger: false,
  });
  ajv.addVocabulary(OPENAPI_KEYWORDS);
  return ajv;
}

// Compiles schemas to check their structure at construction, with any format name accepted.
let structural: Ajv2020 | undefined;
const compiled = new WeakMap<Ajv2020, WeakMap<object, ValidateFunction>>();

/** A checker for the formats given (the standard ones and yours), or for structure only. */
export function responseAjv(formats: 'any' | Readonly<Record<string, FormatCheck>>): Ajv2020 {
  if (formats === 'any') {
    structural ??= createAjv('any');
    return structural;
  }
  return createAjv(formats);
}

/** Compiles once per instance and schema object; throws ajv's error when it does not compile. */
export function compileSchema(
  schema: JsonSchema,
  options: { formats: 'any' } | { ajv: Ajv2020 },
): ValidateFunction {
  const ajv = 'ajv' in options ? options.ajv : responseAjv('any');
  if (typeof schema === 'boolean') return ajv.compile(schema);
  let cache = compiled.get(ajv);
  if (!cache) {
    cache = new WeakMap();
    compiled.set(ajv, cache);
  }
  const known = cache.get(schema);
  if (known) return known;
  const check = ajv.compile(schema as object);
  // Two routes may each declare an equal schema with the same $id: ajv would refuse the second.
  if (typeof (schema as { $id?: unknown }).$id === 'string') ajv.removeSchema(schema as object);
  cache.set(schema, check);
  return check;
}
