// The string checks behind every format, as plain functions for code outside HTTP (MQTT, CLIs).
import { ValidatorsConfigError } from './errors.js';
import { describe } from './options.js';
import { regexRisk } from './regex-risk.js';

/** Options for slugs. Defaults give `^[a-zA-Z0-9_]{3,50}$`. */
export interface SlugOptions {
  /** Shortest slug accepted. Default `3`. */
  minLength?: number;
  /** Longest slug accepted, checked before the pattern runs. Default `50`. */
  maxLength?: number;
  /**
   * Anchored pattern (`^...$`, no `g` or `y` flag) every slug must match.
   * Default `/^[a-zA-Z0-9_]+$/`.
   */
  pattern?: RegExp;
}

interface ResolvedSlug {
  minLength: number;
  maxLength: number;
  pattern: RegExp;
}

const DEFAULT_SLUG: ResolvedSlug = { minLength: 3, maxLength: 50, pattern: /^[a-zA-Z0-9_]+$/ };
const SLUG_KEYS = ['minLength', 'maxLength', 'pattern'];

/**
 * Checks slug options once. A pattern without `^`/`$` anchors would accept `ok/../../etc`, and a
 * `g` or `y` flag makes `test()` stateful (every other call fails), so both are refused.
 * @throws {ValidatorsConfigError} `ERR_BULWARK_VALIDATORS_INVALID_OPTION` or `..._UNKNOWN_OPTION`.
 */
export function resolveSlugOptions(options: SlugOptions | undefined, where = 'slug'): ResolvedSlug {
  if (options === undefined) return DEFAULT_SLUG;
  if (typeof options !== 'object' || options === null) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `${where}: ${describe(options)} is not valid. Pass an object such as { minLength: 3, maxLength: 50 }.`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!SLUG_KEYS.includes(key)) {
      throw new ValidatorsConfigError(
        'ERR_BULWARK_VALIDATORS_UNKNOWN_OPTION',
        `${where}: unknown option \`${key}\`. Known options: ${SLUG_KEYS.join(', ')}.`,
      );
    }
  }
  const minLength = options.minLength ?? DEFAULT_SLUG.minLength;
  const maxLength = options.maxLength ?? DEFAULT_SLUG.maxLength;
  const pattern = options.pattern ?? DEFAULT_SLUG.pattern;
  for (const [name, value] of [
    ['minLength', minLength],
    ['maxLength', maxLength],
  ] as const) {
    if (!Number.isInteger(value) || value < 1 || value > 1024) {
      throw new ValidatorsConfigError(
        'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
        `${where}.${name}: ${describe(value)} is not valid. Use an integer from 1 to 1024, such as 50.`,
      );
    }
  }
  if (minLength > maxLength) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `${where}: minLength ${minLength} is greater than maxLength ${maxLength}. Make minLength <= maxLength.`,
    );
  }
  if (!(pattern instanceof RegExp)) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `${where}.pattern: ${describe(pattern)} is not a RegExp. Use an anchored RegExp such as /^[a-z0-9-]+$/.`,
    );
  }
  if (!pattern.source.startsWith('^') || !pattern.source.endsWith('$')) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `${where}.pattern: ${String(pattern)} is not anchored, so it would accept any string that merely contains a match. Start it with ^ and end it with $.`,
    );
  }
  const risk = regexRisk(pattern.source, pattern.flags);
  if (risk !== undefined) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `${where}.pattern: ${String(pattern)} can take exponential time on a short string, because ${risk}. Rewrite it, for example /^[a-z0-9]+(-[a-z0-9]+)*$/.`,
    );
  }
  if (pattern.global || pattern.sticky) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
      `${where}.pattern: ${String(pattern)} has the g or y flag, which makes test() remember its position between calls. Remove the flag.`,
    );
  }
  return { minLength, maxLength, pattern };
}

