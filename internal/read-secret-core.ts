// What readSecret shares between @bulwark/perimeter and @bulwark/rbac (both builds bundle it): its shape, reading the secret file, and the strength verdict.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The option names of `readSecret(name, options)`, the same in both packages. */
export const READ_SECRET_OPTIONS = [
  'minLength',
  'required',
  'production',
  'env',
  'logger',
  'appName',
] as const;

/** An environment variable name without the `_FILE` suffix, which readSecret adds itself. */
export function isSecretName(name: unknown): name is string {
  return (
    typeof name === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !name.endsWith('_FILE')
  );
}

/**
 * The variable names in `options` when it is a map of environment variables rather than options
 * (the `readSecret(name, env)` call of older `@bulwark/rbac` releases): an object whose keys are
 * all upper-case variable names, or that holds `name` or `name_FILE`, and names no option.
 * `undefined` for anything else, including `{}`, which is empty options.
 */
export function environmentKeys(name: string, options: unknown): string[] | undefined {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) return undefined;
  if (options === process.env) return [name];
  const keys = Object.keys(options);
  if (keys.length === 0) return undefined;
  if (keys.some((key) => (READ_SECRET_OPTIONS as readonly string[]).includes(key)))
    return undefined;
  const variables =
    keys.includes(name) ||
    keys.includes(`${name}_FILE`) ||
    keys.every((key) => /^[A-Z][A-Z0-9_]*$/.test(key));
  return variables ? keys : undefined;
}

/** The message that refuses an environment map passed where the options belong. */
export function environmentMessage(name: string, keys: readonly string[]): string {
  const shown = keys.slice(0, 3).join(', ') + (keys.length > 3 ? ', ...' : '');
  return `readSecret: the second argument is options, such as { required: true, minLength: 32 }, but it received a map of environment variables (${shown}). Pass the map as env: readSecret('${name}', { env: variables }), or leave options out to read process.env. Options: ${READ_SECRET_OPTIONS.join(', ')}.`;
}

const PLACEHOLDERS = new Set([
  'changeme',
  'changeit',
  'changethis',
  'secret',
  'secretkey',
  'mysecret',
  'supersecret',
  'topsecret',
  'password',
  'passw0rd',
  'pass',
  'default',
  'example',
  'test',
  'testing',
  'dev',
  'development',
  'local',
  'admin',
  'root',
  'token',
  'key',
  'apikey',
  'jwtsecret',
  'sessionsecret',
  'qwerty',
  'letmein',
  'todo',
  'fixme',
  'xxx',
  'null',
  'undefined',
  'none',
  'empty',
  'foo',
  'foobar',
  'abc',
  'abc123',
  '123456',
  '12345678',
  '123456789',
  '1234567890',
  'yoursecret',
  'yoursecretkey',
  'yourkey',
  'yourpassword',
  'replaceme',
  'notsecret',
]);
const PLACEHOLDER_PARTS = [
  'changeme',
  'changethis',
  'replaceme',
  'replacethis',
  'yoursecret',
  'yourkey',
  'yourpassword',
  'placeholder',
  'insecure',
  'notsecret',
  'dummy',
  'example',
  'sample',
  'fixme',
];

export type SecretWeakness = 'missing' | 'placeholder' | 'short' | 'low-variety' | 'guessable';

/** Words a guesser tries for a secret, beyond the app's and the variable's own names. */
export interface SecretContext {
  /** The variable's name (`JWT_SECRET`); its parts (`jwt`, `secret`) count as guessable words. */
  name?: string;
  /**
   * The app's name; its parts count as guessable words. Default: the `name` in the
   * `package.json` of the working directory.
   */
  appName?: string;
}

/**
 * Fewest guesses, as a power of two, a secret must need. A guesser that knows the patterns below
 * and makes 10^12 tries a second gets through about 2^65 in a year; the estimate only sees the
 * patterns it knows, so the bar stands well above that. Base64 or hex of 32 random bytes is
 * estimated at 200 or more. A `minLength` under 25 lowers the bar to 4 bits a character, so a
 * short random value the caller asked to accept is not refused for its length after all.
 */
const MIN_GUESS_BITS = 100;
const requiredBits = (minLength: number) => Math.min(MIN_GUESS_BITS, 4 * minLength);

