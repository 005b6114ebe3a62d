// Deep, non-mutating, cycle-safe redaction of secrets by key name and by value shape.
import { Agent, IncomingMessage, OutgoingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describeValue, ErrorHandlerConfigError, invalidOption } from './config.js';
import type { RedactOptions } from './types.js';

/**
 * Key names always redacted. A key is compared by its words (split at `-`, `_`, `.`, spaces and
 * camelCase humps, lowercased, a trailing number dropped), so `X-Api-Key`, `x_api_key` and
 * `xApiKey` are the same key.
 */
export const DEFAULT_REDACT_KEYS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'password',
  'passwd',
  'pwd',
  'pw',
  'pass',
  'passphrase',
  'passcode',
  'otp',
  'secret',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'jwt',
  'api_key',
  'apikey',
  'x-api-key',
  'client_secret',
  'private_key',
  'pepper',
  'signature',
  'sig',
  'hmac',
  'credentials',
  'session_id',
  'auth',
];

// A key whose words, joined, end in one of these is secret too: dbPassword, x-auth-token,
// clientSecret, sessionCookie, secretAccessKey, SECRET_KEY, apiKeyPepper, X-Hub-Signature-256.
// `max_tokens` or `token_count` do not end in one.
const SECRET_SUFFIXES = [
  'password',
  'passwd',
  'passphrase',
  'passcode',
  'secret',
  'token',
  'jwt',
  'apikey',
  'privatekey',
  'secretkey',
  'accesskey',
  'signingkey',
  'encryptionkey',
  'sessionkey',
  'pepper',
  'signature',
  'hmac',
  'authorization',
  'cookie',
  'credential',
  'credentials',
];

// Short names that are secret only as a whole last word (`dbPw`, `user_otp`, `url-sig`), since as
// a suffix of letters they end ordinary words (`bypass`, `compass`).
const SECRET_LAST_WORDS = new Set(['pw', 'pwd', 'pass', 'otp', 'totp', 'hotp', 'sig']);

// Words that say how a secret is held, not what it is: a key ending in one is judged without it,
// so `secretValue`, `privateKeyPem`, `passwordHash`, `tokenB64` and `authCode` are secret while
// `errorCode` and `statusCode` are not.
const QUALIFIER_WORDS = new Set([
  'value',
  'pem',
  'der',
  'b64',
  'base64',
  'hex',
  'raw',
  'bytes',
  'buffer',
  'string',
  'text',
  'plain',
  'plaintext',
  'data',
  'hash',
  'code',
]);