/** Builds a slug check from resolved options (used for the `slug` format). */
export function slugChecker({
  minLength,
  maxLength,
  pattern,
}: ResolvedSlug): (value: unknown) => boolean {
  return (value) =>
    typeof value === 'string' &&
    value.length >= minLength &&
    value.length <= maxLength &&
    pattern.test(value);
}

const defaultSlug = slugChecker(DEFAULT_SLUG);

/**
 * True for a slug: by default 3 to 50 characters of `a-z A-Z 0-9 _`.
 * @throws {ValidatorsConfigError} when `options` are invalid.
 * @example isSlug('acme_corp') // true
 */
export function isSlug(value: unknown, options?: SlugOptions): boolean {
  return options === undefined
    ? defaultSlug(value)
    : slugChecker(resolveSlugOptions(options))(value);
}

const LOCAL_ATOM = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+$/;
const DOMAIN_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const TOP_LABEL = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

/**
 * Returns the address in lower case when it is a valid mailbox, otherwise `undefined`.
 * Lengths follow RFC 5321 (254 in all, 64 local part, 253 domain); the local part is a dot-atom
 * (no quoted strings, no comments), the domain a DNS host name with at least two labels and an
 * alphabetic or punycode top label. Non-ASCII addresses must arrive in punycode.
 * @example normalizeEmail('Ada@Example.COM') // 'ada@example.com'
 */
export function normalizeEmail(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 254 || value.length < 6) return undefined;
  const lower = value.toLowerCase();
  const at = lower.indexOf('@');
  if (at < 1 || at !== lower.lastIndexOf('@')) return undefined;
  const local = lower.slice(0, at);
  const domain = lower.slice(at + 1);
  if (local.length > 64 || domain.length > 253 || domain.length < 4) return undefined;
  for (const atom of local.split('.')) if (!LOCAL_ATOM.test(atom)) return undefined;
  const labels = domain.split('.');
  if (labels.length < 2) return undefined;
  for (const label of labels) if (!DOMAIN_LABEL.test(label)) return undefined;
  if (!TOP_LABEL.test(labels[labels.length - 1] as string)) return undefined;
  return lower;
}

/** True when `normalizeEmail` accepts the value. */
export function isEmail(value: unknown): boolean {
  return normalizeEmail(value) !== undefined;
}

