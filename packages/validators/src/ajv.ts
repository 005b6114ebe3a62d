// Builds the hardened ajv (draft 2020-12) instances and registers the package's formats on them.

import type { Options as AjvOptions } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { RegExpEngine } from 'ajv/dist/types/index.js';
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
 * bodies (JSON already has types) and on for query, params and headers, which arrive as strings.
 */
export function createAjv(settings: AjvSettings, coerce: boolean): Ajv2020 {
  const options: AjvOptions = {
    strict: true,
    allowUnionTypes: true,
    allErrors: false,
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
  for (const schema of settings.schemas ?? []) ajv.addSchema(schema);
  return ajv;
}

export { AjvWarning };
