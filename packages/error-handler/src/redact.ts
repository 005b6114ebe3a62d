// Deep, non-mutating, cycle-safe redaction of secrets by key name and by value shape.
import { Agent, IncomingMessage, OutgoingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describeValue, ErrorHandlerConfigError, invalidOption } from './config.js';
import type { RedactOptions } from './types.js';

/** Key names always redacted (compared lowercase, ignoring `-` and `_`). */
export const DEFAULT_REDACT_KEYS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'password',
  'passwd',
  'pwd',
  'passphrase',
  'secret',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'api_key',
  'apikey',
  'x-api-key',
  'client_secret',
  'private_key',
  'credentials',
  'session_id',
  'auth',
];

// A key ending in one of these (after normalising) is secret too: dbPassword, x-auth-token,
// clientSecret, sessionCookie, secretAccessKey, SECRET_KEY. `max_tokens` or `token_count` do
// not end in one.
const SECRET_SUFFIXES = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'token',
  'apikey',
  'privatekey',
  'secretkey',
  'accesskey',
  'signingkey',
  'encryptionkey',
  'sessionkey',
  'authorization',
  'cookie',
  'credentials',
];

const KEY_WORDS =
  'pass(?:word|wd|phrase)|pwd|secret|token|(?:api|private|secret|access|signing|encryption|session)[_-]?key|credentials?|authorization|cookie';

