// Refuses an Express `trust proxy` setting that lets any client choose its own address.
import { RateLimitConfigError, show } from './errors.js';
import { type Logger, warn } from './logger.js';

/** The part of an Express app this check reads. */
export interface AppSettings {
  get(setting: string): unknown;
}

/**
 * Ranges broader than the broadest private ones (10.0.0.0/8, fc00::/7) take in public addresses,
 * that is, clients that can write their own X-Forwarded-For.
 */
function tooBroad(entry: string): boolean {
  const slash = entry.lastIndexOf('/');
  if (slash === -1) return false;
  const bits = Number(entry.slice(slash + 1));
  if (!Number.isInteger(bits)) return false;
  return entry.includes(':') ? bits < 7 : bits < 8;
}

/**
 * Why a `trust proxy` value trusts every hop, or `undefined` when it does not. A hop count or a
 * list of proxy addresses is fine; `true` (or a range covering every address) means Express takes
 * the left-most `X-Forwarded-For` entry, which the client writes itself. A range wider than
 * a /8 (IPv4) or /7 (IPv6) counts as trusting everyone.
 */
export function permissiveTrustProxy(setting: unknown): string | undefined {
  if (setting === true) return 'true';
  const entries = Array.isArray(setting)
    ? setting
    : typeof setting === 'string'
      ? setting.split(',')
      : [];
  for (const entry of entries) {
    if (typeof entry === 'string' && tooBroad(entry.trim())) return show(entry.trim());
  }
  return undefined;
}

/** The configuration error for a permissive setting. */
export function trustProxyError(value: string): RateLimitConfigError {
  return new RateLimitConfigError(
    'ERR_BULWARK_RATE_LIMIT_TRUST_PROXY',
    `Express 'trust proxy' is ${value}, so any client can send X-Forwarded-For and choose the address it is rate-limited by. ` +
      `Set the number of proxies in front of the app, e.g. app.set('trust proxy', 1), or their addresses, e.g. app.set('trust proxy', ['10.0.0.0/8']).`,
  );
}

/**
 * Checks an app's setting once. In production a permissive setting is an error; elsewhere it is
 * a warning, because local setups often run behind a single dev proxy.
 */
export function createTrustProxyCheck({
  production,
  logger,
}: {
  production: boolean;
  logger: Logger | undefined;
}): (app: AppSettings) => RateLimitConfigError | undefined {
  const checked = new WeakMap<AppSettings, RateLimitConfigError | undefined>();
  return function checkTrustProxy(app) {
    if (checked.has(app)) return checked.get(app);
    const value = permissiveTrustProxy(app.get('trust proxy'));
    let error: RateLimitConfigError | undefined;
    if (value !== undefined) {
      error = trustProxyError(value);
      if (!production) {
        warn(logger, error.code, `${error.message} This is refused when NODE_ENV=production.`);
        error = undefined;
      }
    }
    checked.set(app, error);
    return error;
  };
}
