// Configuration errors thrown at construction, and the HTTP errors handed to next() at request time.
import createError, { type HttpError } from 'http-errors';
import { closestName } from '../../../internal/suggest.js';

/** A misconfiguration found when a factory runs. `code` is stable; the message names the fix. */
export class RateLimitConfigError extends Error {
  readonly code: `ERR_BULWARK_RATE_LIMIT_${string}`;
  /** Set so an error handler that receives this error answers 500 without exposing it. */
  readonly status = 500;
  readonly expose = false;

  constructor(code: `ERR_BULWARK_RATE_LIMIT_${string}`, message: string) {
    super(message);
    this.name = 'RateLimitConfigError';
    this.code = code;
  }
}

/** Quotes a value for an error message without ever printing more than a short preview. */
export function show(value: unknown): string {
  if (typeof value === 'function') return `a function (${value.name || 'anonymous'})`;
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n`;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 80)}…` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * Refuses option names the factory does not know, suggesting the closest known name, so a typo
 * such as `windowMS` never silently leaves a default in place.
 */
export function rejectUnknownOptions(
  where: string,
  options: object,
  known: readonly string[],
): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const best = closestName(name, known);
    const hint =
      best !== undefined ? ` Did you mean \`${best}\`?` : ` Known options: ${known.join(', ')}.`;
    throw new RateLimitConfigError(
      'ERR_BULWARK_RATE_LIMIT_UNKNOWN_OPTION',
      `${where}: \`${name}\` is not an option.${hint}`,
    );
  }
}

/** The 429 a policy hands to next() when a client is over its limit. */
export function rateLimitedError(policy: string, headers: Record<string, string>): HttpError {
  const error = createError(429, 'Too many requests, please try again later.', {
    code: 'rate_limited',
    expose: true,
    headers,
    details: { policy },
  });
  // A refusal is an answer, not a fault: its stack tells nothing about it, and a default error
  // handler outside production would show the client the server's file paths in it.
  error.stack = `${error.name}: ${error.message}`;
  return error;
}

/** The 503 a fail-closed policy hands to next() while its store cannot be reached. */
export function unavailableError(policy: string, retryAfterSeconds: number): HttpError {
  return createError(503, 'Rate limiting is temporarily unavailable, please try again later.', {
    code: 'rate_limit_unavailable',
    expose: true,
    headers: { 'Retry-After': String(retryAfterSeconds) },
    details: { policy },
  });
}

/** The 429 `abuseGuard` hands to next() while a client is banned. */
export function bannedError(policy: string, retryAfterSeconds: number): HttpError {
  return createError(429, 'Too many failed requests, access is temporarily blocked.', {
    code: 'client_banned',
    expose: true,
    headers: { 'Retry-After': String(retryAfterSeconds) },
    details: { policy },
  });
}
