// reportCollector(): a route that receives browser reports (CSP, COEP, COOP, deprecation, intervention), bounded and cleaned for logs.
import { channel } from 'node:diagnostics_channel';
import type { Request, RequestHandler } from 'express';
import {
  checkOptions,
  describe,
  httpError,
  PerimeterConfigError,
  type PerimeterLogger,
  positiveInt,
} from './errors.js';
import { reportCollectorDescription, withOpenApi } from './openapi.js';

export interface ReportCollectorOptions {
  /** Receives each kept report with `warn('browser report', { report })`. Default: none (channel only). */
  logger?: PerimeterLogger;
  /** Largest request body read, in bytes; larger bodies get 413. Default `65536`, at most `1048576`. */
  maxBytes?: number;
  /** Most reports accepted in one request; more get 413. Default `20`, at most `100`. */
  maxReports?: number;
  /** Requests one client (by `req.ip`) may send per `windowMs`; more get 429. Default `30`. */
  limit?: number;
  /** Length of the rate-limit window in milliseconds. Default `60000`. */
  windowMs?: number;
  /** Clients remembered for the rate limit; the oldest is forgotten beyond it. Default `10000`. */
  maxClients?: number;
  /** Longest string kept in a report field; longer ones are cut and end in `…`. Default `256`, at most `4096`. */
  maxLength?: number;
}

/** One report as published on `bulwark:perimeter:report` and logged. */
export interface CollectedReport {
  /** `csp-violation`, `coep`, `coop`, `deprecation` or `intervention`. */
  type: string;
  /** Where the report came in: `reports+json` or the legacy `csp-report`. */
  format: 'reports+json' | 'csp-report';
  /** Milliseconds between the event and its delivery, when the browser gave it. */
  age?: number;
  /** The document's origin and path; never a query string or fragment. */
  url?: string;
  userAgent?: string;
  /** The report's fields from the allow-list of its type, cleaned. */
  body: Record<string, string | number>;
}

const KNOWN = ['logger', 'maxBytes', 'maxReports', 'limit', 'windowMs', 'maxClients', 'maxLength'];

const DEFAULTS = {
  maxBytes: 65_536,
  maxReports: 20,
  limit: 30,
  windowMs: 60_000,
  maxClients: 10_000,
  maxLength: 256,
} as const;

/** Bytes of an over-long body read and thrown away so the 413 reaches the client; past it, the connection is closed. */
const DRAIN_LIMIT = 1_048_576;

const reportChannel = channel('bulwark:perimeter:report');

type FieldKind = 'url' | 'text' | 'int';

/** Fields kept per report type, with the kind that decides how each is cleaned. */
const FIELDS: Record<string, Record<string, FieldKind>> = {
  'csp-violation': {
    documentURL: 'url',
    referrer: 'url',
    blockedURL: 'url',
    effectiveDirective: 'text',
    originalPolicy: 'text',
    sourceFile: 'url',
    sample: 'text',
    disposition: 'text',
    statusCode: 'int',
    lineNumber: 'int',
    columnNumber: 'int',
  },
  coep: { type: 'text', blockedURL: 'url', destination: 'text', disposition: 'text' },
  coop: {
    type: 'text',
    disposition: 'text',
    effectivePolicy: 'text',
    property: 'text',
    previousResponseURL: 'url',
    nextResponseURL: 'url',
    referrer: 'url',
    initialPopupURL: 'url',
    openedWindowURL: 'url',
    openerURL: 'url',
    otherDocumentURL: 'url',
    sourceFile: 'url',
    lineNumber: 'int',
    columnNumber: 'int',
  },
  deprecation: {
    id: 'text',
    anticipatedRemoval: 'text',
    message: 'text',
    sourceFile: 'url',
    lineNumber: 'int',
    columnNumber: 'int',
  },
  intervention: {
    id: 'text',
    message: 'text',
    sourceFile: 'url',
    lineNumber: 'int',
    columnNumber: 'int',
  },
};

/** The legacy `report-uri` body's names, mapped onto the Reporting API's `csp-violation` names. */
const LEGACY_CSP: Record<string, string> = {
  'document-uri': 'documentURL',
  referrer: 'referrer',
  'blocked-uri': 'blockedURL',
  'effective-directive': 'effectiveDirective',
  'violated-directive': 'effectiveDirective',
  'original-policy': 'originalPolicy',
  'source-file': 'sourceFile',
  'script-sample': 'sample',
  disposition: 'disposition',
  'status-code': 'statusCode',
  'line-number': 'lineNumber',
  'column-number': 'columnNumber',
};

const MEDIA_TYPES = new Set([
  'application/reports+json',
  'application/csp-report',
  'application/json',
]);

