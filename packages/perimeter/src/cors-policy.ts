// corsPolicy(): CORS locked to exact origins; disallowed origins get no CORS headers.
import type { ServerResponse } from 'node:http';
import cors from 'cors';
import type { RequestHandler } from 'express';
import {
  checkOptions,
  describe,
  httpError,
  PerimeterConfigError,
  positiveInt,
  publish,
} from './errors.js';
import { exactOrigin } from './origins.js';
import { varyAppender, varyText } from './vary.js';

export interface CorsPolicyOptions {
  /**
   * Origins allowed to read responses: exact origins (`https://app.example.com`), subdomain
   * patterns (`https://*.example.com`, one or more labels, never the bare domain), anchored
   * RegExps, or a comma-separated string such as `process.env.CORS_ORIGINS`. `'*'` alone allows
   * every origin and is refused with `credentials`. Required; there is no default.
   */
  origins: string | readonly (string | RegExp)[] | undefined;
  /**
   * Send `Access-Control-Allow-Credentials: true`, so browsers attach cookies and read the
   * answer. Default `false`: enable only for cookie sessions, and add `csrfProtection()`.
   */
  credentials?: boolean;
  /** Methods allowed in preflights. Default `['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']`. */
  methods?: readonly string[];
  /** Request headers allowed in preflights. Default `['Authorization', 'Content-Type', 'X-Request-Id']`. */
  allowedHeaders?: readonly string[];
  /** Response headers scripts may read. Default `[]` (only the CORS-safelisted ones). */
  exposedHeaders?: readonly string[];
  /** Seconds a browser may cache a preflight answer. Default `600`; at most `86_400`. */
  maxAge?: number;
}

const KNOWN = [
  'origins',
  'credentials',
  'methods',
  'allowedHeaders',
  'exposedHeaders',
  'maxAge',
] as const;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const REQUEST_ORIGIN = /^(https?):\/\/([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

interface Pattern {
  scheme: string;
  suffix: string;
  port: string;
}

/** What `res.vary('Origin')` makes of each Vary value, worked out once per value (bounded). */
const originVary = varyAppender('Origin');

/**
 * `Vary: Origin`, merged into a Vary header already set only when there is one, to the value
 * `res.vary('Origin')` would set (the memo saves parsing the same Vary on every response).
 */
function varyOrigin(res: ServerResponse): void {
  const existing = res.getHeader('Vary');
  if (existing === undefined) res.setHeader('Vary', 'Origin');
  // res.vary() sets the header even when the field is there already, which also turns a
  // multi-line (array) Vary into one line; so does this.
  else res.setHeader('Vary', originVary.get(varyText(existing)));
}

function configError(message: string): PerimeterConfigError {
  return new PerimeterConfigError('ERR_BULWARK_PERIMETER_CORS_ORIGIN', `corsPolicy: ${message}`);
}

/** True when every `|` of the pattern sits inside a group or a class, and it is anchored. */
function isAnchored(re: RegExp): boolean {
  const src = re.source;
  if (!src.startsWith('^') || !src.endsWith('$') || src.endsWith('\\$')) return false;
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return false;
  }
  return true;
}

function parseEntry(entry: string, exact: Set<string>, patterns: Pattern[]): void {
  const wildcard = /^(https?):\/\/\*\.([^/:]+)(?::(\d{1,5}))?\/?$/i.exec(entry);
  if (wildcard) {
    const suffix = wildcard[2]!.toLowerCase();
    const labels = suffix.split('.');
    if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) {
      throw configError(
        `${describe(entry)} is too broad or malformed. A subdomain pattern needs a registrable domain after '*.', such as 'https://*.example.com'.`,
      );
    }
    patterns.push({
      scheme: wildcard[1]!.toLowerCase(),
      suffix: `.${suffix}`,
      port: wildcard[3] ?? '',
    });
    return;
  }
  if (entry.includes('*')) {
    throw configError(
      `${describe(entry)} is not a valid origin pattern. Use an exact origin ('https://app.example.com') or a leading subdomain wildcard ('https://*.example.com').`,
    );
  }
  const origin = exactOrigin(entry);
  if (!origin) {
    throw configError(
      `${describe(entry)} is not an origin. An origin is scheme, host and optional port, with no path, query or credentials, such as 'https://app.example.com'.`,
    );
  }
  exact.add(origin);
}

/**
 * CORS restricted to the origins you list: an allowed origin gets exactly its own origin back
 * (never `*` and never a reflected arbitrary origin), a disallowed origin gets no CORS headers,
 * and a preflight from a disallowed origin is refused with 403 `origin_rejected`. Built on `cors`.
 *
 * @param options See {@link CorsPolicyOptions}. `origins` is required.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_CORS_NO_ORIGINS` when the list is empty or
 *   unset; `ERR_BULWARK_PERIMETER_CORS_WILDCARD_CREDENTIALS` for `'*'` with credentials;
 *   `ERR_BULWARK_PERIMETER_CORS_ORIGIN` for a malformed origin or an unanchored RegExp.
 * @example
 * app.use(corsPolicy({ origins: process.env.CORS_ORIGINS, maxAge: 600 }));
 */
