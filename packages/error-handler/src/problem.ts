// Turns any thrown value into a safe RFC 9457 problem details response.
import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import type { Response } from 'express';
import { applyRedaction, compileRedaction, redactString } from './redact.js';

/** The body of every error response: RFC 9457 problem details plus `code` and `trace_id`. */
export interface ProblemDetails {
  /** A URI naming the problem type; `'about:blank'` unless `problemType` is configured. */
  type: string;
  /** The HTTP status phrase, e.g. `'Not Found'`. */
  title: string;
  status: number;
  /** Human-readable: the error's own message when it is safe to show, else a generic sentence. */
  detail: string;
  /** Stable snake_case code, listed in https://github.com/bulwark-js/bulwark/blob/main/docs/errors.md */
  code: string;
  /** The request's trace id, also in the server log line and the `X-Request-Id` header. */
  trace_id?: string;
  /** Validation failures: `{ location, pointer, message }` items. */
  errors?: unknown[];
  /** Other safe, structured information. */
  details?: Record<string, unknown>;
  /** Only with `exposeStack` outside production. */
  stack?: string;
}

/** How an error was classified when it became a problem. */
export type ProblemKind =
  /** An `expose: true` error: its message, code, errors and details are shown. */
  | 'exposed'
  /** A known framework error (body-parser, a malformed URL) mapped to a fixed safe answer. */
  | 'mapped'
  /** Anything else: a generic body for its status (500 when it has none). */
  | 'generic';

/** A problem ready to send: status, headers to set, body. */
export interface ProblemResponse {
  status: number;
  headers: Record<string, string>;
  body: ProblemDetails;
  kind: ProblemKind;
}

/** Options of `problemFromError()`. */
export interface ProblemOptions {
  /** Put into `trace_id`. Default: none. */
  traceId?: string;
  /** The problem `type` URI for a code. Default: `'about:blank'`. */
  problemType?: (code: string, status: number) => string;
  /** Add the error's (redacted) stack to 5xx bodies. Default `false`. */
  exposeStack?: boolean;
}

interface Mapping {
  status: number;
  code: string;
  detail: string;
}

// body-parser / raw-body failures. Their own messages can quote the body ("Unexpected token 'p',
// "password=..." is not valid JSON") or a request header, so a fixed sentence replaces them.
const BODY_PARSER: Readonly<Record<string, Mapping>> = {
  'entity.parse.failed': {
    status: 400,
    code: 'invalid_json',
    detail: 'The request body is not valid JSON.',
  },
  'entity.too.large': {
    status: 413,
    code: 'payload_too_large',
    detail: 'The request body is too large.',
  },
  'entity.verify.failed': {
    status: 403,
    code: 'body_rejected',
    detail: 'The request body was rejected.',
  },
  'request.size.invalid': {
    status: 400,
    code: 'invalid_content_length',
    detail: 'The request body length does not match its Content-Length header.',
  },
  'request.aborted': {
    status: 400,
    code: 'request_aborted',
    detail: 'The request was aborted before its body was received.',
  },
  'charset.unsupported': {
    status: 415,
    code: 'unsupported_charset',
    detail: 'The request body charset is not supported.',
  },
  'encoding.unsupported': {
    status: 415,
    code: 'unsupported_content_encoding',
    detail: 'The request Content-Encoding is not supported.',
  },
  'parameters.too.many': {
    status: 413,
    code: 'too_many_parameters',
    detail: 'The request body has too many parameters.',
  },
  'querystring.parse.rangeError': {
    status: 400,
    code: 'invalid_body',
    detail: 'The request body is nested too deeply.',
  },
};

const MALFORMED_URL: Mapping = {
  status: 400,
  code: 'bad_request',
  detail: 'The request URL is malformed.',
};

/** A code this package shows: snake_case, at most 64 characters. */
export const CODE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
const MAX_DETAIL = 1_000;

