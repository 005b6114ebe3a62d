// Refuses an Express `trust proxy` setting that lets any client choose its own address.
import ipaddr from 'ipaddr.js';
import { type TrustFunction, trustsPeer } from './client-address.js';
import { RateLimitConfigError, show } from './errors.js';
import { type Logger, warn } from './logger.js';

/** The part of an Express app this check reads. */
export interface AppSettings {
  get(setting: string): unknown;
}

/**
 * Hop counts above this are more proxies than a deployment puts in front of an app: Express would
 * take an entry the client wrote. A hop count trusts by position, so smaller counts cannot be
 * checked here; they must match the real number of proxies.
 */
export const MAX_TRUSTED_HOPS = 5;

/**
 * Public addresses no one runs a proxy at (Google and Cisco resolvers, in both halves of the IPv4
 * space, as IPv6 and as IPv4-mapped IPv6). A setting that trusts one of them trusts clients.
 */
const PUBLIC_PROBES = [
  '8.8.8.8',
  '208.67.222.222',
  '2001:4860:4860::8888',
  '2620:119:35::35',
  '::ffff:8.8.8.8',
  '::ffff:208.67.222.222',
];

/**
 * A trust function is called with each address and its position (0 is the socket's peer). A
 * function that trusts a public address at any of these positions lets the client past it.
 */
const PROBE_HOPS = MAX_TRUSTED_HOPS;

/** Prefix length of a range entry (`a.b.c.d/8`, `a.b.c.d/255.0.0.0`, `::ffff:a.b.c.d/97`). */
function rangeBits(entry: string): { ipv4: boolean; bits: number } | undefined {
  const slash = entry.lastIndexOf('/');
  if (slash === -1) return undefined;
  const address = entry.slice(0, slash);
  const mask = entry.slice(slash + 1);
  if (!ipaddr.isValid(address)) return undefined;
  const ip = ipaddr.parse(address);
  let bits: number | null = null;
  if (/^\d+$/.test(mask)) bits = Number(mask);
  else if (ipaddr.isValid(mask)) bits = ipaddr.parse(mask).prefixLengthFromSubnetMask();
  if (bits === null) return undefined;
  // Express compares IPv4 clients with IPv4-mapped ranges as if they were IPv4 ranges.
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return { ipv4: true, bits: bits - 96 };
  }
  return { ipv4: ip.kind() === 'ipv4', bits };
}

/**
 * Ranges broader than the broadest private ones (10.0.0.0/8, fc00::/7) take in public addresses,
 * that is, clients that can write their own X-Forwarded-For.
 */
function tooBroad(entry: string): boolean {
  const range = rangeBits(entry);
  if (range === undefined) return false;
  return range.ipv4 ? range.bits < 8 : range.bits < 7;
}

/** The first public address (and position) a trust function accepts, if any. */
function trustedProbe(trust: TrustFunction): string | undefined {
  for (let hop = 0; hop < PROBE_HOPS; hop++) {
    for (const address of PUBLIC_PROBES) {
      let trusted: unknown;
      try {
        trusted = trust(address, hop);
      } catch {
        // A function that throws on an address never lets Express read past it.
        trusted = false;
      }
      if (trusted) return hop === 0 ? address : `${address} at hop ${hop}`;
    }
  }
  return undefined;
}

/**
 * Why a `trust proxy` setting lets a client choose its address, or `undefined` when it does not.
 * `true`, a hop count above {@link MAX_TRUSTED_HOPS}, a range wider than a /8 (IPv4) or /7 (IPv6),
 * and any setting whose compiled trust function (`compiled`, Express's `trust proxy fn`) accepts a
 * public address are refused. A hop count up to the limit trusts by position and is accepted.
 */
