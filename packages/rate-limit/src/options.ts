// Shared checks for option values, each failing with a stable code, the bad value and the fix.

import type { NextFunction, Request, Response } from 'express';
import type { Store } from 'express-rate-limit';
import { RateLimitConfigError, show } from './errors.js';
import { isLogger, type Logger, warn } from './logger.js';
import {
  type AppSettings,
  createForwardedCheck,
  createTrustProxyCheck,
  type ForwardedHeaders,
  type ForwardedRequest,
} from './proxy.js';
import type { BreakerOptions, CircuitBreaker, OnStoreError } from './resilient-store.js';

type Code = `ERR_BULWARK_RATE_LIMIT_${string}`;

/** Options that `rateLimit` and `abuseGuard` share. */
export interface SharedOptions {
  /** Whether it acts at all. Default: `RATE_LIMIT_ENABLED` (true unless `false`). */
  enabled?: boolean;
  /** Prefix length that groups IPv6 clients into one counter. Default: `56`. */
  ipv6Subnet?: number;
  /**
   * While a shared store is down: `'allow'` keeps counting in a bounded memory store on this
   * instance; `'deny'` answers 503 `rate_limit_unavailable`. Default: `'allow'`.
   */
  onStoreError?: OnStoreError;
  /** Longest wait for one call to a shared store, in milliseconds. Default: `200`. */
  storeTimeoutMs?: number;
  /** Circuit breaker for a shared store. Default: `{ failures: 3, cooldownMs: 5_000 }`. */
  breaker?: BreakerOptions;
  /** Most keys the outage fallback store holds. Default: `10_000`. */
  fallbackMaxKeys?: number;
  /**
   * The Express app, to check its `trust proxy` setting now rather than at the first request.
   * Default: checked at the first request.
   */
  app?: AppSettings;
  /**
   * `'check'`: a request carrying X-Forwarded-For, Forwarded or X-Real-IP that Express ignores
   * (its `trust proxy` setting does not trust the peer, or the trusted peer sent no
   * X-Forwarded-For) means every client behind a proxy shares one address: a warning, and in
   * production a 500 `ERR_BULWARK_RATE_LIMIT_FORWARDED_IGNORED` for each such request.
   * `'ignore'`: clients reach the app directly, so these headers are theirs and are ignored.
   * Default: `'check'`.
   */
  forwardedHeaders?: ForwardedHeaders;
  /** winston-shaped logger for warnings. Default: `process.emitWarning`. */
  logger?: Logger;
}

/** What `createRateLimits` passes to a policy or guard it builds. */
export interface FactoryContext {
  where: string;
  /** Makes a shared (Redis) store under the given name. */
  createStore?: (name: string) => Store;
  breaker?: CircuitBreaker;
  enabled?: boolean;
}

/**
 * The middleware of a policy or guard switched off: it passes every request on, and warns once
 * when that happens in production.
 */
export function disabledMiddleware<T extends object>(
  common: Pick<CommonSettings, 'production' | 'logger'>,
  label: string,
  name: string,
  helpers: T,
) {
  if (common.production) {
    warn(
      common.logger,
      'BULWARK_RATE_LIMIT_DISABLED',
      `${label} '${name}' is disabled in production`,
      {
        policy: name,
      },
    );
  }
  const passThrough = function rateLimitDisabled(
    _req: Request,
    _res: Response,
    next: NextFunction,
  ) {
    next();
  };
  return Object.assign(passThrough, { policy: name, enabled: false as const }, helpers);
}

export function positiveInteger(
  where: string,
  name: string,
  value: unknown,
  code: Code,
  example: string,
  { allowZero = false, max = Number.MAX_SAFE_INTEGER } = {},
): number {
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < (allowZero ? 0 : 1) ||
    value > max
  ) {
    throw new RateLimitConfigError(
      code,
      `${where}: ${name}: ${show(value)} is not valid. Use ${allowZero ? 'a whole number of 0 or more' : 'a positive whole number'}${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, such as ${example}.`,
    );
  }
  return value;
}

export function booleanOption(where: string, name: string, value: unknown, code: Code): boolean {
  if (typeof value !== 'boolean') {
    throw new RateLimitConfigError(
      code,
      `${where}: ${name}: ${show(value)} is not valid. Use true or false.`,
    );
  }
  return value;
}