// A short list of what people build secrets from: the words of the trade, deployment words, the
// most common password words, and small words that join them into phrases.
const WORDS = new Set(
  `secret secrets key keys token tokens jwt jws jwe jwk hmac hash salt pepper sign signing
  signature session sessions cookie cookies auth oauth authentication authorization api apikey
  access refresh private public crypto encrypt encryption cipher password passwd passphrase pass
  pwd credential credentials login logon admin administrator root user users guest account
  app apps application service services server backend frontend web website site client
  database data prod production staging stage dev develop development test testing tests qa uat
  live local localhost env environment config configuration setting settings internal external
  master main default company corp corporate team project demo sample example temp tmp new old
  very super strong long random safe secure security unique real final version please change
  replace this that not dont use here only just mine your our the for and with from into
  iot device devices sensor sensors telemetry mqtt broker tenant tenants customer customers
  operator platform cloud aws azure gcp google docker kubernetes node express react angular
  django rails laravel spring flask nest next linux windows apple microsoft github gitlab
  letmein welcome hello hi love iloveyou monkey dragon shadow sunshine princess football
  baseball soccer hockey superman batman trustno freedom whatever michael charlie jordan
  hunter ranger killer summer winter autumn money abc qwerty azerty qwertz asdf zxcvbn
  one two three four five six seven eight nine ten hundred thousand first second third
  january february march april may june july august september october november december
  monday tuesday wednesday thursday friday saturday sunday today tomorrow year month day
  red blue green black white yellow orange purple silver gold golden diamond star stars
  north south east west world earth home house office work job business bank pay payment shop
  store market cat dog lion tiger bear eagle wolf fox horse fish bird cherry banana lemon
  coffee tea pizza beer water fire ice rock stone wind light dark night morning evening time
  good bad best better big small little happy lucky magic power energy rocket ninja pirate
  king queen prince god angel devil heaven hell life death peace war game games player`
    .split(/\s+/)
    .filter(Boolean),
);
const WORD_BITS = Math.log2(WORDS.size);
const LONGEST_WORD = Math.max(...[...WORDS].map((w) => w.length));
// Names the guesser knows: the app's and the variable's own.
const CONTEXT_BITS = 2;
// Characters that join parts of a phrase.
const SEPARATORS = new Set(' -_.:/+|,;~');
const SEPARATOR_BITS = 2;
// Digits and symbols read as the letters they look like.
const LEET: Record<string, string> = {
  '0': 'o',
  '1': 'i',
  '3': 'e',
  '4': 'a',
  '5': 's',
  '7': 't',
  '8': 'b',
  '9': 'g',
  '@': 'a',
  $: 's',
  '!': 'i',
  '|': 'l',
  '+': 't',
};
// The rows and columns of a US keyboard, unshifted and shifted: a walk along one is a keyboard walk.
const KEYBOARD_LINES = [
  '`1234567890-=',
  '~!@#$%^&*()_+',
  'qwertyuiop[]\\',
  'qwertyuiop{}|',
  "asdfghjkl;'",
  'asdfghjkl:"',
  'zxcvbnm,./',
  'zxcvbnm<>?',
  '1qaz',
  '2wsx',
  '3edc',
  '4rfv',
  '5tgb',
  '6yhn',
  '7ujm',
  '8ik,',
  '9ol.',
  '0p;/',
  '!qaz',
  '@wsx',
  '#edc',
  '$rfv',
  '%tgb',
  '^yhn',
  '&ujm',
  '*ik<',
  '(ol>',
  ')p:?',
];
const KEYBOARD_BITS = Math.log2(2 * KEYBOARD_LINES.reduce((n, line) => n + line.length, 0));
const KEY_POSITIONS = new Map<string, [line: number, index: number][]>();
KEYBOARD_LINES.forEach((line, l) => {
  for (let i = 0; i < line.length; i++) {
    const at = KEY_POSITIONS.get(line[i]!) ?? [];
    at.push([l, i]);
    KEY_POSITIONS.set(line[i]!, at);
  }
});
// Longer secrets are judged by their beginning; the estimate only grows with more characters.
const MAX_ESTIMATED = 1024;

type PatternKind = 'word' | 'name' | 'sequence' | 'keyboard' | 'repeat' | 'year' | 'separator';

const PATTERN_TEXT: Record<PatternKind, string> = {
  word: 'common words',
  name: "the app's or the variable's own name",
  sequence: 'a sequence such as abc or 123',
  keyboard: 'a keyboard walk such as qwerty',
  repeat: 'a repeated part',
  year: 'a year',
  separator: 'separators between words',
};