/** Year bounds for dates. */
export interface DateOptions {
  /** Earliest year accepted. Default `1900`. */
  minYear?: number;
  /** Latest year accepted. Default: the current year + 100, read on each call. */
  maxYear?: number;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * Parses a calendar date `YYYY-MM-DD` into a `Date` at 00:00 UTC, or returns `undefined` when the
 * text is not that format, the day does not exist (`2023-02-29`) or the year is out of range.
 * @example parseDate('2024-02-29') // Date 2024-02-29T00:00:00.000Z
 */
export function parseDate(value: unknown, options: DateOptions = {}): Date | undefined {
  if (typeof value !== 'string' || value.length !== 10) return undefined;
  const match = DATE.exec(value);
  if (!match) return undefined;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  const minYear = options.minYear ?? 1900;
  const maxYear = options.maxYear ?? new Date().getUTCFullYear() + 100;
  if (year < minYear || year > maxYear || month < 1 || month > 12 || day < 1) return undefined;
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return date;
}

/** True when `parseDate` accepts the value. */
export function isDate(value: unknown, options?: DateOptions): boolean {
  return parseDate(value, options) !== undefined;
}

const API_KEY = /^[A-Za-z0-9_-]+$/;

/**
 * True for an API key in the expected shape: 32 to 512 characters of `A-Z a-z 0-9 _ -`.
 * Checks the shape only; whether the key is real is the authentication layer's job.
 * @example isApiKey('acme_api_' + 'x'.repeat(24)) // true
 */
export function isApiKey(value: unknown): boolean {
  return (
    typeof value === 'string' && value.length >= 32 && value.length <= 512 && API_KEY.test(value)
  );
}

const MAC_PLAIN = /^[0-9a-f]{12}$/;
const MAC_COLON = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
const MAC_DASH = /^[0-9a-f]{2}(?:-[0-9a-f]{2}){5}$/;

/**
 * Returns a MAC address as 12 lower-case hex digits, or `undefined`. Accepts `aabbccddeeff`,
 * `AA:BB:CC:DD:EE:FF` and `aa-bb-cc-dd-ee-ff`; mixed separators are refused.
 * @example normalizeMac('AA:BB:CC:DD:EE:FF') // 'aabbccddeeff'
 */
export function normalizeMac(value: unknown): string | undefined {
  if (typeof value !== 'string' || (value.length !== 12 && value.length !== 17)) return undefined;
  const lower = value.toLowerCase();
  if (MAC_PLAIN.test(lower)) return lower;
  if (MAC_COLON.test(lower) || MAC_DASH.test(lower)) return lower.replace(/[:-]/g, '');
  return undefined;
}

/** True when `normalizeMac` accepts the value. */
export function isMacAddress(value: unknown): boolean {
  return normalizeMac(value) !== undefined;
}

const METRIC_KEY = /^[A-Za-z][A-Za-z0-9_.:-]*$/;

/**
 * True for a metric key: 1 to 128 characters, a letter first, then letters, digits, `_ . : -`.
 * Bounded so a client cannot create unbounded series names or labels.
 * @example isMetricKey('sensor.temperature_c') // true
 */
export function isMetricKey(value: unknown): boolean {
  return (
    typeof value === 'string' && value.length >= 1 && value.length <= 128 && METRIC_KEY.test(value)
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/**
 * True for a UUID in canonical 8-4-4-4-12 form, versions 1 to 8 with the RFC 9562 variant.
 * The nil and max UUIDs are refused.
 * @example isUuid('0190d3d2-5f1c-7cc1-9b8e-4c2a0f9f6d11') // true
 */
export function isUuid(value: unknown): boolean {
  return typeof value === 'string' && value.length === 36 && UUID.test(value);
}

// 1 for A-Z a-z 0-9, 2 for `_` and `-`, by character code: the check runs on every request
// that carries a device id, and a loop over at most 64 characters costs less than a RegExp.
const DEVICE_ID_CHARS = new Uint8Array(128);
for (let code = 0; code < 128; code++) {
  const char = String.fromCharCode(code);
  if (/[A-Za-z0-9]/.test(char)) DEVICE_ID_CHARS[code] = 1;
  else if (char === '_' || char === '-') DEVICE_ID_CHARS[code] = 2;
}

/**
 * True for a device id: 1 to 64 characters of `A-Z a-z 0-9 _ -`, starting with a letter or digit.
 * Safe inside MQTT topics (no `/`, `+`, `#`), file names and log lines. The same strings as
 * `/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/`.
 * @example isDeviceId('f2-aabbccddeeff') // true
 */
export function isDeviceId(value: unknown): boolean {
  if (typeof value !== 'string' || value.length < 1 || value.length > 64) return false;
  const first = value.charCodeAt(0);
  if (first >= 128 || DEVICE_ID_CHARS[first] !== 1) return false;
  for (let i = 1; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 128 || DEVICE_ID_CHARS[code] === 0) return false;
  }
  return true;
}

// Characters that render as, or are treated by some system as, a path separator or a dot,
// and that NFKC does not fold into the ASCII ones.
const LOOKALIKES =
  /[\u2024\u2025\u2026\u2044\u2215\u2216\u29f5\u29f8\u29f9\ufe52\ufe68\uff0e\uff0f\uff3c]/u;
// Control (Cc), format (Cf: bidi overrides, zero-width), line/paragraph separators, and
// characters Windows refuses in names.
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}<>:"|?*%/\\]/u;
const WINDOWS_DEVICE = /^(?:con|prn|aux|nul|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³])(?:\.|$)/i;

