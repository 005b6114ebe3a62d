// Judges an Express `trust proxy` setting: can any client write the X-Forwarded-For Express believes?
import ipaddr from 'ipaddr.js';
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

/** Prefix length of one range entry (`a.b.c.d/8`, `a.b.c.d/255.0.0.0`, `::ffff:a.b.c.d/97`). */
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
 * The first range entry broader than the broadest private ranges (10.0.0.0/8, fc00::/7), which
 * takes in public addresses: clients that write their own X-Forwarded-For.
 */
function broadRange(value: unknown): string | undefined {
  const entries = Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
  for (const entry of entries) {
    if (typeof entry !== 'string') continue;
    for (const part of entry.split(',').map((p) => p.trim())) {
      const range = rangeBits(part);
      if (range && range.bits < (range.ipv4 ? 8 : 7)) return part;
    }
  }
  return undefined;
}

/**
 * Judges a `trust proxy` value the way `@bulwark/rate-limit` does: `true`, more than
 * {@link MAX_TRUSTED_HOPS} hops, a range wider than a /8 (IPv4) or /7 (IPv6), and any setting
 * whose compiled function trusts a public address at one of the first {@link MAX_TRUSTED_HOPS}
 * hops let a client choose its `req.ip`. So a range list that covers the internet
 * (`'0.0.0.0/1,128.0.0.0/1'`) is caught as surely as `true`. A hop count up to the limit trusts
 * by position and is accepted.
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
  for (let hop = 0; hop < MAX_TRUSTED_HOPS; hop++) {
    const trusted = PUBLIC_PROBES.find((addr) => {
      try {
        return Boolean(fn(addr, hop));
      } catch {
        // A function that throws on an address never lets Express read past it.
        return false;
      }
    });
    if (trusted) {
      const where = hop === 0 ? 'as a proxy' : `as a proxy at hop ${hop}`;
      return {
        kind: 'all',
        why: `${typeof value === 'function' ? 'is a function that' : `is ${describeSetting(value)} and`} trusts the public address ${trusted} ${where}`,
      };
    }
  }
  const broad = broadRange(value);
  if (broad) {
    return {
      kind: 'all',
      why: `is ${describeSetting(value)}, whose range ${broad} is wider than any private network (10.0.0.0/8, fc00::/7) and takes in public addresses`,
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