export function permissiveTrustProxy(setting: unknown, compiled?: unknown): string | undefined {
  if (setting === true) return 'true';
  if (typeof setting === 'number') {
    return setting > MAX_TRUSTED_HOPS
      ? `a hop count of ${setting} (more than ${MAX_TRUSTED_HOPS})`
      : undefined;
  }
  const trust =
    typeof compiled === 'function'
      ? (compiled as TrustFunction)
      : typeof setting === 'function'
        ? (setting as TrustFunction)
        : undefined;
  if (trust !== undefined) {
    const address = trustedProbe(trust);
    if (address !== undefined)
      return `${show(setting)}, which trusts the public address ${address}`;
  }
  const entries = Array.isArray(setting) ? setting : typeof setting === 'string' ? [setting] : [];
  for (const entry of entries) {
    if (typeof entry !== 'string') continue;
    for (const part of entry.split(',')) {
      if (tooBroad(part.trim())) return show(part.trim());
    }
  }
  return undefined;
}

/** The configuration error for a permissive setting. */
export function trustProxyError(value: string): RateLimitConfigError {
  return new RateLimitConfigError(
    'ERR_BULWARK_RATE_LIMIT_TRUST_PROXY',
    `Express 'trust proxy' is ${value}, so any client can send X-Forwarded-For and choose the address it is rate-limited by. ` +
      `Set the number of proxies in front of the app (at most ${MAX_TRUSTED_HOPS}), e.g. app.set('trust proxy', 1), or their addresses, e.g. app.set('trust proxy', ['10.0.0.0/8']). ` +
      'A trust function must return false for every address that is not one of your proxies.',
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
  // Nearly every request comes from the app seen last, which is then answered without a lookup.
  let lastApp: AppSettings | undefined;
  let lastError: RateLimitConfigError | undefined;
  return function checkTrustProxy(app) {
    if (app === lastApp) return lastError;
    if (checked.has(app)) {
      lastError = checked.get(app);
      lastApp = app;
      return lastError;
    }
    const value = permissiveTrustProxy(app.get('trust proxy'), app.get('trust proxy fn'));
    let error: RateLimitConfigError | undefined;
    if (value !== undefined) {
      error = trustProxyError(value);
      if (!production) {
        warn(logger, error.code, `${error.message} This is refused when NODE_ENV=production.`);
        error = undefined;
      }
    }
    checked.set(app, error);
    lastApp = app;
    lastError = error;
    return error;
  };
}

/** Whether a policy checks forwarding headers against the app's `trust proxy` setting. */
export type ForwardedHeaders = 'check' | 'ignore';

/** The part of a request the forwarding check reads. */
export interface ForwardedRequest {
  headers: Record<string, string | string[] | undefined>;
  socket?: { remoteAddress?: string | undefined } | undefined;
  app?: AppSettings | undefined;
}

/**
 * Headers in which a proxy passes on the client's address. Express reads only X-Forwarded-For,
 * and only from a peer its `trust proxy` setting trusts.
 */
const FORWARDING_HEADERS = [
  ['x-forwarded-for', 'X-Forwarded-For'],
  ['forwarded', 'Forwarded'],
  ['x-real-ip', 'X-Real-IP'],
] as const;

/** What a request says about a proxy that Express did not listen to. */
export interface IgnoredForwarding {
  /** The socket's peer, an IPv4 address unwrapped from `::ffff:`. */
  peer: string;
  /** The forwarding headers the request carries, as they are usually written. */
  headers: string[];
  /** True when `trust proxy` trusts the peer, which then sent no X-Forwarded-For. */
  peerTrusted: boolean;
}

/** Whether a request carries X-Forwarded-For, Forwarded or X-Real-IP. */
function hasForwardingHeader(given: ForwardedRequest['headers']): boolean {
  return (
    given['x-forwarded-for'] !== undefined ||
    given.forwarded !== undefined ||
    given['x-real-ip'] !== undefined
  );
}

/**
 * The forwarding headers of a request that Express ignored, or `undefined` when it has none or
 * Express read them. Ignored: any of them from a peer `trust proxy` does not trust (Express then
 * takes the peer as the client), and Forwarded or X-Real-IP without X-Forwarded-For from a peer
 * it trusts (Express reads only X-Forwarded-For).
 */
export function ignoredForwarding(
  req: ForwardedRequest,
  trust: unknown,
): IgnoredForwarding | undefined {
  const given = req.headers;
  if (!hasForwardingHeader(given)) return undefined;
  const headers: string[] = [];
  for (const [name, written] of FORWARDING_HEADERS) {
    if (given[name] !== undefined) headers.push(written);
  }
  const peer = req.socket?.remoteAddress;
  if (peer === undefined) return undefined;
  // Express treats a trust function that throws as one that does not trust. The answer of the
  // app's compiled trust function is remembered per socket: behind a proxy every request carries
  // X-Forwarded-For, and asking means parsing the peer's address again.
  const trusted =
    typeof trust === 'function' ? (trustsPeer(req, peer, trust as TrustFunction) ?? false) : false;
  if (trusted && headers.includes('X-Forwarded-For')) return undefined;
  const plain = ipaddr.isValid(peer) ? ipaddr.process(peer).toString() : peer;
  return { peer: plain, headers, peerTrusted: trusted };
}

/** The peer as a `trust proxy` value: loopback by name, any other address as it is. */
function trustValue(peer: string): string {
  return ipaddr.isValid(peer) && ipaddr.parse(peer).range() === 'loopback' ? 'loopback' : peer;
}

function list(names: readonly string[]): string {
  if (names.length < 2) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/** The configuration error naming the ignored headers, the peer and the fix. */
export function forwardedError({
  peer,
  headers,
  peerTrusted,
}: IgnoredForwarding): RateLimitConfigError {
  const shared = `every client behind it is counted as ${peer}: they share one rate-limit counter, and an abuseGuard ban of one bans them all.`;
  const direct = `If clients reach the app directly, these headers are theirs to write: pass forwardedHeaders: 'ignore'.`;
  const message = peerTrusted
    ? `Requests from ${peer}, a proxy Express 'trust proxy' trusts, carry ${list(headers)} but no X-Forwarded-For, the one header Express reads a client's address from, so ${shared} ` +
      `Make the proxy send X-Forwarded-For (nginx: proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;). ${direct}`
    : `Requests reach the app from ${peer} with ${list(headers)}, but Express 'trust proxy' does not trust ${peer}, so Express ignores ${headers.length > 1 ? 'them' : 'it'} and ${shared} ` +
      `If ${peer} is your proxy, trust it: app.set('trust proxy', '${trustValue(peer)}'), or the number of proxies in front of the app, e.g. app.set('trust proxy', 1). ${direct}`;
  return new RateLimitConfigError('ERR_BULWARK_RATE_LIMIT_FORWARDED_IGNORED', message);
}

/** Apps already told about ignored forwarding headers: one message per app, whatever the policies. */
const reportedApps = new WeakSet<AppSettings>();

/**
 * Checks each request's forwarding headers against its app's `trust proxy` setting. Outside
 * production the first ignored header is a warning and requests go on; in production each such
 * request gets the configuration error (a 500) and the first is logged, rather than counting
 * every client behind a proxy as one.
 */
export function createForwardedCheck({
  production,
  logger,
  mode,
}: {
  production: boolean;
  logger: Logger | undefined;
  mode: ForwardedHeaders;
}): (req: ForwardedRequest) => RateLimitConfigError | undefined {
  if (mode === 'ignore') return () => undefined;
  return function checkForwarded(req) {
    // Most requests carry no forwarding header: they are answered before anything else is read.
    if (!hasForwardingHeader(req.headers)) return undefined;
    const app = req.app;
    if (app === undefined || (!production && reportedApps.has(app))) return undefined;
    const found = ignoredForwarding(req, app.get('trust proxy fn'));
    if (found === undefined) return undefined;
    const error = forwardedError(found);
    if (!reportedApps.has(app)) {
      reportedApps.add(app);
      warn(
        logger,
        error.code,
        production
          ? `${error.message} Such requests are answered 500 until this is fixed.`
          : `${error.message} In production (NODE_ENV=production) such requests are refused.`,
      );
    }
    return production ? error : undefined;
  };
}