// Headers that describe the representation being sent; an error's `headers` may not replace them.
// `Connection` is handled on its own: only `close` is taken from an error.
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'set-cookie',
  'x-request-id',
]);

// Applied to everything an exposed error shows: its message, errors and details are meant to be
// safe, but a token or connection string must not reach a client even when someone slips.
const SAFE = compileRedaction({ maxDepth: 6, maxArrayLength: 100, maxStringLength: 1_000 });

function read(target: unknown, key: string): unknown {
  if (typeof target !== 'object' || target === null) return undefined;
  try {
    return (target as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

function validStatus(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 400 && value <= 599
    ? value
    : undefined;
}

/** The status phrase for `status`, e.g. `'Payload Too Large'`. */
export function statusTitle(status: number): string {
  return STATUS_CODES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}

/** The code used for a status when an error gives none: `internal_error`, `not_found`, … */
export function defaultCode(status: number): string {
  if (status === 500) return 'internal_error';
  return statusTitle(status)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '');
}

/** The generic sentence for a status, e.g. `'Not found'`. */
export function genericDetail(status: number): string {
  const title = statusTitle(status);
  return title.charAt(0) + title.slice(1).toLowerCase();
}

function mappingFor(err: unknown): Mapping | undefined {
  const type = read(err, 'type');
  if (typeof type === 'string' && Object.hasOwn(BODY_PARSER, type)) {
    const mapping = BODY_PARSER[type]!;
    // body-parser keeps a status thrown by a verify function; other types carry their own.
    const status = validStatus(read(err, 'status'));
    if (status === undefined || status >= 500) return undefined;
    return type === 'entity.verify.failed' ? { ...mapping, status } : mapping;
  }
  if (err instanceof URIError && validStatus(read(err, 'status')) === 400) return MALFORMED_URL;
  return undefined;
}

function headersOf(err: unknown): Record<string, string> {
  const raw = read(err, 'headers');
  const headers: Record<string, string> = {};
  if (typeof raw !== 'object' || raw === null) return headers;
  for (const name of Object.keys(raw)) {
    const lower = name.toLowerCase();
    const value = read(raw, name);
    if (lower === 'connection') {
      // `close` only: a body parser that stops reading an oversized body asks for the socket to
      // close after the answer, so the client cannot keep streaming into it. Keep-alive, upgrade
      // or hop-by-hop header lists stay refused.
      if (typeof value === 'string' && value.trim().toLowerCase() === 'close') {
        headers.Connection = 'close';
      }
      continue;
    }
    if (RESERVED_HEADERS.has(lower)) continue;
    if (typeof value !== 'string' && typeof value !== 'number') continue;
    try {
      validateHeaderName(name);
      validateHeaderValue(name, String(value));
      headers[name] = String(value);
    } catch {
      // A header Node would refuse must not turn the error response into a crash.
    }
  }
  return headers;
}

/**
 * Classifies any thrown value and builds the problem response for it, without changing it.
 *
 * - `expose: true` errors with a 4xx/5xx `status` keep their message as `detail`, their
 *   snake_case `code`, their `errors`/`details`, and their `headers` (`Connection` only as
 *   `close`); secret-shaped text in them is still redacted.
 * - body-parser failures and Express's malformed-URL `URIError` get fixed, safe answers.
 * - `expose: false` errors with a 4xx/5xx `status` get that status and a generic body, with no
 *   header but `Retry-After`; everything else (an upstream status on an HTTP client's error included) is a
 *   generic 500 `internal_error`.
 *
 * @example
 * const problem = problemFromError(createError(404, 'No such device', { code: 'device_not_found' }));
 * sendProblem(res, problem);
 */
export function problemFromError(err: unknown, options: ProblemOptions = {}): ProblemResponse {
  const explicitStatus = validStatus(read(err, 'status')) ?? validStatus(read(err, 'statusCode'));
  const expose = read(err, 'expose');
  const mapping = mappingFor(err);
  let kind: ProblemKind;
  let status: number;
  let code: string;
  let detail: string;
  let errors: unknown[] | undefined;
  let details: Record<string, unknown> | undefined;
  let headers: Record<string, string> = {};

  if (mapping) {
    kind = 'mapped';
    ({ status, code, detail } = mapping);
    const limit = read(err, 'limit');
    if (mapping.code === 'payload_too_large' && typeof limit === 'number') details = { limit };
  } else if (explicitStatus !== undefined && expose === true) {
    kind = 'exposed';
    status = explicitStatus;
    const ownCode = read(err, 'code');
    code =
      typeof ownCode === 'string' && CODE_PATTERN.test(ownCode) ? ownCode : defaultCode(status);
    const message = read(err, 'message');
    detail =
      typeof message === 'string' && message.trim() !== ''
        ? redactString(
            message.length > MAX_DETAIL ? `${message.slice(0, MAX_DETAIL)}…` : message,
            SAFE,
          )
        : genericDetail(status);
    const ownErrors = read(err, 'errors');
    if (Array.isArray(ownErrors)) errors = applyRedaction(ownErrors, SAFE) as unknown[];
    const ownDetails = read(err, 'details');
    if (typeof ownDetails === 'object' && ownDetails !== null && !Array.isArray(ownDetails)) {
      details = applyRedaction(ownDetails, SAFE) as Record<string, unknown>;
    }
    headers = headersOf(err);
  } else {
    kind = 'generic';
    // Only an HTTP error (one that says whether it may be shown, as http-errors do) chooses the
    // status. An HTTP client's error carries the upstream's status and response headers: a 401
    // from a billing service is the server's failure, not the client's, and its headers
    // (Location, Server, WWW-Authenticate, CORS) describe another service.
    const httpError = typeof expose === 'boolean' && explicitStatus !== undefined;
    status = httpError ? explicitStatus : 500;
    code = defaultCode(status);
    detail = genericDetail(status);
    // An unexposed HTTP error (http-errors makes every 5xx one) keeps only its Retry-After.
    if (httpError) {
      for (const [name, value] of Object.entries(headersOf(err))) {
        if (name.toLowerCase() === 'retry-after') headers = { 'Retry-After': value };
      }
    }
  }

  const body: ProblemDetails = {
    type: options.problemType ? options.problemType(code, status) : 'about:blank',
    title: statusTitle(status),
    status,
    detail,
    code,
  };
  if (options.traceId !== undefined) body.trace_id = options.traceId;
  if (errors !== undefined) body.errors = errors;
  if (details !== undefined) body.details = details;
  if (options.exposeStack && status >= 500) {
    const stack = read(err, 'stack');
    if (typeof stack === 'string') body.stack = redactString(stack, SAFE);
  }
  return { status, headers, body, kind };
}

// Headers set by the failed handler that describe the response it meant to send.
const STALE_HEADERS = [
  'content-disposition',
  'content-encoding',
  'content-language',
  'content-location',
  'content-range',
  'etag',
  'last-modified',
  'location',
];

/**
 * Sends a problem as `application/problem+json`. Keeps headers set earlier by middleware
 * (security headers, CORS, rate-limit headers, `X-Request-Id`) but drops those describing the
 * response the failed handler was building, and marks the answer `no-store` and `nosniff`.
 * Sends no body to a HEAD request.
 */
export function sendProblem(res: Response, problem: ProblemResponse): void {
  for (const name of STALE_HEADERS) res.removeHeader(name);
  for (const [name, value] of Object.entries(problem.headers)) res.setHeader(name, value);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.statusCode = problem.status;
  const payload = JSON.stringify(problem.body);
  res.setHeader('Content-Type', 'application/problem+json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(payload));
  if (res.req?.method === 'HEAD') res.end();
  else res.end(payload);
}