export function functionOption<T>(where: string, name: string, value: unknown, code: Code): T {
  if (typeof value !== 'function') {
    throw new RateLimitConfigError(
      code,
      `${where}: ${name}: ${show(value)} is not valid. Pass a function.`,
    );
  }
  return value as T;
}

export function onStoreErrorOption(where: string, value: unknown): OnStoreError {
  if (value === 'allow' || value === 'deny') return value;
  throw new RateLimitConfigError(
    'ERR_BULWARK_RATE_LIMIT_ON_STORE_ERROR',
    `${where}: onStoreError: ${show(value)} is not valid. Use 'allow' (limit in memory on this instance while the store is down) or 'deny' (answer 503 while it is down).`,
  );
}

export function breakerOption(where: string, value: unknown): Required<BreakerOptions> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RateLimitConfigError(
      'ERR_BULWARK_RATE_LIMIT_BREAKER',
      `${where}: breaker: ${show(value)} is not valid. Use an object such as { failures: 3, cooldownMs: 5_000 }.`,
    );
  }
  const known = ['failures', 'cooldownMs'];
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new RateLimitConfigError(
        'ERR_BULWARK_RATE_LIMIT_UNKNOWN_OPTION',
        `${where}: breaker.${key} is not an option. Known options: failures, cooldownMs.`,
      );
    }
  }
  const { failures = DEFAULTS.breaker.failures, cooldownMs = DEFAULTS.breaker.cooldownMs } =
    value as BreakerOptions;
  return {
    failures: positiveInteger(
      where,
      'breaker.failures',
      failures,
      'ERR_BULWARK_RATE_LIMIT_BREAKER',
      '3',
    ),
    cooldownMs: positiveInteger(
      where,
      'breaker.cooldownMs',
      cooldownMs,
      'ERR_BULWARK_RATE_LIMIT_BREAKER',
      '5_000',
    ),
  };
}

export function forwardedHeadersOption(where: string, value: unknown): ForwardedHeaders {
  if (value === 'check' || value === 'ignore') return value;
  throw new RateLimitConfigError(
    'ERR_BULWARK_RATE_LIMIT_FORWARDED_HEADERS',
    `${where}: forwardedHeaders: ${show(value)} is not valid. Use 'check' (the default: forwarding headers Express ignores are reported) or 'ignore' (clients reach the app directly, without a proxy).`,
  );
}

export function loggerOption(where: string, value: unknown): Logger | undefined {
  if (value === undefined) return undefined;
  if (isLogger(value)) return value;
  throw new RateLimitConfigError(
    'ERR_BULWARK_RATE_LIMIT_LOGGER',
    `${where}: logger: ${show(value)} is not valid. Pass an object with warn(message, meta), such as a winston logger.`,
  );
}

/**
 * `RATE_LIMIT_ENABLED`, read once at construction: limits are on unless it is `false`. A value
 * that is neither a yes nor a no is refused rather than guessed.
 */
export function enabledFromEnv(): boolean {
  const raw = process.env.RATE_LIMIT_ENABLED;
  if (raw === undefined) return true;
  const value = raw.trim().toLowerCase();
  if (value === 'false' || value === '0') return false;
  if (value === '' || value === 'true' || value === '1') return true;
  throw new RateLimitConfigError(
    'ERR_BULWARK_RATE_LIMIT_ENABLED',
    `RATE_LIMIT_ENABLED=${show(raw)} is not valid. Use true or false (unset means true).`,
  );
}

/** Catches `app.use(rateLimit)`, where Express would call the factory with (req, res, next). */
export function rejectMiddlewareCall(where: string, args: ArrayLike<unknown>): void {
  const first = args[0] as { headers?: unknown; socket?: unknown } | undefined;
  if (
    args.length >= 2 ||
    (typeof first === 'object' && first !== null && 'headers' in first && 'socket' in first)
  ) {
    throw new RateLimitConfigError(
      'ERR_BULWARK_RATE_LIMIT_NOT_CALLED',
      `${where} was used as middleware without being called. Use app.use(${where}({ ... })) instead of app.use(${where}).`,
    );
  }
}