/**
 * The lowercase parts of 3 or more letters and digits in a name, and all of them joined:
 * `@acme/iot-api` gives acme, iot, api and acmeiotapi; `JWT_SECRET` gives jwt, secret, jwtsecret.
 */
function nameWords(name: string | undefined): string[] {
  if (!name) return [];
  const parts = name
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((p) => p.length >= 3);
  const joined = parts.join('');
  return joined.length > 0 && parts.length > 1 ? [...parts, joined] : parts;
}

let packageNameCache: { cwd: string; name: string | undefined } | undefined;

/** The `name` of the working directory's package.json, read once per directory. */
function packageName(): string | undefined {
  const cwd = process.cwd();
  if (packageNameCache?.cwd !== cwd) {
    let name: string | undefined;
    try {
      const parsed: unknown = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8'));
      const field = (parsed as { name?: unknown } | null)?.name;
      if (typeof field === 'string') name = field;
    } catch {
      // No package.json, or not JSON: there is simply no app name to add to the guesses.
    }
    packageNameCache = { cwd, name };
  }
  return packageNameCache.name;
}

function cardinality(value: string): number {
  let lower = false;
  let upper = false;
  let digit = false;
  let symbol = false;
  let other = false;
  for (const ch of value) {
    if (ch >= 'a' && ch <= 'z') lower = true;
    else if (ch >= 'A' && ch <= 'Z') upper = true;
    else if (ch >= '0' && ch <= '9') digit = true;
    else if (ch >= ' ' && ch <= '~') symbol = true;
    else other = true;
  }
  return (
    (lower ? 26 : 0) + (upper ? 26 : 0) + (digit ? 10 : 0) + (symbol ? 33 : 0) + (other ? 100 : 0)
  );
}

/** Bits for the capitals of a letter run: none 0, `Word` or `WORD` 1, else 1 per capital and 1. */
function capitalBits(text: string): number {
  let capitals = 0;
  let letters = 0;
  for (const ch of text) {
    if (ch >= 'A' && ch <= 'Z') capitals++;
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')) letters++;
  }
  if (capitals === 0) return 0;
  if (capitals === letters || (capitals === 1 && text[0]! >= 'A' && text[0]! <= 'Z')) return 1;
  return capitals + 1;
}

/** `text` with look-alike digits and symbols read as letters, `1` as `one`; same length. */
function unleet(text: string, one: 'i' | 'l'): string {
  let out = '';
  for (const ch of text) out += ch === '1' ? one : (LEET[ch] ?? ch);
  return out;
}

const reverse = (text: string) => [...text].reverse().join('');
const REVERSED_WORDS = new Set([...WORDS].map(reverse));

export interface Estimate {
  bits: number;
  patterns: PatternKind[];
}

/**
 * Estimates, in bits, how many guesses `value` takes for a guesser that tries common words and
 * the given names (also capitalised, reversed or with look-alike digits), sequences, keyboard
 * walks, repeats, years and separators, and brute force for the rest: the cheapest way to spell
 * the value out of those parts. Characters it cannot explain cost log2 of the character set each.
 */
