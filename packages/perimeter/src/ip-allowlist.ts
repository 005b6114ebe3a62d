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
import { judgeTrustProxy } from './trust-proxy.js';

export interface IpAllowlistOptions {
  /**
   * Status for a refused client. Default `404`, so the route's existence is not revealed (the
   * body is the same `Not Found` an unknown route gets). `403` answers `ip_not_allowed`.
   */
  status?: 404 | 403;
  /** Winston-shaped logger for the one-time `trust proxy` warning. Default: `process.emitWarning`. */
  logger?: PerimeterLogger;
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

const KNOWN = ['status', 'logger'] as const;

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

/**
 * Lets a request through only when Express's `req.ip` is inside one of the ranges, for routes
 * such as `/docs`, `/openapi.json` and `/metrics`. `req.ip` follows the app's `trust proxy`
 * setting, so behind a proxy set it to the proxy's address (never `true`). IPv4-mapped IPv6
 * addresses (`::ffff:192.168.1.5`, what a dual-stack server sees) match IPv4 ranges.
 *
 * @param cidrs CIDR ranges or single addresses, IPv4 or IPv6, or a comma-separated string
 *   such as `process.env.DOCS_ALLOWLIST`. Required.
 * @param options See {@link IpAllowlistOptions}.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_NO_RANGES` for an empty list,
 *   `ERR_BULWARK_PERIMETER_INVALID_CIDR` for a malformed range, `ERR_BULWARK_PERIMETER_INVALID_OPTION`
 *   for a status other than 403 or 404.
 * @example
 * app.use(['/docs', '/openapi.json'], ipAllowlist(['192.168.1.0/24', '::1']));
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
  let checkedTrust = false;

  return function ipAllowlist(req, _res, next) {
    if (!checkedTrust && req.app) {
      checkedTrust = true;
      const why = trustsEveryone(req.app);
      if (why) {
        warn(
          opts.logger,
          'ERR_BULWARK_PERIMETER_TRUST_PROXY_ALL',
          `ipAllowlist: the app's 'trust proxy' setting ${why}, so req.ip comes from X-Forwarded-For, which any client can set. Set it to your proxy's address, such as app.set('trust proxy', 'loopback').`,
        );
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
  };
}
