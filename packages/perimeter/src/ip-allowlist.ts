// ipAllowlist(): serve a route only to clients whose address is in a list of CIDR ranges.
import type { RequestHandler } from 'express';
import ipaddr from 'ipaddr.js';
import {
  checkOptions,
  describe,
  httpError,
  PerimeterConfigError,
  type PerimeterLogger,
  publish,
  warn,
} from './errors.js';
import { ipAllowlistDescription, withOpenApi } from './openapi.js';
import { judgeTrustProxy, MAX_TRUSTED_HOPS } from './trust-proxy.js';

export interface IpAllowlistOptions {
  /**
   * Status for a refused client. Default `404`, so the route's existence is not revealed (the
   * body is the same `Not Found` an unknown route gets). `403` answers `ip_not_allowed`.
   */
  status?: 404 | 403;
  /**
   * The Express app, so its `trust proxy` setting is checked now, when the factory runs, rather
   * than at the first request. Default: none (checked at the first request, on `req.app`).
   */
  app?: { get(setting: string): unknown };
  /**
   * Refuse a `trust proxy` setting that lets any client choose `req.ip` (throw when `app` is
   * given, else answer every request with the configuration error) instead of warning. Default
   * `process.env.NODE_ENV === 'production'`, read when the factory runs.
   */
  production?: boolean;
  /** Winston-shaped logger for the `trust proxy` warning outside production. Default: `process.emitWarning`. */
  logger?: PerimeterLogger;
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

const KNOWN = ['status', 'app', 'production', 'logger'] as const;

/** Parses `10.0.0.0/8`, `fd00::/8`, `::ffff:10.0.0.0/104`, or a single address. */
function parseRange(entry: string): Range {
  const text = entry.trim();
  if (text.includes('/')) {
    const [parsed, parsedBits] = ipaddr.parseCIDR(text);
    const mapped =
      parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress() && parsedBits >= 96;
    // A mapped range (::ffff:10.0.0.0/104) is matched as the IPv4 range it stands for, so it
    // gets the same host-bits check as that range.
    const addr = mapped ? (parsed as ipaddr.IPv6).toIPv4Address() : parsed;
    const bits = mapped ? parsedBits - 96 : parsedBits;
    // A range with host bits set (10.0.0.5/8) is almost always a typo for something narrower.
    const network =
      addr.kind() === 'ipv4'
        ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${bits}`)
        : ipaddr.IPv6.networkAddressFromCIDR(text);
    if (network.toString() !== addr.toString()) {
      const shown = mapped
        ? `::ffff:${network.toString()}/${parsedBits}`
        : `${network.toString()}/${bits}`;
      throw new Error(`host bits set; the network is ${shown}`);
    }
    return [addr, bits];
  }
  const addr = ipaddr.process(text);
  return [addr, addr.kind() === 'ipv4' ? 32 : 128];
}

/** The client's address as IPv4 when it is an IPv4-mapped IPv6 address. */
export function clientAddress(ip: string | undefined): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (!ip) return undefined;
  try {
    return ipaddr.process(ip);
  } catch {
    return undefined;
  }
}

/** How the app's `trust proxy` lets any client pick its `req.ip`, or `undefined` when it does not. */
function trustsEveryone(app: { get(setting: string): unknown }): string | undefined {
  try {
    const verdict = judgeTrustProxy(app.get('trust proxy'), app.get('trust proxy fn'));
    return verdict.kind === 'all' ? verdict.why : undefined;
  } catch {
    // Express refuses such a value when it is set, so there is nothing left to judge here.
    return undefined;
  }
}

/** The configuration error for a setting that lets any client choose its `req.ip`. */
function trustProxyError(why: string): PerimeterConfigError {
  return new PerimeterConfigError(
    'ERR_BULWARK_PERIMETER_TRUST_PROXY_ALL',
    `ipAllowlist: the app's 'trust proxy' setting ${why}, so req.ip comes from X-Forwarded-For, which any client can set, and a client outside every range would be let in by naming an address inside one. Set it to your proxy's address or to the number of proxies in front of the app (at most ${MAX_TRUSTED_HOPS}), such as app.set('trust proxy', 'loopback') or app.set('trust proxy', 1); without a proxy, leave it unset.`,
  );
}

/**
 * Lets a request through only when Express's `req.ip` is inside one of the ranges, for routes
 * such as `/docs`, `/openapi.json` and `/metrics`. `req.ip` follows the app's `trust proxy`
 * setting, so behind a proxy set it to the proxy's address (never `true`). IPv4-mapped IPv6
 * addresses (`::ffff:192.168.1.5`, what a dual-stack server sees) match IPv4 ranges.
 *
 * A `trust proxy` setting that lets any client choose its `req.ip` (`true`, more than 5 hops, a
 * range wider than a /8, a function that trusts a public address) is refused in production, as
 * `@bulwark/rate-limit` refuses it: at construction when `app` is given, else at the first
 * request, which is then answered with the configuration error (a 500, `expose: false`) and
 * never served. Outside production it is a warning, once per app.
 *
 * @param cidrs CIDR ranges or single addresses, IPv4 or IPv6, or a comma-separated string
 *   such as `process.env.DOCS_ALLOWLIST`. Required.
 * @param options See {@link IpAllowlistOptions}.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_NO_RANGES` for an empty list,
 *   `ERR_BULWARK_PERIMETER_INVALID_CIDR` for a malformed range, `ERR_BULWARK_PERIMETER_INVALID_OPTION`
 *   for a status other than 403 or 404, an `app` that is not an Express app or a non-boolean
 *   `production`, `ERR_BULWARK_PERIMETER_TRUST_PROXY_ALL` in production when `app` lets any
 *   client choose its address.
 * @example
 * app.use(['/docs', '/openapi.json'], ipAllowlist(['192.168.1.0/24', '::1'], { app }));
 */
export function ipAllowlist(
  cidrs: string | readonly string[] | undefined,
  options?: IpAllowlistOptions,
): RequestHandler {
  const opts = checkOptions('ipAllowlist', options, KNOWN) as IpAllowlistOptions;
  const status = opts.status ?? 404;
  if (status !== 404 && status !== 403) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTION',
      `ipAllowlist: status: ${describe(status)} is not allowed. Use 404 (hide the route) or 403.`,
    );
  }
  const production = opts.production ?? process.env.NODE_ENV === 'production';
  if (typeof production !== 'boolean') {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTION',
      `ipAllowlist: production: ${describe(production)} is not a boolean. Pass true or false, or leave it out to follow NODE_ENV.`,
    );
  }
  if (opts.app !== undefined && typeof (opts.app as { get?: unknown } | null)?.get !== 'function') {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTION',
      `ipAllowlist: app: ${describe(opts.app)} is not an Express app. Pass the app returned by express(), or leave app out to check at the first request.`,
    );
  }
  const list =
    typeof cidrs === 'string'
      ? cidrs
          .split(/[\s,]+/)
          .map((c) => c.trim())
          .filter(Boolean)
      : Array.isArray(cidrs)
        ? [...cidrs]
        : [];
  if (list.length === 0) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_NO_RANGES',
      `ipAllowlist: the range list is ${cidrs === undefined ? 'not set' : `empty (${describe(cidrs)})`}. Pass the networks allowed in, such as ipAllowlist(['192.168.1.0/24', '127.0.0.1', '::1']).`,
    );
  }
  const ranges: Range[] = list.map((entry) => {
    if (typeof entry !== 'string') {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_CIDR',
        `ipAllowlist: ${describe(entry)} is not a CIDR range. Use strings such as '10.0.0.0/8'.`,
      );
    }
    try {
      return parseRange(entry);
    } catch (err) {
      const reason =
        err instanceof Error && err.message.startsWith('host bits') ? ` (${err.message})` : '';
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_CIDR',
        `ipAllowlist: ${describe(entry)} is not a valid address or CIDR range${reason}. Use forms such as '192.168.1.0/24', '10.0.0.1' or 'fd00::/8'.`,
      );
    }
  });
  for (const [addr, bits] of ranges) {
    if (bits === 0) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_CIDR',
        `ipAllowlist: ${addr.toString()}/0 allows every ${addr.kind() === 'ipv4' ? 'IPv4' : 'IPv6'} address. Remove ipAllowlist() instead, or list the real networks.`,
      );
    }
  }
  const v4 = ranges.filter((r): r is [ipaddr.IPv4, number] => r[0].kind() === 'ipv4');
  const v6 = ranges.filter((r): r is [ipaddr.IPv6, number] => r[0].kind() === 'ipv6');
  // The verdict per app: `null` when the setting is safe or was only warned about.
  const verdicts = new WeakMap<object, PerimeterConfigError | null>();
  const checkTrust = (app: { get(setting: string): unknown }): PerimeterConfigError | null => {
    const known = verdicts.get(app);
    if (known !== undefined) return known;
    const why = trustsEveryone(app);
    let error: PerimeterConfigError | null = why ? trustProxyError(why) : null;
    if (error && !production) {
      warn(opts.logger, error.code, `${error.message} This is refused when NODE_ENV=production.`);
      error = null;
    }
    verdicts.set(app, error);
    return error;
  };
  if (opts.app !== undefined) {
    const error = checkTrust(opts.app);
    if (error) throw error;
  }

  return withOpenApi(ipAllowlistDescription(status), function ipAllowlist(req, _res, next) {
    if (req.app) {
      const error = checkTrust(req.app);
      if (error) {
        next(error);
        return;
      }
    }
    const addr = clientAddress(req.ip);
    let ok = false;
    if (addr?.kind() === 'ipv4') {
      for (const range of v4) if ((addr as ipaddr.IPv4).match(range)) ok = true;
    } else if (addr) {
      for (const range of v6) if ((addr as ipaddr.IPv6).match(range)) ok = true;
    }
    if (ok) {
      next();
      return;
    }
    publish('ipRejected', () => ({ ip: req.ip, method: req.method, path: req.path, status }));
    next(
      status === 404
        ? httpError(404, 'Not Found', 'not_found')
        : httpError(403, 'Forbidden', 'ip_not_allowed'),
    );
  });
}