// C0, DEL, C1, line and paragraph separators and bidi overrides: anything that can break a log
// line or change how the rest of it is shown.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const KEYWORD = /^[a-z][a-z0-9-]{0,31}$/;

function cleanText(value: unknown, maxLength: number): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.replace(UNSAFE_CHARS, '');
  if (text === '') return undefined;
  return text.length > maxLength ? `${text.slice(0, maxLength - 1)}…` : text;
}

/** An http(s) URL reduced to origin and path; a keyword such as `inline` or `eval`; a bare scheme for `data:` and `blob:`. */
function cleanUrl(value: unknown, maxLength: number): string | undefined {
  if (typeof value !== 'string' || value.length > 8192) return undefined;
  if (KEYWORD.test(value)) return value;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return KEYWORD.test(url.protocol.slice(0, -1)) ? url.protocol : undefined;
  }
  return cleanText(`${url.origin}${url.pathname}`, maxLength);
}

function cleanInt(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 2 ** 31
    ? value
    : undefined;
}

function clean(kind: FieldKind, value: unknown, maxLength: number): string | number | undefined {
  if (kind === 'int') return cleanInt(value);
  if (kind === 'url') return cleanUrl(value, maxLength);
  return cleanText(value, maxLength);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function keepFields(
  allowed: Record<string, FieldKind>,
  source: Record<string, unknown>,
  rename: Record<string, string> | undefined,
  maxLength: number,
): Record<string, string | number> {
  const body: Record<string, string | number> = {};
  for (const [key, raw] of Object.entries(source)) {
    const name = rename ? rename[key] : key;
    if (name === undefined || !Object.hasOwn(allowed, name) || body[name] !== undefined) continue;
    const value = clean(allowed[name]!, raw, maxLength);
    if (value !== undefined) body[name] = value;
  }
  return body;
}

/** The reports of a parsed body, or `undefined` when its shape is not a report body at all. */
function reportsOf(
  parsed: unknown,
  maxLength: number,
): { count: number; kept: CollectedReport[] } | undefined {
  if (isObject(parsed) && isObject(parsed['csp-report'])) {
    const body = keepFields(FIELDS['csp-violation']!, parsed['csp-report'], LEGACY_CSP, maxLength);
    const report: CollectedReport = { type: 'csp-violation', format: 'csp-report', body };
    const url = typeof body.documentURL === 'string' ? body.documentURL : undefined;
    if (url !== undefined) report.url = url;
    return { count: 1, kept: [report] };
  }
  if (!Array.isArray(parsed)) return undefined;
  const kept: CollectedReport[] = [];
  for (const item of parsed) {
    if (!isObject(item) || typeof item.type !== 'string') return undefined;
    const allowed = Object.hasOwn(FIELDS, item.type) ? FIELDS[item.type] : undefined;
    if (allowed === undefined) continue;
    const body = isObject(item.body) ? keepFields(allowed, item.body, undefined, maxLength) : {};
    const report: CollectedReport = { type: item.type, format: 'reports+json', body };
    const age = cleanInt(item.age);
    if (age !== undefined) report.age = age;
    const url = cleanUrl(item.url, maxLength);
    if (url !== undefined) report.url = url;
    const userAgent = cleanText(item.user_agent, maxLength);
    if (userAgent !== undefined) report.userAgent = userAgent;
    kept.push(report);
  }
  return { count: parsed.length, kept };
}

type BodyResult =
  | { ok: true; body: Buffer }
  | { ok: false; drained: boolean }
  | { ok: false; broken: true };

/**
 * Reads the body up to `limit` bytes. Past it, the rest is read and thrown away up to
 * `DRAIN_LIMIT` so the client sees the 413 instead of a reset; beyond that the connection closes.
 */
function readBody(req: Request, limit: number): Promise<BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    const finish = (result: BodyResult) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (!over && size > limit) {
        over = true;
        chunks.length = 0;
      }
      if (over) {
        if (size > limit + DRAIN_LIMIT) {
          req.pause();
          finish({ ok: false, drained: false });
        }
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () =>
      finish(over ? { ok: false, drained: true } : { ok: true, body: Buffer.concat(chunks) });
    // A client that hangs up mid-body gets a 400 it will never read, not a 500 in the log.
    const onError = () => finish({ ok: false, broken: true });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

const tooLarge = (close: boolean) =>
  httpError(413, 'Report body too large', 'report_too_large', {
    ...(close ? { headers: { Connection: 'close' } } : {}),
  });

const malformed = () => httpError(400, 'Malformed report', 'invalid_report');

/** The parsed JSON, or `undefined` (which no report shape accepts) when it does not parse. */
function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * A route handler for browser reports: the Reporting API's `application/reports+json` (CSP,
 * COEP, COOP, deprecation and intervention reports) and CSP's legacy `application/csp-report`.
 * Each report is cut down to the fields of its type, stripped of control characters and line
 * breaks, its strings capped, its URLs reduced to origin and path; then it is published on
 * `bulwark:perimeter:report` and logged at warn. Answers 204; malformed input gets 400, a body or
 * batch too large 413, another media type 415, a client over its rate 429 with `Retry-After`.
 *
 * Defaults: `maxBytes` 65536, `maxReports` 20, `limit` 30 requests per client per `windowMs`
 * 60000, `maxClients` 10000, `maxLength` 256, no logger.
 *
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_UNKNOWN_OPTION`,
 *   `ERR_BULWARK_PERIMETER_INVALID_NUMBER` (a limit out of range),
 *   `ERR_BULWARK_PERIMETER_INVALID_OPTION` (a logger without `warn`).
 * @example
 * app.post('/csp-reports', reportCollector({ logger }));
 */
export function reportCollector(options?: ReportCollectorOptions): RequestHandler {
  const given = checkOptions('reportCollector', options, KNOWN);
  const factory = 'reportCollector';
  const maxBytes = positiveInt(factory, 'maxBytes', given.maxBytes ?? DEFAULTS.maxBytes, {
    max: 1_048_576,
  });
  const maxReports = positiveInt(factory, 'maxReports', given.maxReports ?? DEFAULTS.maxReports, {
    max: 100,
  });
  const limit = positiveInt(factory, 'limit', given.limit ?? DEFAULTS.limit, { max: 100_000 });
  const windowMs = positiveInt(factory, 'windowMs', given.windowMs ?? DEFAULTS.windowMs, {
    max: 86_400_000,
  });
  const maxClients = positiveInt(factory, 'maxClients', given.maxClients ?? DEFAULTS.maxClients, {
    max: 1_000_000,
  });
  const maxLength = positiveInt(factory, 'maxLength', given.maxLength ?? DEFAULTS.maxLength, {
    max: 4096,
  });
  const logger = given.logger as PerimeterLogger | undefined;
  if (logger !== undefined && (typeof logger !== 'object' || typeof logger?.warn !== 'function')) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTION',
      `reportCollector: logger: ${describe(logger)} has no warn() method. Pass a winston-shaped logger, such as reportCollector({ logger }).`,
    );
  }

  // Fixed windows per client, in insertion order so the oldest entry is the first to forget.
  const clients = new Map<string, { count: number; resetAt: number }>();
  function overRate(key: string, now: number): number | undefined {
    let entry = clients.get(key);
    if (entry !== undefined && entry.resetAt <= now) {
      clients.delete(key);
      entry = undefined;
    }
    if (entry === undefined) {
      if (clients.size >= maxClients) {
        for (const [oldKey, old] of clients) {
          clients.delete(oldKey);
          if (old.resetAt > now) break;
        }
      }
      clients.set(key, { count: 1, resetAt: now + windowMs });
      return undefined;
    }
    entry.count += 1;
    return entry.count > limit ? Math.ceil((entry.resetAt - now) / 1000) : undefined;
  }

  return withOpenApi(reportCollectorDescription(), async function reportCollector(req, res, next) {
    try {
      const retryAfter = overRate(req.ip ?? req.socket.remoteAddress ?? 'unknown', Date.now());
      if (retryAfter !== undefined) {
        next(
          httpError(429, 'Too many reports', 'report_rate_limited', {
            headers: { 'Retry-After': String(retryAfter) },
          }),
        );
        return;
      }
      const mediaType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
      if (!MEDIA_TYPES.has(mediaType) || encoding !== 'identity') {
        next(httpError(415, 'Unsupported report media type', 'unsupported_media_type'));
        return;
      }
      const declared = Number(req.headers['content-length']);
      if (declared > maxBytes + DRAIN_LIMIT) {
        next(tooLarge(true));
        return;
      }
      let parsed: unknown;
      if (req.readableEnded) {
        // A body parser mounted before the route has read the body already, under its own limit.
        parsed = Buffer.isBuffer(req.body) ? parseJson(req.body) : req.body;
      } else {
        const read = await readBody(req, maxBytes);
        if (!read.ok) {
          next('broken' in read ? malformed() : tooLarge(!read.drained));
          return;
        }
        parsed = parseJson(read.body);
      }
      const reports = reportsOf(parsed, maxLength);
      if (reports === undefined) {
        next(malformed());
        return;
      }
      if (reports.count > maxReports) {
        next(httpError(413, 'Too many reports in one request', 'too_many_reports'));
        return;
      }
      for (const report of reports.kept) {
        if (reportChannel.hasSubscribers) reportChannel.publish(report);
        logger?.warn('browser report', { report });
      }
      res.status(204).end();
    } catch (err) {
      next(err);
    }
  });
}