/**
 * Returns the segment unchanged when it is safe to use as one file or directory name joined
 * under a base directory, otherwise `undefined`. It never rewrites input (stripping `../` from
 * `....//` yields `../`). Refused: empty, longer than `maxLength` UTF-8 bytes (default 255),
 * `.` and `..`, `/` and `\`, NUL and other control or invisible format characters, `%`
 * (double-encoded tricks), Windows-reserved characters and device names, leading or trailing
 * spaces, trailing dots, lone surrogates, text that changes under NFKC normalisation
 * (full-width `．．／`), and slash or dot lookalikes (`∕`, `⁄`, `․`).
 * @example safePathSegment('report-2024.pdf') // 'report-2024.pdf'
 * @example safePathSegment('..') // undefined
 */
export function safePathSegment(
  value: unknown,
  { maxLength = 255 }: { maxLength?: number } = {},
): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) return undefined;
  if (value === '.' || value === '..') return undefined;
  if (Buffer.byteLength(value, 'utf8') > maxLength) return undefined;
  if (FORBIDDEN.test(value) || LOOKALIKES.test(value)) return undefined;
  if (value.normalize('NFKC') !== value) return undefined;
  if (value.trim() !== value || value.endsWith('.')) return undefined;
  if (WINDOWS_DEVICE.test(value)) return undefined;
  return value;
}

/** True when `safePathSegment` accepts the value. */
export function isSafePathSegment(value: unknown): boolean {
  return safePathSegment(value) !== undefined;
}

/** Options for `oneOf`. */
export interface OneOfOptions {
  /** Match regardless of case (Unicode-aware lower-casing). Default `false`. */
  ignoreCase?: boolean;
}

/** A compiled allowlist: call it with a value to get the canonical entry or `undefined`. */
export interface Allowlist<T extends string> {
  (value: unknown): T | undefined;
  /** The entries, for JSON Schema `enum`. */
  readonly values: readonly T[];
}

/**
 * Compiles an allowlist once. Lookups use a `Map`, so `__proto__` or `constructor` are never
 * found through the prototype chain.
 * @throws {ValidatorsConfigError} `ERR_BULWARK_VALIDATORS_INVALID_ALLOWLIST` when the list is
 * empty, holds a non-string or empty string, or holds duplicates (after case folding).
 * @example
 * const provider = oneOf(['openai', 'anthropic', 'gemini'], { ignoreCase: true });
 * provider('OpenAI') // 'openai'
 * provider('ollama') // undefined
 */
export function oneOf<const T extends string>(
  allowlist: readonly T[],
  options: OneOfOptions = {},
): Allowlist<T> {
  if (!Array.isArray(allowlist) || allowlist.length === 0) {
    throw new ValidatorsConfigError(
      'ERR_BULWARK_VALIDATORS_INVALID_ALLOWLIST',
      `oneOf: ${describe(allowlist)} is not a usable allowlist. Pass a non-empty array of strings, such as oneOf(['aws', 'gcp']).`,
    );
  }
  const ignoreCase = options.ignoreCase === true;
  const entries = new Map<string, T>();
  for (const entry of allowlist) {
    if (typeof entry !== 'string' || entry.length === 0) {
      throw new ValidatorsConfigError(
        'ERR_BULWARK_VALIDATORS_INVALID_ALLOWLIST',
        `oneOf: the entry ${describe(entry)} is not a non-empty string. Allowlists hold non-empty strings only.`,
      );
    }
    const key = ignoreCase ? entry.toLowerCase() : entry;
    if (entries.has(key)) {
      throw new ValidatorsConfigError(
        'ERR_BULWARK_VALIDATORS_INVALID_ALLOWLIST',
        `oneOf: the entry ${describe(entry)} appears twice${ignoreCase ? ' (ignoring case)' : ''}. Remove the duplicate.`,
      );
    }
    entries.set(key, entry as T);
  }
  const longest = Math.max(...allowlist.map((entry) => entry.length));
  const check = (value: unknown): T | undefined => {
    if (typeof value !== 'string' || value.length > longest * 3) return undefined;
    return entries.get(ignoreCase ? value.toLowerCase() : value);
  };
  return Object.assign(check, { values: Object.freeze([...allowlist]) });
}