export function corsPolicy(options: CorsPolicyOptions): RequestHandler {
  const opts = checkOptions('corsPolicy', options, KNOWN) as unknown as CorsPolicyOptions;
  const credentials = opts.credentials ?? false;
  if (typeof credentials !== 'boolean') {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTION',
      `corsPolicy: credentials: ${describe(credentials)} is not a boolean. Use true or false.`,
    );
  }
  const raw = opts.origins;
  const list: (string | RegExp)[] =
    typeof raw === 'string'
      ? raw
          .split(/[\s,]+/)
          .map((s) => s.trim())
          .filter(Boolean)
      : Array.isArray(raw)
        ? [...raw]
        : [];
  if ((raw !== undefined && typeof raw !== 'string' && !Array.isArray(raw)) || list.length === 0) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_CORS_NO_ORIGINS',
      `corsPolicy: origins is ${raw === undefined ? 'not set' : `empty (${describe(raw)})`}. List the exact origins of your front ends, for example origins: process.env.CORS_ORIGINS with CORS_ORIGINS='https://app.example.com'.`,
    );
  }

  const anyOrigin = list.includes('*');
  if (anyOrigin && credentials) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_CORS_WILDCARD_CREDENTIALS',
      "corsPolicy: origins '*' with credentials: true would let every website read your users' authenticated responses. List the exact origins instead.",
    );
  }
  if (anyOrigin && list.length > 1) {
    throw configError(
      "'*' cannot be mixed with other origins. Use '*' alone for a public API, or list exact origins.",
    );
  }

  const exact = new Set<string>();
  const patterns: Pattern[] = [];
  const regexps: RegExp[] = [];
  if (!anyOrigin) {
    for (const entry of list) {
      if (entry instanceof RegExp) {
        if (entry.global || entry.sticky) {
          throw configError(
            `${String(entry)} has the g or y flag, which makes test() stateful and skip matches. Drop the flag.`,
          );
        }
        if (!isAnchored(entry)) {
          throw configError(
            `${String(entry)} is not anchored, so it also matches origins such as https://example.com.attacker.net. Start it with ^, end it with $, and group any alternation: /^https:\\/\\/(a|b)\\.example\\.com$/.`,
          );
        }
        regexps.push(entry);
      } else if (typeof entry === 'string') {
        if (entry === 'null') {
          throw configError(
            "'null' is the origin of sandboxed frames and local files, which any page can produce. Remove it.",
          );
        }
        parseEntry(entry, exact, patterns);
      } else {
        throw configError(`${describe(entry)} is not an origin. Use strings or anchored RegExps.`);
      }
    }
  }

  const headerList = (
    name: string,
    value: readonly string[] | undefined,
    fallback: string[],
    example = "['Content-Type']",
  ) => {
    const v = value ?? fallback;
    if (!Array.isArray(v) || v.some((h) => typeof h !== 'string' || !TOKEN.test(h) || h === '*')) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_OPTION',
        `corsPolicy: ${name}: ${describe(v)} must be an array of header or method names (no '*'), such as ${example}.`,
      );
    }
    return [...v];
  };
  const methods = headerList(
    'methods',
    opts.methods,
    ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    "['GET', 'POST']",
  ).map((m) => m.toUpperCase());
  const allowedHeaders = headerList('allowedHeaders', opts.allowedHeaders, [
    'Authorization',
    'Content-Type',
    'X-Request-Id',
  ]);
  const exposedHeaders = headerList('exposedHeaders', opts.exposedHeaders, []);
  const maxAge = positiveInt('corsPolicy', 'maxAge', opts.maxAge ?? 600, {
    allowZero: true,
    max: 86_400,
  });

  const base = {
    methods,
    allowedHeaders,
    exposedHeaders,
    credentials,
    maxAge,
    preflightContinue: false,
    optionsSuccessStatus: 204,
  };
  // The origin is decided before cors runs, so cors only ever echoes an origin already allowed.
  // cors answers preflights (OPTIONS), which browsers cache for maxAge; every other request of an
  // allowed origin gets the same headers cors would set, in the same order, from values fixed here.
  const allowed = cors({ ...base, origin: anyOrigin ? '*' : true });
  const exposed = exposedHeaders.length > 0 ? exposedHeaders.join(',') : undefined;

  const isAllowed = (origin: string): boolean => {
    if (exact.has(origin)) return true;
    if (patterns.length > 0) {
      const m = REQUEST_ORIGIN.exec(origin);
      if (m) {
        const host = m[2]!;
        for (const p of patterns) {
          if (
            p.scheme === m[1] &&
            p.port === (m[3] ?? '') &&
            host.length > p.suffix.length &&
            host.endsWith(p.suffix)
          ) {
            return true;
          }
        }
      }
    }
    for (const re of regexps) if (re.test(origin)) return true;
    return false;
  };

  return function corsPolicy(req, res, next) {
    const origin = req.headers.origin;
    if (origin === undefined) {
      if (!anyOrigin) varyOrigin(res);
      next();
      return;
    }
    if (anyOrigin || isAllowed(origin)) {
      if (req.method === 'OPTIONS') {
        allowed(req, res, next);
        return;
      }
      if (anyOrigin) res.setHeader('Access-Control-Allow-Origin', '*');
      else {
        if (origin !== '') res.setHeader('Access-Control-Allow-Origin', origin);
        varyOrigin(res);
      }
      if (credentials) res.setHeader('Access-Control-Allow-Credentials', 'true');
      if (exposed !== undefined) res.setHeader('Access-Control-Expose-Headers', exposed);
      next();
      return;
    }
    varyOrigin(res);
    const preflight =
      req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
    publish('originRejected', () => ({
      origin: origin.slice(0, 200),
      method: req.method,
      path: req.path,
      preflight,
    }));
    if (preflight) {
      next(httpError(403, 'Origin not allowed', 'origin_rejected'));
      return;
    }
    next();
  };
}