function estimateGuessBits(value: string, names: ReadonlySet<string>): Estimate {
  const text = value.slice(0, MAX_ESTIMATED);
  // ASCII only, so every index still points at the same character.
  const lower = text.replace(/[A-Z]/g, (c) => c.toLowerCase());
  const n = text.length;
  const asLetters = { i: unleet(lower, 'i'), l: unleet(lower, 'l') };
  // lookalikes[k]: how many of the first k characters are look-alikes.
  const lookalikes = [0];
  for (let k = 0; k < n; k++) {
    lookalikes.push(lookalikes[k]! + (lower[k] === '1' || LEET[lower[k]!] !== undefined ? 1 : 0));
  }
  const reversedNames = new Set([...names].map(reverse));
  const longest = Math.max(LONGEST_WORD, ...[...names].map((w) => w.length));
  const charBits = Math.log2(Math.max(cardinality(text), 2));
  const best = new Array<number>(n + 1).fill(Number.POSITIVE_INFINITY);
  const via = new Array<{ from: number; kind: PatternKind | undefined }>(n + 1);
  best[0] = 0;
  const offer = (from: number, to: number, bits: number, kind: PatternKind | undefined) => {
    const total = best[from]! + bits;
    if (total < best[to]!) {
      best[to] = total;
      via[to] = { from, kind };
    }
  };
  const trigrams = new Map<string, number[]>();

  for (let i = 0; i < n; i++) {
    const ch = text[i]!;
    offer(
      i,
      i + 1,
      SEPARATORS.has(ch) ? SEPARATOR_BITS : charBits,
      SEPARATORS.has(ch) ? 'separator' : undefined,
    );

    // Words and names, as written, reversed, or with look-alikes.
    for (let len = 3; len <= longest && i + len <= n; len++) {
      const end = i + len;
      const slice = lower.slice(i, end);
      const replaced = lookalikes[end]! - lookalikes[i]!;
      let base: number | undefined;
      let kind: PatternKind = 'word';
      if (names.has(slice) || reversedNames.has(slice)) {
        base = CONTEXT_BITS + (names.has(slice) ? 0 : 1);
        kind = 'name';
      } else if (WORDS.has(slice) || REVERSED_WORDS.has(slice)) {
        base = WORD_BITS + (WORDS.has(slice) ? 0 : 1);
      } else if (replaced > 0) {
        const asI = asLetters.i.slice(i, end);
        const asL = asLetters.l.slice(i, end);
        if (names.has(asI) || names.has(asL)) {
          base = CONTEXT_BITS + replaced;
          kind = 'name';
        } else if (WORDS.has(asI) || WORDS.has(asL)) {
          base = WORD_BITS + replaced;
        }
      }
      if (base !== undefined) offer(i, end, base + capitalBits(text.slice(i, end)), kind);
    }

    // Years 1900 to 2099.
    if (i + 4 <= n && /^(19|20)\d\d$/.test(text.slice(i, i + 4)))
      offer(i, i + 4, Math.log2(200), 'year');

    // Sequences: letters or digits stepping by one, either way (abc, 987, XYZ).
    for (const step of [1, -1]) {
      let end = i + 1;
      while (
        end < n &&
        sameClass(lower[end - 1]!, lower[end]!) &&
        lower.charCodeAt(end) - lower.charCodeAt(end - 1) === step
      )
        end++;
      for (let to = i + 3; to <= end; to++) {
        const digits = lower[i]! >= '0' && lower[i]! <= '9';
        offer(
          i,
          to,
          Math.log2(digits ? 10 : 26) + 1 + Math.log2(to - i) + capitalBits(text.slice(i, to)),
          'sequence',
        );
      }
    }

    // Keyboard walks along one row or column, either way.
    for (const [line, index] of KEY_POSITIONS.get(lower[i]!) ?? []) {
      const keys = KEYBOARD_LINES[line]!;
      for (const step of [1, -1]) {
        let len = 1;
        while (i + len < n && keys[index + step * len] === lower[i + len]) len++;
        for (let to = i + 3; to <= i + len; to++) {
          offer(
            i,
            to,
            KEYBOARD_BITS + Math.log2(to - i) + capitalBits(text.slice(i, to)),
            'keyboard',
          );
        }
      }
    }

    // Repeats of an earlier part (overlapping too, so aaaa and abab are repeats).
    if (i + 3 <= n) {
      const gram = text.slice(i, i + 3);
      const earlier = trigrams.get(gram) ?? [];
      let longest = 0;
      for (let e = earlier.length - 1; e >= Math.max(0, earlier.length - 16); e--) {
        const k = earlier[e]!;
        let len = 3;
        while (i + len < n && text[k + len] === text[i + len]) len++;
        longest = Math.max(longest, len);
      }
      for (let to = i + 3; to <= i + longest; to++)
        offer(i, to, Math.log2(i) + Math.log2(to - i), 'repeat');
      earlier.push(i);
      trigrams.set(gram, earlier);
    }
  }

  const patterns = new Set<PatternKind>();
  for (let at = n; at > 0; at = via[at]!.from) {
    const kind = via[at]!.kind;
    if (kind) patterns.add(kind);
  }
  const order = Object.keys(PATTERN_TEXT) as PatternKind[];
  return { bits: best[n]!, patterns: order.filter((kind) => patterns.has(kind)) };
}

function sameClass(a: string, b: string): boolean {
  const digit = (c: string) => c >= '0' && c <= '9';
  const letter = (c: string) => c >= 'a' && c <= 'z';
  return (digit(a) && digit(b)) || (letter(a) && letter(b));
}

/** The names a guesser would try for this secret: the variable's parts and the app's. */
function contextNames(context: SecretContext): Set<string> {
  return new Set([...nameWords(context.name), ...nameWords(context.appName ?? packageName())]);
}

