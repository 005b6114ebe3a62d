// Option checks shared by the factories: unknown names with a "did you mean" hint, and numbers.
import { DbConfigError } from './errors.js';

function distance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      const cost = a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1;
      previous[j] = Math.min(previous[j]! + 1, previous[j - 1]! + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return previous[b.length]!;
}

/** Throws `ERR_BULWARK_DB_UNKNOWN_OPTION` for a name not in `known`, suggesting the closest one. */
export function rejectUnknownOptions(
  where: string,
  options: object,
  known: readonly string[],
): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const ranked = known
      .map((candidate) => ({ candidate, score: distance(name, candidate) }))
      .sort((a, b) => a.score - b.score);
    const best = ranked[0];
    const hint =
      best && best.score <= Math.max(2, Math.floor(name.length / 3))
        ? ` Did you mean \`${best.candidate}\`?`
        : ` Known options: ${known.join(', ')}.`;
    throw new DbConfigError(
      'ERR_BULWARK_DB_UNKNOWN_OPTION',
      `${where}: \`${name}\` is not an option.${hint}`,
    );
  }
}

/** Throws unless `options` is undefined or a plain object (catches `createPool('postgres://…')`). */
export function requireObject(where: string, options: unknown, example: string): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    const shown = typeof options === 'string' ? 'a string' : String(options);
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

/** Throws `ERR_BULWARK_DB_INVALID_OPTION` with a message built from the value and the fix. */
export function invalidOption(where: string, name: string, value: unknown, fix: string): never {
  const shown =
    typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value));
  throw new DbConfigError(
    'ERR_BULWARK_DB_INVALID_OPTION',
    `${where}: ${name}: ${shown} is not valid. ${fix}`,
  );
}