/** The value shapes always redacted inside strings, with what each match becomes. */
const DEFAULT_SHAPES: ReadonlyArray<readonly [RegExp, string]> = [
  // PEM blocks, also when cut off before their END line.
  [/-----BEGIN ([A-Z0-9 ]{1,64})-----[\s\S]*?(?:-----END \1-----|$)/g, '[REDACTED]'],
  // Credentials inside URLs: scheme://user:password@host keeps the user.
  [/\b([a-z][a-z0-9+.-]{0,30}:\/\/)([^\s:@/?#]*):[^\s/?#]*@/gi, '$1$2:[REDACTED]@'],
  // Authorization schemes.
  [/\bBearer\s+[A-Za-z0-9\-._~+/]+=*/gi, 'Bearer [REDACTED]'],
  [
    /\bBasic\s+(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*[a-z0-9+/])[A-Za-z0-9+/]{6,}=*/g,
    'Basic [REDACTED]',
  ],
  // JWT (JWS and JWE compact forms): base64url of '{"' starts every header.
  [/\beyJ[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){2,4}/g, '[REDACTED]'],
  // Raw header lines (a request's or response's head quoted in a message): the rest of the line.
  [
    /(?<![\w-])((?:proxy-)?authorization|(?:set-)?cookie)([ \t]*:[ \t]*)[^\s][^\r\n]*/gi,
    '$1$2[REDACTED]',
  ],
  // key=value and "key": "value" pairs in text: connection strings, query strings, JSON in messages,
  // also JSON escaped inside a string (`{\"password\":\"x\"}`). A key starts where a run of key
  // characters starts, so a long run of them is tried once, not at each of its positions.
  [
    new RegExp(
      `((?:\\\\?["'])?)(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]*?(?:${KEY_WORDS}))\\1(\\s*[:=]\\s*)(?:(\\\\")(?:[^"\\\\]|\\\\[^"])*\\\\"|(")(?:[^"\\\\]|\\\\.)*"|(')[^']*'|[^\\s"'&,;]+)`,
      'gi',
    ),
    '$1$2$1$3$4$5$6[REDACTED]$4$5$6',
  ],
  // Well-known token formats.
  [/\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/g, '[REDACTED]'],
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, '[REDACTED]'],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, '[REDACTED]'],
  [/\b[rs]k_(?:live|test)_[A-Za-z0-9]{10,}/g, '[REDACTED]'],
  [/\bAIza[0-9A-Za-z_-]{35}/g, '[REDACTED]'],
  [/\bnpm_[A-Za-z0-9]{36}\b/g, '[REDACTED]'],
];

// Every built-in shape contains one of these; a string with none of them skips the shape scan,
// which keeps redaction cheap for the ids, routes and numbers most log lines are made of.
const SHAPE_TRIGGER =
  /-----BEGIN|:\/\/|bearer|basic|eyJ|pass|pwd|secret|token|key|credential|authorization|cookie|gh[pousr]_|github_pat_|AKIA|ASIA|xox|[rs]k_|AIza|npm_/i;

const normaliseKey = (key: string) => key.toLowerCase().replace(/[-_\s]/g, '');
const DEFAULT_KEY_SET = new Set(DEFAULT_REDACT_KEYS.map(normaliseKey));
const BODY_PARSER_TYPES = /^(entity|request|charset|encoding|parameters|stream|querystring)\./;

interface Compiled {
  keySet: ReadonlySet<string>;
  /** Verdicts for keys already seen; log lines repeat the same few keys. */
  keyCache: Map<string, boolean>;
  /** Shapes given by the user, which the trigger test cannot know about. */
  customShapes: boolean;
  keyPatterns: readonly RegExp[];
  shapes: ReadonlyArray<readonly [RegExp, string]>;
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
  const shapes: Array<readonly [RegExp, string]> = [...DEFAULT_SHAPES];
  const replacement = options.replacement ?? '[REDACTED]';
  if (typeof replacement !== 'string')
    invalidOption('redact', 'replacement', replacement, 'Use a string such as "[REDACTED]".');
  for (const pattern of patterns) {
    if (!(pattern instanceof RegExp) || pattern.test('')) {
      throw new ErrorHandlerConfigError(
        'ERR_BULWARK_ERRORS_REDACT_PATTERN',
        `redact: patterns: ${describeValue(pattern)} is not usable. Pass a RegExp that does not match the empty string, such as /\\bacct_[0-9]+/.`,
      );
    }
    // Always global, so every occurrence in a string is replaced.
    shapes.push([
      new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`),
      replacement,
    ]);
  }
  return {
    keySet,
    keyCache: new Map(),
    customShapes: patterns.length > 0,
    keyPatterns,
    shapes: shapes.map(
      ([re, to]) =>
        [re, to === '[REDACTED]' ? replacement : to.replace('[REDACTED]', replacement)] as const,
    ),
    replacement,
    maxDepth: positiveInteger('maxDepth', options.maxDepth, 10),
    maxArrayLength: positiveInteger('maxArrayLength', options.maxArrayLength, 100),
    maxStringLength: positiveInteger('maxStringLength', options.maxStringLength, 10_000),
  };
}

function classifyKey(key: string, c: Compiled): boolean {
  const normalised = normaliseKey(key);
  if (c.keySet.has(normalised)) return true;
  for (const suffix of SECRET_SUFFIXES) if (normalised.endsWith(suffix)) return true;
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

/** Replaces every secret-shaped part of `text`, then cuts it to the length limit. */
export function redactString(text: string, c: Compiled): string {
  let out = text;
  const scan = c.customShapes || SHAPE_TRIGGER.test(text);
  for (const [pattern, to] of scan ? c.shapes : []) {
    pattern.lastIndex = 0;
    if (pattern.test(out)) {
      pattern.lastIndex = 0;
      out = out.replace(pattern, to);
    }
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

/** Applies compiled rules to a value; see `redact`. */
export function applyRedaction(value: unknown, compiled: Compiled): unknown {
  return walk(value, compiled, 0, new Set());
}

/**
 * Returns a redacted deep copy of `value`; `value` itself is never changed.
 *
 * - By key name, at any depth: `authorization`, `cookie`, `set-cookie`, `password`, `passwd`,
 *   `secret`, `token`, `access_token`, `refresh_token`, `api_key`, `apikey`, `x-api-key`,
 *   `client_secret`, `private_key` and more (see `DEFAULT_REDACT_KEYS`), compared lowercase and
 *   ignoring `-` and `_`, plus any key ending in password, secret, token, apikey, privatekey,
 *   secretkey, accesskey, signingkey, encryptionkey, sessionkey, authorization, cookie or
 *   credentials (`dbPassword`, `x-auth-token`, `secretAccessKey`), plus `options.keys`.
 * - By value shape, inside every string: Bearer and Basic credentials, JWTs, PEM blocks,
 *   passwords in connection URLs, `password=...`-style pairs in text (escaped JSON included),
 *   Cookie/Authorization header lines, common vendor token formats, plus `options.patterns`.
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
