// Builds the hardened ajv (draft 2020-12) instances and registers the package's formats on them.

import type { Options as AjvOptions } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { RegExpEngine, SchemaValidateFunction } from 'ajv/dist/types/index.js';
import {
  isApiKey,
  isDate,
  isDeviceId,
  isEmail,
  isMacAddress,
  isMetricKey,
  isSafePathSegment,
  isUuid,
  resolveSlugOptions,
  type SlugOptions,
  slugChecker,
} from './formats.js';

/** The keyword added beside every `format: 'email'`, which lower-cases the validated value. */
export const LOWERCASE_KEYWORD = 'x-bulwark-lowercase';

/**
 * The keyword put in front of every `number` or `integer` subschema of query, params and headers
 * (see `decimalOnly` in validate.ts). ajv's coercion uses `Number()`, which reads `0x10` as 16,
 * `0b101` as 5, `" "` as 0 and `Infinity` as Infinity; this keyword runs on the string first.
 */
export const DECIMAL_KEYWORD = 'x-bulwark-decimal';

// The JSON number grammar, so a query value means what the same text would in a JSON body.
const DECIMAL_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
// One spelling per integer: no sign on zero, no leading zeros, no fraction or exponent.
const DECIMAL_INTEGER = /^(?:0|-?[1-9]\d*)$/;

/**
 * False (with an error) for a string that ajv's coercion would turn into a number but that is
 * not plain decimal notation, or whose value is not finite (an integer: not exactly
 * representable). Other values pass: ajv then coerces them or reports the type.
 */
const validateDecimal: SchemaValidateFunction = (kind: 'number' | 'integer', data: unknown) => {
  // coerceTypes: 'array' unwraps a one-item array before coercing its item.
  const value = Array.isArray(data) && data.length === 1 ? (data[0] as unknown) : data;
  // ajv coerces a string to a number only when `value == +value` (not empty, not NaN).
  if (typeof value !== 'string' || value === '' || Number.isNaN(Number(value))) return true;
  let message: string | undefined;
  if (kind === 'integer') {
    if (!DECIMAL_INTEGER.test(value)) message = 'must be an integer in plain decimal notation';
    else if (!Number.isSafeInteger(Number(value)))
      message = `must be an integer from ${Number.MIN_SAFE_INTEGER} to ${Number.MAX_SAFE_INTEGER}`;
  } else if (!DECIMAL_NUMBER.test(value)) {
    message = 'must be a number in plain decimal notation';
  } else if (!Number.isFinite(Number(value))) {
    message = 'must be a finite number';
  }
  if (message === undefined) return true;
  validateDecimal.errors = [{ keyword: DECIMAL_KEYWORD, message, params: { type: kind } }];
  return false;
};

/** Names of the formats registered on every instance. */
export const FORMAT_NAMES = [
  'slug',
  'email',
  'date',
  'api-key',
  'mac-address',
  'metric-key',
  'safe-path-segment',
  'uuid',
  'device-id',
] as const;

export interface AjvSettings {
  slug?: SlugOptions | undefined;
  formats?: Record<string, (value: string) => boolean> | undefined;
  schemas?: readonly object[] | undefined;
  useDefaults: boolean;
  /** Check every keyword after a failure, collecting every error. Off unless `validate` asks. */
  allErrors?: boolean | undefined;
  regExp?: RegExpEngine | undefined;
}

/** A warning from ajv means part of a schema would be ignored: treat it as an error. */
class AjvWarning extends Error {}

const logger = {
  log() {},
  warn(...args: unknown[]) {
    throw new AjvWarning(args.map(String).join(' '));
  },
  error(...args: unknown[]) {
    throw new AjvWarning(args.map(String).join(' '));
  },
};

/**
 * Creates one ajv instance with the settings ajv's security guide asks for. `coerce` is off for
 * bodies (JSON already has types) and on for query, params and headers, which arrive as strings;
 * schemas for a coercing instance go through `decimalOnly` so only decimal strings become numbers.
 */
export function createAjv(settings: AjvSettings, coerce: boolean): Ajv2020 {
  const options: AjvOptions = {
    strict: true,
    allowUnionTypes: true,
    allErrors: settings.allErrors === true,
    $data: false,
    ownProperties: true,
    verbose: false,
    coerceTypes: coerce ? 'array' : false,
    useDefaults: settings.useDefaults,
    validateFormats: true,
    logger,
    ...(settings.regExp ? { code: { regExp: settings.regExp } } : {}),
  };
  const ajv = new Ajv2020(options);
  const slug = slugChecker(resolveSlugOptions(settings.slug, 'validate: slug'));
  const checks: Record<(typeof FORMAT_NAMES)[number], (value: string) => boolean> = {
    slug,
    email: isEmail,
    date: (value) => isDate(value),
    'api-key': isApiKey,
    'mac-address': isMacAddress,
    'metric-key': isMetricKey,
    'safe-path-segment': isSafePathSegment,
    uuid: isUuid,
    'device-id': isDeviceId,
  };
  for (const [name, validate] of Object.entries({ ...checks, ...settings.formats })) {
    ajv.addFormat(name, { type: 'string', validate });
  }
  ajv.addKeyword({
    keyword: LOWERCASE_KEYWORD,
    type: 'string',
    schemaType: 'boolean',
    modifying: true,
    errors: false,
    validate(enabled: boolean, data: string, _schema: unknown, ctx) {
      if (enabled && ctx?.parentData !== undefined) {
        (ctx.parentData as Record<string | number, unknown>)[ctx.parentDataProperty] =
          data.toLowerCase();
      }
      return true;
    },
  });
  if (coerce) {
    ajv.addKeyword({
      keyword: DECIMAL_KEYWORD,
      schemaType: 'string',
      metaSchema: { enum: ['number', 'integer'] },
      errors: true,
      validate: validateDecimal,
    });
  }
  for (const schema of settings.schemas ?? []) ajv.addSchema(schema);
  return ajv;
}

export { AjvWarning };