const KEY_WORD = /[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+/g;

/** The words of a key name, lowercased, without a trailing number. */
function keyWords(key: string): string[] {
  const words = (key.match(KEY_WORD) ?? []).map((word) => word.toLowerCase());
  while (words.length > 1 && /^[0-9]+$/.test(words[words.length - 1]!)) words.pop();
  return words;
}

const normaliseKey = (key: string) => keyWords(key).join('');
const DEFAULT_KEY_SET = new Set(DEFAULT_REDACT_KEYS.map(normaliseKey));

// Query parameters that carry a secret only in a URL: an OAuth authorization code or assertion, a
// CAS ticket, a SAML response, an API key (`?key=`). Secret-named parameters (`access_token`,
// `sig`, `X-Amz-Signature`, `X-Amz-Security-Token`) are covered by the key rules.
const QUERY_SECRETS =
  /([?&;])(code|code_verifier|assertion|client_assertion|ticket|samlresponse|samlart|key)=[^&#\s"'<>]+/gi;

// A password in a URL may contain `/` (`postgres://u:pa/ss@db/app`), so it runs to the `@`; a
// number right after the host, followed by a path, is a port (`http://localhost:3000/users/a@b`).
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]{0,30}:\/\/)([^\s:@/?#"'<>]*):([^\s@"'<>]*)@/gi;
const PORT_AND_PATH = /^[0-9]{1,5}(?:[/?#]|$)/;

type Replacer = (match: string, ...groups: string[]) => string;

/** The value shapes always redacted inside strings, with what each match becomes. */
function defaultShapes(replacement: string): Array<readonly [RegExp, string | Replacer]> {
  // As a replacement string `$` is special; a custom replacement is written as given.
  const literal = replacement.replace(/\$/g, '$$$$');
  const hide = (to: string) => to.replace('[REDACTED]', () => literal);
  return [
    // PEM blocks, also when cut off before their END line.
    [/-----BEGIN ([A-Z0-9 ]{1,64})-----[\s\S]*?(?:-----END \1-----|$)/g, hide('[REDACTED]')],
    // Credentials inside URLs: scheme://user:password@host keeps the user.
    [
      URL_CREDENTIALS,
      (match, scheme, user, password) =>
        PORT_AND_PATH.test(password!) ? match : `${scheme}${user}:${replacement}@`,
    ],
    // Authorization schemes.
    [/\bBearer\s+[A-Za-z0-9\-._~+/]+=*/gi, hide('Bearer [REDACTED]')],
    [
      /\bBasic\s+(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*[a-z0-9+/])[A-Za-z0-9+/]{6,}=*/g,
      hide('Basic [REDACTED]'),
    ],
    // JWT (JWS and JWE compact forms): base64url of '{"' starts every header.
    [/\beyJ[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){2,4}/g, hide('[REDACTED]')],
    // Raw header lines (a request's or response's head quoted in a message): the rest of the line.
    [
      /(?<![\w-])((?:proxy-)?authorization|(?:set-)?cookie)([ \t]*:[ \t]*)[^\s][^\r\n]*/gi,
      hide('$1$2[REDACTED]'),
    ],
    [QUERY_SECRETS, hide('$1$2=[REDACTED]')],
    // Bulwark API keys (@bulwark/rbac): bwk_<12-character public prefix>_<secret>. The prefix only
    // names the key, and is what support needs to find it.
    [/\bbwk_([A-Za-z0-9]{12})_[A-Za-z0-9]+/g, hide('bwk_$1_[REDACTED]')],
    [/\bbwk_[A-Za-z0-9_]{20,}/g, hide('[REDACTED]')],
    // Well-known token formats.
    [/\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/g, hide('[REDACTED]')],
    [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, hide('[REDACTED]')],
    [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, hide('[REDACTED]')],
    [/\b[rs]k_(?:live|test)_[A-Za-z0-9]{10,}/g, hide('[REDACTED]')],
    [/\bAIza[0-9A-Za-z_-]{35}/g, hide('[REDACTED]')],
    [/\bnpm_[A-Za-z0-9]{36}\b/g, hide('[REDACTED]')],
  ];
}

// key=value and "key": "value" pairs in text: connection strings, query strings, environment
// dumps, JSON in messages, also JSON escaped inside a string (`{\"password\":\"x\"}`). The key is
// judged by the same rules as an object key. A key starts where a run of key characters starts,
// so a long run of them is tried once, not at each of its positions.
const PAIR_KEY = /((?:\\?["'])?)(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]+)\1(\s*[:=]\s*)/g;
// The same, for the built-in rules only: a key without one of these word stems cannot be secret,
// so it is passed over inside the regex.
const BUILT_IN_PAIR_KEY =
  /((?:\\?["'])?)(?<![A-Za-z0-9_.-])(?=[A-Za-z0-9_.-]*?(?:pass|pw|secret|token|key|credential|auth|cookie|session|pepper|jwt|sig|hmac|otp))([A-Za-z0-9_.-]+)\1(\s*[:=]\s*)/gi;
const PAIR_VALUE = /(\\")(?:[^"\\]|\\[^"])*\\"|(")(?:[^"\\]|\\.)*"|(')[^']*'|[^\s"'&,;]+/y;

// `readSecret: the file named by JWT_SECRET_FILE could not be read` is a sentence, not a pair:
// after an unquoted `key: `, one of these words, or an environment variable's name, followed by
// more words is kept. Anything else there is a value, and hidden.
const PROSE_WORDS = new Set([
  'a',
  'an',
  'the',
  'this',
  'that',
  'these',
  'those',
  'it',
  'its',
  'they',
  'their',
  'both',
  'neither',
  'either',
  'each',
  'every',
  'all',
  'any',
  'some',
  'no',
  'none',
  'not',
]);
const VARIABLE_NAME = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/;
const MORE_WORDS = /^ [A-Za-z]/;

function isProse(text: string, separator: string, value: string, end: number): boolean {
  if (!/^\s*:\s/.test(separator)) return false;
  if (!PROSE_WORDS.has(value.toLowerCase()) && !VARIABLE_NAME.test(value)) return false;
  return MORE_WORDS.test(text.slice(end, end + 2));
}

// Every built-in shape and secret key contains one of these; a string with none of them skips the
// scan, which keeps redaction cheap for the ids, routes and numbers most log lines are made of.
export const SHAPE_TRIGGER =
  /-----BEGIN|:\/\/|bearer|basic|eyJ|pass|pw|secret|token|key|credential|auth|cookie|session|pepper|jwt|sig|hmac|otp|code|assertion|ticket|saml|gh[pousr]_|github_pat_|AKIA|ASIA|xox|[rs]k_|AIza|npm_|bwk_/i;

// SHAPE_TRIGGER tries its 32 alternatives at every position of a string, which makes it cost more
// than anything else in redacting an access line. Every alternative contains one of these pairs
// of characters (compared without case): `--` (-----BEGIN), `:/` (://), `be` (bearer), `as`
// (basic), `ey` (eyJ, key), `ss` (pass, session, assertion), `pw`, `cr` (secret, credential),
// `ok` (token, cookie), `au` (auth), `ep` (pepper), `jw` (jwt), `ig` (sig), `hm` (hmac), `tp`
// (otp), `od` (code), `ti` (ticket), `am` (saml), `gh` (gh?_), `b_` (github_pat_), `ak` (AKIA),
// `ia` (ASIA), `xo` (xox), `k_` (rk_, sk_, bwk_), `iz` (AIza), `m_` (npm_). A string without any of
// them cannot match the pattern, and one pass over its characters says so. The pairs were chosen
// to be rare in UUIDs, ISO timestamps, IP addresses, numbers, URL paths and User-Agent strings.
const TRIGGER_PAIRS = [
  '--',
  ':/',
  'be',
  'as',
  'ey',
  'ss',
  'pw',
  'cr',
  'ok',
  'au',
  'ep',
  'jw',
  'ig',
  'hm',
  'tp',
  'od',
  'ti',
  'am',
  'gh',
  'b_',
  'ak',
  'ia',
  'xo',
  'k_',
  'iz',
  'm_',
];
// 1 at (first << 7 | second) for each pair, both characters lower-case ASCII.
const PAIR_TABLE = new Uint8Array(128 * 128);
for (const pair of TRIGGER_PAIRS) PAIR_TABLE[(pair.charCodeAt(0) << 7) | pair.charCodeAt(1)] = 1;
// ASCII lower-casing, as the pattern's `i` flag compares ASCII letters.
const FOLD = new Uint8Array(128);
for (let code = 0; code < 128; code++) FOLD[code] = code >= 65 && code <= 90 ? code + 32 : code;

/**
 * False only when `text` cannot match SHAPE_TRIGGER: it has none of TRIGGER_PAIRS. The pattern
 * is ASCII and has no `u` flag, so its `i` flag never matches a non-ASCII character (not even
 * the Kelvin sign to `k`); a non-ASCII character here breaks a pair as it breaks a match.
 */
export function mayTrigger(text: string): boolean {
  let previous = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const folded = code < 128 ? FOLD[code]! : 0;
    if (PAIR_TABLE[(previous << 7) | folded] === 1) return true;
    previous = folded;
  }
  return false;
}

const BODY_PARSER_TYPES = /^(entity|request|charset|encoding|parameters|stream|querystring)\./;

interface Compiled {
  keySet: ReadonlySet<string>;
  /** Verdicts for keys already seen; log lines repeat the same few keys. */
  keyCache: Map<string, boolean>;
  /** Long texts redaction left as they were (see `scannedClean`). */
  cleanTexts: Set<string>;
  cleanChars: number;
  /** The clean text found or kept last: compared first, which costs less than a lookup. */
  lastClean: string;
  /** Keys or shapes given by the user, which the trigger test cannot know about. */
  alwaysScan: boolean;
  keyPatterns: readonly RegExp[];
  shapes: ReadonlyArray<readonly [RegExp, string | Replacer]>;
  customShapes: ReadonlyArray<readonly [RegExp, string]>;
  replacement: string;
  maxDepth: number;
  maxArrayLength: number;
  maxStringLength: number;
}

const KNOWN = ['keys', 'patterns', 'replacement', 'maxDepth', 'maxArrayLength', 'maxStringLength'];

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    invalidOption('redact', name, value, `Use a positive integer, such as ${fallback}.`);
  }
  return value;
}

/** Validates redaction options once; the result is reused for every value. */
export function compileRedaction(options: RedactOptions = {}): Compiled {
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key)) {
      throw new ErrorHandlerConfigError(
        'ERR_BULWARK_ERRORS_UNKNOWN_OPTION',
        `redact: unknown option "${key}". Known options: ${KNOWN.join(', ')}.`,
      );
    }
  }
  const keys = options.keys ?? [];
  if (!Array.isArray(keys))
    invalidOption(
      'redact',
      'keys',
      keys,
      'Pass an array of key names or RegExps, such as ["ssn"].',
    );
  const keySet = new Set(DEFAULT_KEY_SET);
  const keyPatterns: RegExp[] = [];
  for (const key of keys) {
    if (typeof key === 'string' && key.trim() !== '') keySet.add(normaliseKey(key));
    else if (key instanceof RegExp)
      keyPatterns.push(new RegExp(key.source, key.flags.replace(/[gy]/g, '')));
    else {
      throw new ErrorHandlerConfigError(
        'ERR_BULWARK_ERRORS_REDACT_KEY',
        `redact: keys: ${describeValue(key)} is not a key name. Use a non-empty string such as "ssn" or a RegExp such as /^x-internal-/i.`,
      );
    }
  }
  const patterns = options.patterns ?? [];
  if (!Array.isArray(patterns))
    invalidOption(
      'redact',
      'patterns',
      patterns,
      'Pass an array of RegExps, such as [/\\bacct_[0-9]+/].',
    );
  const customShapes: Array<readonly [RegExp, string]> = [];
  const replacement = options.replacement ?? '[REDACTED]';
  if (typeof replacement !== 'string')
    invalidOption('redact', 'replacement', replacement, 'Use a string such as "[REDACTED]".');
  const literal = replacement.replace(/\$/g, '$$$$');
  for (const pattern of patterns) {
    if (!(pattern instanceof RegExp) || pattern.test('')) {
      throw new ErrorHandlerConfigError(
        'ERR_BULWARK_ERRORS_REDACT_PATTERN',
        `redact: patterns: ${describeValue(pattern)} is not usable. Pass a RegExp that does not match the empty string, such as /\\bacct_[0-9]+/.`,
      );
    }
    // Always global, so every occurrence in a string is replaced.
    customShapes.push([
      new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`),
      literal,
    ]);
  }
  return {
    keySet,
    keyCache: new Map(),
    cleanTexts: new Set(),
    cleanChars: 0,
    lastClean: '',
    alwaysScan: patterns.length > 0 || keys.length > 0,
    keyPatterns,
    shapes: defaultShapes(replacement),
    customShapes,
    replacement,
    maxDepth: positiveInteger('maxDepth', options.maxDepth, 10),
    maxArrayLength: positiveInteger('maxArrayLength', options.maxArrayLength, 100),
    maxStringLength: positiveInteger('maxStringLength', options.maxStringLength, 10_000),
  };
}

function classifyKey(key: string, c: Compiled): boolean {
  const words = keyWords(key);
  // The whole key first, then without each qualifier word at its end.
  for (let end = words.length; end > 0; end--) {
    const joined = words.slice(0, end).join('');
    if (c.keySet.has(joined)) return true;
    for (const suffix of SECRET_SUFFIXES) if (joined.endsWith(suffix)) return true;
    if (SECRET_LAST_WORDS.has(words[end - 1]!)) return true;
    if (end === 1 || !QUALIFIER_WORDS.has(words[end - 1]!)) break;
  }
  for (const pattern of c.keyPatterns) if (pattern.test(key)) return true;
  return false;
}

function isSecretKey(key: string, c: Compiled): boolean {
  let secret = c.keyCache.get(key);
  if (secret === undefined) {
    secret = classifyKey(key, c);
    // Bounded, so keys made from data (ids used as keys) cannot grow it without limit.
    if (c.keyCache.size < 5_000) c.keyCache.set(key, secret);
  }
  return secret;
}

function replaceAll(text: string, shapes: Compiled['shapes']): string {
  let out = text;
  for (const [pattern, to] of shapes) {
    pattern.lastIndex = 0;
    if (pattern.test(out)) {
      pattern.lastIndex = 0;
      out = typeof to === 'string' ? out.replace(pattern, to) : out.replace(pattern, to);
    }
  }
  return out;
}

/** Hides the value of every `key=value` or `key: value` pair in `text` whose key is secret. */
function redactPairs(text: string, c: Compiled): string {
  let out = '';
  let copied = 0;
  const pairKey = c.alwaysScan ? PAIR_KEY : BUILT_IN_PAIR_KEY;
  pairKey.lastIndex = 0;
  for (let match = pairKey.exec(text); match !== null; match = pairKey.exec(text)) {
    const [, quote, key, separator] = match as unknown as [string, string, string, string];
    if (!isSecretKey(key, c)) continue;
    const start = pairKey.lastIndex;
    PAIR_VALUE.lastIndex = start;
    const value = PAIR_VALUE.exec(text);
    if (value === null) continue;
    const end = PAIR_VALUE.lastIndex;
    const valueQuote = value[1] ?? value[2] ?? value[3] ?? '';
    if (quote === '' && valueQuote === '' && isProse(text, separator, value[0], end)) continue;
    out += `${text.slice(copied, start)}${valueQuote}${c.replacement}${valueQuote}`;
    copied = end;
    pairKey.lastIndex = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

// A long text redaction left as it was is remembered, so the same text is not looked through
// again: the stack trace of an error thrown from one place over and over (a database that is
// down) costs the trigger test and the pattern scan once. Only texts nothing was replaced in are
// kept, which hold nothing this redaction hides, within a bound on their count and length. The
// text found or kept last is compared before the set is looked up: a lookup hashes the whole
// text, a comparison with a text of another length ends at once.
const CLEAN_MIN_LENGTH = 200;
const CLEAN_MAX_LENGTH = 16_384;
const CLEAN_MAX_TEXTS = 256;
const CLEAN_MAX_CHARS = 1_048_576;

/** Whether `text` was redacted before and nothing in it was replaced. */
function scannedClean(text: string, c: Compiled): boolean {
  if (text.length < CLEAN_MIN_LENGTH) return false;
  if (text === c.lastClean) return true;
  if (!c.cleanTexts.has(text)) return false;
  c.lastClean = text;
  return true;
}

function rememberClean(text: string, c: Compiled): void {
  if (text.length < CLEAN_MIN_LENGTH || text.length > CLEAN_MAX_LENGTH) return;
  if (c.cleanTexts.size >= CLEAN_MAX_TEXTS || c.cleanChars + text.length > CLEAN_MAX_CHARS) {
    c.cleanTexts.clear();
    c.cleanChars = 0;
  }
  c.cleanTexts.add(text);
  c.cleanChars += text.length;
  c.lastClean = text;
}

/** Replaces every secret-shaped part of `text`, then cuts it to the length limit. */
export function redactString(text: string, c: Compiled): string {
  let out = text;
  if (!scannedClean(text, c)) {
    // mayTrigger() first: it rules out most strings for a fraction of the pattern's cost.
    if (c.alwaysScan || (mayTrigger(text) && SHAPE_TRIGGER.test(text))) {
      out = redactPairs(replaceAll(out, c.shapes), c);
      out = replaceAll(out, c.customShapes);
    }
    if (out === text) rememberClean(text, c);
  }
  if (out.length > c.maxStringLength) {
    out = `${out.slice(0, c.maxStringLength)}… [${out.length - c.maxStringLength} more characters]`;
  }
  return out;
}

function read(target: object, key: PropertyKey): unknown {
  try {
    return (target as Record<PropertyKey, unknown>)[key];
  } catch {
    return '[Unreadable]';
  }
}

function setKey(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(out, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  else out[key] = value;
}

/** An Error as a plain record: name, message, stack, its own fields, its cause and sub-errors. */
function errorRecord(err: Error): Record<string, unknown> {
  const record: Record<string, unknown> = {
    name: read(err, 'name'),
    message: read(err, 'message'),
    stack: read(err, 'stack'),
  };
  const type = read(err, 'type');
  for (const key of Object.keys(err)) {
    // body-parser attaches the raw request body to its errors; bodies are never logged.
    if (key === 'body' && typeof type === 'string' && BODY_PARSER_TYPES.test(type)) continue;
    if (key === 'name' || key === 'message' || key === 'stack') continue;
    setKey(record, key, read(err, key));
  }
  const cause = read(err, 'cause');
  if (cause !== undefined) record.cause = cause;
  if (err instanceof AggregateError) record.errors = read(err, 'errors');
  return record;
}

function pathOnly(path: unknown): string {
  if (typeof path !== 'string') return '';
  const query = path.search(/[?#]/);
  return query === -1 ? path : path.slice(0, query);
}

/**
 * A one-line stand-in for Node's HTTP and socket objects, which HTTP clients attach to their
 * errors (`err.request`, `err.response.request`): their internals hold the raw request head
 * (`_header`, with Cookie and Authorization lines), sockets and agents full of other requests.
 */
function nodeObjectSummary(object: object, c: Compiled): string | undefined {
  const kind = (fallback: string) => {
    const name = (read(object, 'constructor') as { name?: unknown } | undefined)?.name;
    return typeof name === 'string' && /^\w{1,40}$/.test(name) ? name : fallback;
  };
  if (object instanceof OutgoingMessage) {
    // ClientRequest (and ServerResponse): method, host and path without its query string.
    const method = read(object, 'method');
    const host = read(object, 'host');
    const path = pathOnly(read(object, 'path'));
    const name = kind('OutgoingMessage');
    const where = `${typeof host === 'string' ? host : ''}${path}`;
    const summary = [name, typeof method === 'string' ? method : '', where]
      .filter((part) => part !== '')
      .join(' ');
    return redactString(`[${summary}]`, c);
  }
  if (object instanceof IncomingMessage) {
    const status = read(object, 'statusCode');
    if (typeof status === 'number') return `[${kind('IncomingMessage')} ${status}]`;
    const method = read(object, 'method');
    const path = pathOnly(read(object, 'url'));
    const summary = [kind('IncomingMessage'), typeof method === 'string' ? method : '', path]
      .filter((part) => part !== '')
      .join(' ');
    return redactString(`[${summary}]`, c);
  }
  if (object instanceof Socket) return `[${kind('Socket')}]`;
  if (object instanceof Agent) return `[${kind('Agent')}]`;
  return undefined;
}

function walk(value: unknown, c: Compiled, depth: number, ancestors: Set<object>): unknown {
  switch (typeof value) {
    case 'string':
      return redactString(value, c);
    case 'number':
    case 'boolean':
    case 'undefined':
      return value;
    case 'bigint':
      return value.toString();
    case 'symbol':
      return value.toString();
    case 'function':
      return `[Function${value.name ? ` ${value.name}` : ''}]`;
  }
  if (value === null) return null;
  const object = value as object;
  if (ancestors.has(object)) return '[Circular]';
  if (depth >= c.maxDepth) return '[Truncated]';
  if (object instanceof Date)
    return Number.isNaN(object.getTime()) ? 'Invalid Date' : object.toISOString();
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
    return `[Binary ${object.byteLength} bytes]`;
  }
  if (object instanceof RegExp) return String(object);
  ancestors.add(object);
  try {
    if (Array.isArray(object)) {
      const out: unknown[] = [];
      const length = Math.min(object.length, c.maxArrayLength);
      for (let i = 0; i < length; i++) out.push(walk(read(object, i), c, depth + 1, ancestors));
      if (object.length > length) out.push(`[${object.length - length} more items]`);
      return out;
    }
    if (object instanceof Set) return walk([...object], c, depth, ancestors);
    let source: object = object;
    if (object instanceof Error) source = errorRecord(object);
    else if (object instanceof Map)
      source = Object.fromEntries([...object].map(([k, v]) => [String(k), v]));
    else {
      const proto = Object.getPrototypeOf(object);
      if (proto !== Object.prototype && proto !== null) {
        const summary = nodeObjectSummary(object, c);
        if (summary !== undefined) return summary;
      }
      const toJSON = read(object, 'toJSON');
      if (proto !== Object.prototype && proto !== null && typeof toJSON === 'function') {
        let json: unknown;
        try {
          json = toJSON.call(object);
        } catch {
          return '[Unserializable]';
        }
        if (json !== object) return walk(json, c, depth, ancestors);
      }
    }
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(source)) {
      const child = read(source, key);
      if (child !== null && child !== undefined && isSecretKey(key, c))
        setKey(out, key, c.replacement);
      else setKey(out, key, walk(child, c, depth + 1, ancestors));
    }
    return out;
  } finally {
    ancestors.delete(object);
  }
}

/**
 * One field of a flat record, redacted exactly as `applyRedaction` redacts it inside the record:
 * a secret key hides any value but null and undefined, a string is scanned, other values are
 * walked. Lets a caller that builds the record itself skip copying it twice.
 */
export function redactField(key: string, value: unknown, c: Compiled): unknown {
  return redactFieldValue(value, value !== null && value !== undefined && isSecretKey(key, c), c);
}

/**
 * `redactField(key, value, c)` for a caller that already knows whether `key` is secret
 * (`secretKey(key, c)`, which never changes for a key and the same rules).
 */
export function redactFieldValue(value: unknown, secret: boolean, c: Compiled): unknown {
  if (secret && value !== null && value !== undefined) return c.replacement;
  if (typeof value === 'string') return redactString(value, c);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  return walk(value, c, 1, new Set());
}

/** Whether `key` is secret under the rules `c`: its value is then written as the replacement. */
export function secretKey(key: string, c: Compiled): boolean {
  return isSecretKey(key, c);
}

/** Applies compiled rules to a value; see `redact`. */
export function applyRedaction(value: unknown, compiled: Compiled): unknown {
  return walk(value, compiled, 0, new Set());
}

/**
 * Returns a redacted deep copy of `value`; `value` itself is never changed.
 *
 * - By key name, at any depth, and as the key of a `key=value` or `"key": "value"` pair in text.
 *   A key is read as words (split at `-`, `_`, `.` and camelCase, lowercased, a trailing number
 *   dropped). It is secret when its words joined are one of `DEFAULT_REDACT_KEYS` or
 *   `options.keys`, or end in password, passwd, passphrase, passcode, secret, token, jwt, apikey,
 *   privatekey, secretkey, accesskey, signingkey, encryptionkey, sessionkey, pepper, signature,
 *   hmac, authorization, cookie or credential(s) (`dbPassword`, `apiKeyPepper`,
 *   `X-Hub-Signature-256`), or when its last word is pw, pwd, pass, otp, totp, hotp or sig
 *   (`dbPw`, `url_sig`). A last word such as value, pem, hash or code is set aside first
 *   (`secretValue`, `privateKeyPem`, `authCode`). `options.keys` RegExps test the key as written.
 * - In text, an unquoted `key: ` followed by a sentence (`readSecret: the file named by …`) is
 *   kept: the word after the colon is an article, a determiner or a negation, or an environment
 *   variable's name, and more words follow.
 * - By value shape, inside every string: Bearer and Basic credentials, JWTs, PEM blocks,
 *   passwords in URLs (`/` included), OAuth `code`, `assertion` and similar query parameters,
 *   Bulwark API keys (the public prefix is kept), Cookie/Authorization header lines, common
 *   vendor token formats, plus `options.patterns`.
 * - Node's `ClientRequest`, `IncomingMessage`, sockets and agents become one-line summaries:
 *   their internals hold raw request heads.
 * - Errors become `{ name, message, stack, ...fields, cause }`; cycles become `'[Circular]'`;
 *   Buffers become `'[Binary n bytes]'`; depth, array and string lengths are capped.
 *
 * @throws {ErrorHandlerConfigError} on an unknown option or an unusable key or pattern.
 * @example
 * redact({ headers: { authorization: 'Bearer abc' }, url: 'postgres://app:pw@db/app' });
 * // { headers: { authorization: '[REDACTED]' }, url: 'postgres://app:[REDACTED]@db/app' }
 */
export function redact(value: unknown, options?: RedactOptions): unknown {
  if (options === undefined) {
    defaults ??= compileRedaction();
    return applyRedaction(value, defaults);
  }
  return applyRedaction(value, compileRedaction(options));
}

let defaults: Compiled | undefined;

export type { Compiled as CompiledRedaction };
