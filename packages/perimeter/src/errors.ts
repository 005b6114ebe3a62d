// Configuration errors, request-time HTTP errors, diagnostics channels and the optional logger.
import { channel } from 'node:diagnostics_channel';
import createError, { type HttpError } from 'http-errors';
import { looksLikeRequest } from '../../../internal/options.js';
import { closestName } from '../../../internal/suggest.js';

/** Thrown by every factory in this package when its options are unsafe or malformed. */
export class PerimeterConfigError extends Error {
  readonly code: `ERR_BULWARK_PERIMETER_${string}`;
  /**
   * Set so an error handler that receives this error (a setting found unsafe at the first
   * request) answers 500 without exposing the message, which is for the operator's log.
   */
  readonly status = 500;
  readonly expose = false;

  constructor(code: `ERR_BULWARK_PERIMETER_${string}`, message: string) {
    super(message);
    this.name = 'PerimeterConfigError';
    this.code = code;
  }
}

/** Winston's call shape; a winston logger plugs straight in. */
export interface PerimeterLogger {
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error?(message: string, meta?: Record<string, unknown>): unknown;
  info?(message: string, meta?: Record<string, unknown>): unknown;
  debug?(message: string, meta?: Record<string, unknown>): unknown;
}

/** Sends a warning to the logger when one is given, else to `process.emitWarning` with its code. */
export { warn } from '../../../internal/warn.js';

/** Sends an informational line to the logger, if there is one; nothing is printed otherwise. */
export function info(
  logger: PerimeterLogger | undefined,
  message: string,
  meta: Record<string, unknown> = {},
): void {
  logger?.info?.(message, meta);
}

/** The channels this package publishes on: `bulwark:perimeter:<event>`. */
export const perimeterChannels = {
  timeout: channel('bulwark:perimeter:timeout'),
  hostRejected: channel('bulwark:perimeter:host-rejected'),
  originRejected: channel('bulwark:perimeter:origin-rejected'),
  ipRejected: channel('bulwark:perimeter:ip-rejected'),
  csrfRejected: channel('bulwark:perimeter:csrf-rejected'),
} as const;

/** Publishes only when someone listens, so the message object is not built for nobody. */
export function publish(
  name: keyof typeof perimeterChannels,
  message: () => Record<string, unknown>,
): void {
  const ch = perimeterChannels[name];
  if (ch.hasSubscribers) ch.publish(message());
}

/**
 * An http-errors error in the shape every Bulwark package uses. Every message this package
 * writes is fixed text, safe to show, so even the 503 is exposed and keeps its own `code`.
 */
export function httpError(
  status: number,
  message: string,
  code: string,
  extra: { headers?: Record<string, string>; details?: Record<string, unknown> } = {},
): HttpError {
  return createError(status, message, { code, expose: true, ...extra });
}

/**
 * Refuses anything but a plain options object with known keys, naming the closest known key
 * for a typo, and catches `app.use(factory)` written without the call.
 */
export function checkOptions(
  factory: string,
  options: unknown,
  known: readonly string[],
): Record<string, unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTIONS',
      `${factory}: options must be an object, received ${describe(options)}. Pass an object such as ${factory}({ ... }).`,
    );
  }
  if (looksLikeRequest(options)) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_NOT_CALLED',
      `${factory} was used as middleware without being called. Write app.use(${factory}()), not app.use(${factory}).`,
    );
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const best = closestName(key, known);
    const hint = best ? ` Did you mean \`${best}\`?` : ` Known options: ${known.join(', ')}.`;
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_UNKNOWN_OPTION',
      `${factory}: unknown option \`${key}\`.${hint}`,
    );
  }
  return options as Record<string, unknown>;
}

/** A short, safe description of a configuration value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** Validates a positive integer number of milliseconds, or throws with the option's name. */
export function positiveInt(
  factory: string,
  name: string,
  value: unknown,
  { allowZero = false, max = 2_147_483_647 } = {},
): number {
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < (allowZero ? 0 : 1) ||
    value > max
  ) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_NUMBER',
      `${factory}: ${name}: ${describe(value)} is not valid. Use a${allowZero ? ' non-negative' : ' positive'} integer no larger than ${max}.`,
    );
  }
  return value;
}