export function objectOptions(where: string, value: unknown): Record<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return value as Record<string, unknown>;
  }
  throw new RateLimitConfigError(
    'ERR_BULWARK_RATE_LIMIT_OPTIONS',
    `${where}: options ${show(value)} are not valid. Pass an options object, such as { name: 'api', limit: 100, windowMs: 60_000 }.`,
  );
}

/** Every default of the package, in one place. */
export const DEFAULTS = {
  windowMs: 60_000,
  limit: 100,
  key: 'ip',
  ipv6Subnet: 56,
  onStoreError: 'allow',
  storeTimeoutMs: 200,
  breaker: { failures: 3, cooldownMs: 5_000 },
  fallbackMaxKeys: 10_000,
  forwardedHeaders: 'check',
  memoryMaxKeys: 100_000,
  prefix: 'bulwark:rl:',
  abuseGuard: {
    name: 'abuse-guard',
    statuses: [401, 403, 404],
    failures: 20,
    windowMs: 600_000,
    banMs: 900_000,
  },
} as const;

/** The longest window a timer-based store can hold (2^31 - 1 ms, about 24.8 days). */
export const MAX_WINDOW_MS = 2 ** 31 - 1;

/** Options `rateLimit` and `abuseGuard` share, resolved and checked. */
export interface CommonSettings {
  ipv6Subnet: number;
  onStoreError: OnStoreError;
  storeTimeoutMs: number;
  breaker: Required<BreakerOptions>;
  fallbackMaxKeys: number;
  logger: Logger | undefined;
  enabled: boolean;
  production: boolean;
  checkTrustProxy: (app: AppSettings) => RateLimitConfigError | undefined;
  checkForwarded: (req: ForwardedRequest) => RateLimitConfigError | undefined;
}

/**
 * Resolves the options every factory shares. `NODE_ENV` and `RATE_LIMIT_ENABLED` are read here,
 * once, at construction. When `app` is given, its `trust proxy` setting is checked now.
 */
export function resolveCommon(
  where: string,
  options: Record<string, unknown>,
  enabledDefault: boolean | undefined,
): CommonSettings {
  const ipv6Subnet = positiveInteger(
    where,
    'ipv6Subnet',
    options.ipv6Subnet ?? DEFAULTS.ipv6Subnet,
    'ERR_BULWARK_RATE_LIMIT_IPV6_SUBNET',
    '56 (or 64)',
    { max: 128 },
  );
  const onStoreError = onStoreErrorOption(where, options.onStoreError ?? DEFAULTS.onStoreError);
  const storeTimeoutMs = positiveInteger(
    where,
    'storeTimeoutMs',
    options.storeTimeoutMs ?? DEFAULTS.storeTimeoutMs,
    'ERR_BULWARK_RATE_LIMIT_STORE_TIMEOUT',
    '200',
  );
  const breaker = breakerOption(where, options.breaker ?? {});
  const fallbackMaxKeys = positiveInteger(
    where,
    'fallbackMaxKeys',
    options.fallbackMaxKeys ?? DEFAULTS.fallbackMaxKeys,
    'ERR_BULWARK_RATE_LIMIT_MAX_KEYS',
    '10_000',
  );
  const logger = loggerOption(where, options.logger);
  const enabled =
    options.enabled === undefined
      ? (enabledDefault ?? enabledFromEnv())
      : booleanOption(where, 'enabled', options.enabled, 'ERR_BULWARK_RATE_LIMIT_ENABLED');
  const production = process.env.NODE_ENV === 'production';
  const checkTrustProxy = createTrustProxyCheck({ production, logger });
  const checkForwarded = createForwardedCheck({
    production,
    logger,
    mode: forwardedHeadersOption(where, options.forwardedHeaders ?? DEFAULTS.forwardedHeaders),
  });
  if (options.app !== undefined) {
    const app = options.app as AppSettings | null;
    if (typeof app?.get !== 'function') {
      throw new RateLimitConfigError(
        'ERR_BULWARK_RATE_LIMIT_APP',
        `${where}: app ${show(app)} is not an Express app. Pass the app returned by express(), or leave app out to check at the first request.`,
      );
    }
    const error = checkTrustProxy(app);
    if (error) throw error;
  }
  return {
    ipv6Subnet,
    onStoreError,
    storeTimeoutMs,
    breaker,
    fallbackMaxKeys,
    logger,
    enabled,
    production,
    checkTrustProxy,
    checkForwarded,
  };
}