/**
 * Why `value` is not fit to be a secret, or `undefined` when it is. Never echoes the value.
 * `guessable`: built from words, names, sequences, keyboard walks, repeats or years, so a
 * guesser would find it in fewer than 2^100 tries (2^(4 × minLength) when `minLength` is under 25).
 */
export function secretWeakness(
  value: string | undefined,
  minLength = 32,
  context: SecretContext = {},
): SecretWeakness | undefined {
  return judgeSecret(value, minLength, context)?.weakness;
}

/** The weakness of `value` with the estimate behind a `guessable` verdict, for a message. */
export function judgeSecret(
  value: string | undefined,
  minLength: number,
  context: SecretContext,
): { weakness: SecretWeakness; estimate?: Estimate } | undefined {
  const simple = simpleWeakness(value, minLength);
  if (simple) return { weakness: simple };
  const estimate = estimateGuessBits(value!, contextNames(context));
  return estimate.bits < requiredBits(minLength) ? { weakness: 'guessable', estimate } : undefined;
}

function simpleWeakness(value: string | undefined, minLength: number): SecretWeakness | undefined {
  if (value === undefined || value.trim() === '') return 'missing';
  const normalized = value.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (
    PLACEHOLDERS.has(normalized) ||
    PLACEHOLDER_PARTS.some((part) => normalized.includes(part)) ||
    /^<.*>$|^\$\{.*\}$|^\{\{.*\}\}$/.test(value.trim())
  ) {
    return 'placeholder';
  }
  if (value.length < minLength) return 'short';
  if (new Set(value).size < 8) return 'low-variety';
  return undefined;
}

/** The command that makes a good secret, appended to every weakness message. */
export const SECRET_FIX =
  "Generate one with: node -e \"console.log(require('node:crypto').randomBytes(32).toString('base64url'))\"";

/** Why the secret in variable `name` was refused, in prose; never the value. */
export function describeWeakness(
  name: string,
  weakness: SecretWeakness,
  length: number,
  minLength: number,
  estimate: Estimate | undefined,
): string {
  switch (weakness) {
    case 'guessable': {
      const parts = estimate?.patterns.map((kind) => PATTERN_TEXT[kind]).join(', ');
      const tries = `a guesser would need about 2^${Math.floor(estimate?.bits ?? 0)} tries, and at least 2^${requiredBits(minLength)} are required`;
      return parts
        ? `${name} is built from guessable parts (${parts}): ${tries}. ${SECRET_FIX}`
        : `${name} is too short for the characters it uses: ${tries}. ${SECRET_FIX}`;
    }
    case 'placeholder':
      return `${name} is a known placeholder or default value. ${SECRET_FIX}`;
    case 'short':
      return `${name} is ${length} characters; at least ${minLength} are required. ${SECRET_FIX}`;
    case 'low-variety':
      return `${name} repeats too few distinct characters to be random. ${SECRET_FIX}`;
    default:
      return `${name} is empty. Set ${name}_FILE to a file holding the secret, or ${name}. ${SECRET_FIX}`;
  }
}

/** What reading a `NAME_FILE` secret found: the trimmed value, and the file's mode when it is too open. */
export interface SecretFile {
  text: string;
  /** Set (as `0644`-style octal) when group or others may read or change the file, off Windows. */
  looseMode?: string;
  /** The warning to give for `looseMode`, naming the variable and the fix, never the value. */
  looseMessage?: string;
}

/**
 * Reads the secret file named by `NAME_FILE`. On failure calls `unreadable(variable, code)`,
 * which must throw the package's own configuration error.
 */
export function readSecretFile(
  name: string,
  file: string,
  unreadable: (variable: string, code: string) => never,
): SecretFile {
  const variable = `${name}_FILE`;
  let mode: number;
  let text: string;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    mode = stat.mode;
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return unreadable(variable, (err as NodeJS.ErrnoException).code ?? 'EIO');
  }
  if (process.platform === 'win32' || (mode & 0o077) === 0) return { text: text.trim() };
  const looseMode = (mode & 0o777).toString(8).padStart(4, '0');
  return {
    text: text.trim(),
    looseMode,
    looseMessage: `readSecret: the file named by ${variable} has mode ${looseMode}, so other users ${(mode & 0o044) !== 0 ? 'can read' : 'can change'} it. Run chmod 600 on it (owner only).`,
  };
}
