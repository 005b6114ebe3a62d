// Option checks shared by the factories: unknown names with a "did you mean" hint, and numbers.
import { closestName } from '../../../internal/suggest.js';
import { DbConfigError } from './errors.js';

/** Throws `ERR_BULWARK_DB_UNKNOWN_OPTION` for a name not in `known`, suggesting the closest one. */
export function rejectUnknownOptions(
  where: string,
  options: object,
  known: readonly string[],
): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const best = closestName(name, known);
    const hint = best ? ` Did you mean \`${best}\`?` : ` Known options: ${known.join(', ')}.`;
    throw new DbConfigError(
      'ERR_BULWARK_DB_UNKNOWN_OPTION',
      `${where}: \`${name}\` is not an option.${hint}`,
    );
  }
}

/** Throws unless `options` is undefined or a plain object (catches `createPool('postgres://…')`). */
export function requireObject(where: string, options: unknown, example: string): void {
  if (options === undefined) return;
  if (
    typeof options !== 'object' ||
    options === null ||
    Array.isArray(options) ||
    options instanceof URL
  ) {
    const shown =
      typeof options === 'string'
        ? 'a string'
        : options instanceof URL
          ? 'a URL object'
          : typeof options === 'function'
            ? 'a function'
            : String(options);
    throw new DbConfigError(
      'ERR_BULWARK_DB_INVALID_OPTION',
      `${where}: options must be an object, got ${shown}. Pass an object, such as ${example}.`,
    );
  }
}

/** A whole number of milliseconds (or seconds) within bounds, or the default when undefined. */
export function timeoutOption(
  where: string,
  name: string,
  value: unknown,
  fallback: number,
  { min = 1, max = 2_147_483_647, unit = 'milliseconds', example = '5_000' } = {},
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const zero =
      min > 0 && value === 0 ? ' Zero would mean no limit at all, which is refused.' : '';
    throw new DbConfigError(
      'ERR_BULWARK_DB_INVALID_TIMEOUT',
      `${where}: ${name}: ${JSON.stringify(value) ?? String(value)} is not a valid value.${zero} Use a whole number of ${unit} from ${min} to ${max}, such as ${example}.`,
    );
  }
  return value;
}

/** A URL with its password (in the user-info part or a `password` parameter) replaced by `***`. */
export function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password !== '') copy.password = '***';
  if (copy.searchParams.has('password')) copy.searchParams.set('password', '***');
  return copy.href;
}

/**
 * `value` as a message may show it: never a secret. Strings and URLs lose their password; an
 * option that may hold one (`secret`) is described by its type only.
 */
export function showValue(value: unknown, { secret = false } = {}): string {
  if (typeof value === 'function') return 'a function';
  if (value instanceof URL) return `a URL object (${redactUrl(value)})`;
  if (secret) {
    if (value === null) return 'null';
    if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string';
    if (Array.isArray(value)) return 'an array';
    return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
  }
  if (typeof value === 'string' && URL.canParse(value)) {
    const url = new URL(value);
    if (url.password !== '' || url.searchParams.has('password')) {
      return JSON.stringify(redactUrl(url));
    }
  }
  return JSON.stringify(value) ?? String(value);
}

/**
 * Throws `ERR_BULWARK_DB_INVALID_OPTION` with a message built from the value and the fix. With
 * `secret`, only the value's type is shown.
 */
export function invalidOption(
  where: string,
  name: string,
  value: unknown,
  fix: string,
  { secret = false } = {},
): never {
  const shown = showValue(value, { secret });
  throw new DbConfigError(
    'ERR_BULWARK_DB_INVALID_OPTION',
    `${where}: ${name}: ${shown} is not valid. ${fix}`,
  );
}
