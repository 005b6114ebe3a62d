// Judges an Express `trust proxy` setting: can any client write the X-Forwarded-For Express believes?
import proxyaddr from 'proxy-addr';

/** What a `trust proxy` value means for `req.ip`. */
export type TrustVerdict =
  /** Nothing is trusted, or only addresses a public client cannot have, or a small hop count. */
  | { kind: 'safe' }
  /** Every client can choose its `req.ip`; `why` says how, for a message. */
  | { kind: 'all'; why: string }
  /** A function that trusts no public test address, but cannot be audited beyond that. */
  | { kind: 'function' };

/**
 * More proxies than this in front of one app is not a real deployment (CDN, load balancer,
 * ingress and a sidecar make four); a larger count believes entries a client added itself.
 */
export const MAX_TRUSTED_HOPS = 5;

/**
 * Addresses of public DNS resolvers spread over the address space. No reverse proxy or CDN sits
 * at any of them, so a setting that trusts one as a proxy trusts the open internet.
 */
const PUBLIC_PROBES = [
  '8.8.8.8',
  '9.9.9.9',
  '45.90.28.1',
  '77.88.8.8',
  '94.140.14.14',
  '101.101.101.101',
  '149.112.112.112',
  '185.228.168.9',
  '208.67.222.222',
  '::ffff:8.8.8.8',
  '2001:4860:4860::8888',
  '2620:fe::fe',
  '2a02:6b8::feed:ff',
] as const;

type TrustFn = (addr: string, hop: number) => boolean;

/**
 * The trust function Express builds from a `trust proxy` value (Express's own `compileTrust`,
 * on the same `proxy-addr` library). Throws proxy-addr's error for a value Express refuses.
 */
export function compileTrust(value: unknown): TrustFn {
  if (typeof value === 'function') return value as TrustFn;
  if (value === true) return () => true;
  if (typeof value === 'number') return (_addr, hop) => hop < value;
  if (value === undefined || value === null || value === false || value === '') return () => false;
  const list = typeof value === 'string' ? value.split(',').map((v) => v.trim()) : value;
  return proxyaddr.compile(list as string | string[]);
}

/**
 * Judges a `trust proxy` value by what its compiled function does with public addresses at the
 * first hop, so a range list that covers the internet (`'0.0.0.0/1,128.0.0.0/1'`) is caught as
 * surely as `true`. A hop count trusts whatever connects at hop 0 by design, so it is judged by
 * size instead.
 *
 * @param value The raw setting (`app.get('trust proxy')`).
 * @param compiled Express's compiled function (`app.get('trust proxy fn')`), when there is one.
 * @throws proxy-addr's error when `value` is not one Express accepts and `compiled` is absent.
 */
export function judgeTrustProxy(value: unknown, compiled?: unknown): TrustVerdict {
  if (value === true) return { kind: 'all', why: 'is true' };
  if (typeof value === 'number') {
    return value > MAX_TRUSTED_HOPS
      ? {
          kind: 'all',
          why: `is ${value} hops, more than any real chain of proxies (at most ${MAX_TRUSTED_HOPS} here), so a client adds X-Forwarded-For entries until its own is believed`,
        }
      : { kind: 'safe' };
  }
  const fn = typeof compiled === 'function' ? (compiled as TrustFn) : compileTrust(value);
  const trusted = PUBLIC_PROBES.find((addr) => {
    try {
      return Boolean(fn(addr, 0));
    } catch {
      return false;
    }
  });
  if (trusted) {
    return {
      kind: 'all',
      why: `${typeof value === 'function' ? 'is a function that' : `is ${describeSetting(value)} and`} trusts the public address ${trusted} as a proxy`,
    };
  }
  return typeof value === 'function' ? { kind: 'function' } : { kind: 'safe' };
}

/** A `trust proxy` value as it should appear in a message or banner. */
export function describeSetting(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (Array.isArray(value)) return JSON.stringify(value).slice(0, 120);
  return String(value);
}
