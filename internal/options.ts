// The options-object check of the packages' factories: a factory mounted without being called,
// options that are not an object, and unknown names with a "did you mean".
import { closestName } from './suggest.js';

/** What was wrong with the options, so each package can throw its own error class and code. */
export type OptionsProblem = 'not_called' | 'not_an_object' | 'unknown_option';

/** True for an Express request (or anything shaped like one) passed where options belong. */
export function looksLikeRequest(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    'method' in value &&
    'headers' in value &&
    ('socket' in value || 'url' in value)
  );
}

/**
 * Checks `options` for `factory` and returns it as a record (`{}` when undefined). On a problem it
 * calls `fail(problem, message)`, which must throw the package's own configuration error; the
 * message quotes what was received and names the fix.
 */
export function checkOptionsObject(
  factory: string,
  options: unknown,
  known: readonly string[],
  describe: (value: unknown) => string,
  fail: (problem: OptionsProblem, message: string) => never,
): Record<string, unknown> {
  if (options === undefined) return {};
  if (looksLikeRequest(options)) {
    fail(
      'not_called',
      `${factory} was mounted without being called. Use app.use(${factory}()), not app.use(${factory}).`,
    );
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    fail(
      'not_an_object',
      `${factory}: options must be an object, received ${describe(options)}. Pass an object such as ${factory}({}).`,
    );
  }
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const close = closestName(name, known);
    const hint = close ? ` Did you mean \`${close}\`?` : ` Known options: ${known.join(', ')}.`;
    fail('unknown_option', `${factory}: unknown option \`${name}\`.${hint}`);
  }
  return options as Record<string, unknown>;
}
