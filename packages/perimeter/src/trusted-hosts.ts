// trustedHosts(): refuse requests whose Host (and trusted X-Forwarded-Host) is not one of ours.
import type { Request, RequestHandler } from 'express';
import ipaddr from 'ipaddr.js';
import {
  compiledTrust,
  createPeerCache,
  type TrustFunction,
  type TrustSettings,
} from '../../../internal/peer-trust.js';
import { checkOptions, describe, httpError, PerimeterConfigError, publish } from './errors.js';
import { BoundedMemo } from './memo.js';
import { trustedHostsDescription, withOpenApi } from './openapi.js';

export interface TrustedHostsOptions {
  /**
   * Names a trusted reverse proxy writes into `Host` in place of the client's, when it forwards
   * the client's host in `X-Forwarded-Host`: its own name for the app (nginx's default
   * `proxy_pass http://127.0.0.1:3000` sends `Host: 127.0.0.1:3000`). Same forms as `hosts`.
   * Accepted in `Host` only on requests from a peer `trust proxy` trusts that carry
   * `X-Forwarded-Host`. Default `[]`: behind a proxy, `Host` must be one of `hosts` too.
   */
  upstreamHosts?: string | readonly string[];
}

const KNOWN = ['upstreamHosts'] as const;

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

function hostError(message: string): PerimeterConfigError {
  return new PerimeterConfigError('ERR_BULWARK_PERIMETER_INVALID_HOST', `trustedHosts: ${message}`);
}

function normalizeHost(host: string): string {
  const lower = host.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function isHostname(host: string): boolean {
  return host.length <= 253 && host.split('.').every((label) => LABEL.test(label));
}

/**
 * True when the request carries more than one Host header. Node keeps only the first in
 * `req.headers`, so a proxy that reads the last one would route the request somewhere else than
 * this check saw; RFC 9112 section 3.2 requires a 400 for it.
 */
function repeatedHost(rawHeaders: readonly string[]): boolean {
  let seen = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    // Clients spell it `Host` (or `host`); only another spelling is lowered to compare.
    if (
      name.length === 4 &&
      (name === 'Host' || name === 'host' || name.toLowerCase() === 'host') &&
      ++seen > 1
    ) {
      return true;
    }
  }
  return false;
}

/** A request authority split into a normalized host and its port, if any. */
interface Authority {
  /** Lowercase, without a trailing dot; IPv6 in brackets, in its canonical spelling. */
  host: string;
  port: number | undefined;
}

const AUTHORITY = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)(?::([0-9]{1,5}))?$/;

/**
 * Parses `host[:port]` strictly: a host name, an IPv4 address or a bracketed IPv6 address, then
 * an optional port of 1 to 5 digits up to 65535. Anything else (`api.example.com:@evil.com`,
 * `a:b:c`, a zone id, an empty port) is `undefined`. Express's `req.hostname` reads only up to
 * the first `:`, so without this an injected suffix passes the check and stays in
 * `req.get('host')` and Express 5's `req.host`, where links are built from it.
 */
function parseAuthority(value: string | undefined): Authority | undefined {
  if (!value) return undefined;
  const match = AUTHORITY.exec(value);
  if (!match) return undefined;
  const port = match[2] === undefined ? undefined : Number(match[2]);
  if (port !== undefined && port > 65_535) return undefined;
  let host = normalizeHost(match[1]!);
  if (host.startsWith('[')) {
    const inner = host.slice(1, -1);
    if (!ipaddr.IPv6.isValid(inner)) return undefined;
    host = `[${ipaddr.IPv6.parse(inner).toString()}]`;
  } else if (!isHostname(host)) {
    return undefined;
  }
  return { host, port };
}

/**
 * The answer of the app's `trust proxy` function for each connection's peer. A keep-alive
 * connection from a proxy carries many requests from one address; the function parses that
 * address each time it is asked. Kept per socket, function and address, so a changed setting is
 * asked again, and only for a function Express compiled from a boolean, number, string or
 * array, whose answer depends on the address alone: a function the app gave itself may answer
 * differently from one request to the next (a reloaded allow-list), and Express asks it again
 * for every `req.hostname`, so a kept answer would check another host than the one Express uses.
 */
const { askTrust } = createPeerCache((address) => ({ address, trust: undefined, trusted: false }));

function trustsPeer(req: Request): boolean {
  const app = req.app as TrustSettings | undefined;
  const trust: unknown = app?.get('trust proxy fn');
  if (typeof trust !== 'function' || app === undefined) return false;
  const address = req.socket?.remoteAddress;
  // proxy-addr throws for a peer address it cannot parse (a socket already gone): not trusted.
  // A socket without an address is asked as Express asks, and nothing is kept for it.
  const socket = address === undefined ? undefined : req.socket;
  const answer = askTrust(socket, address as string, trust as TrustFunction, compiledTrust(app));
  return answer ?? false;
}

/** What one Host or forwarded host value is, worked out once per distinct value. */
interface HostVerdict {
  /** The value parsed by {@link parseAuthority}: `undefined` when malformed. */
  readonly authority: Authority | undefined;
  /** Whether the authority's host is one of `hosts`. */
  readonly listed: boolean;
  /** Whether the authority's host is one of `upstreamHosts`. */
  readonly upstream: boolean;
}

/**
 * Distinct host values whose verdict each `trustedHosts()` keeps. A server answers to a few; a
 * client sending a new value on every request only makes misses (the verdict is then worked out
 * as without the memo), and pushes out the values in use until they are asked for again.
 */
const HOST_MEMO_LIMIT = 256;
/**
 * Values longer than any valid authority (a 253-character name, a trailing dot and a port; a
 * bracketed IPv6 address is shorter) are malformed: checked every time, never kept, so the memo
 * holds at most 256 values of 300 characters.
 */
const HOST_MEMO_KEY_LENGTH = 300;

const ABSOLUTE_TARGET = /^(https?):\/\/([^/?#]*)(?:[/?#]|$)/i;

/**
 * Why the request target is unacceptable, or `undefined` when it is fine. An absolute-form
 * target (`GET http://host/path`) names the host itself, and RFC 9112 section 3.2.2 tells a
 * server to prefer it over `Host`; Express routes its path but leaves the whole URL in
 * `req.originalUrl`, so links resolved against it point wherever the client chose. It is taken
 * only when it is `http(s)`, has no user info, and names an allowed host, spelled exactly as the
 * `Host` header (which RFC 9110 section 7.2 requires of clients).
 */
function targetProblem(
  target: string,
  hostHeader: Authority | undefined,
  allowed: (host: string) => boolean,
): string | undefined {
  if (target.startsWith('/') || target === '*') return undefined;
  const match = ABSOLUTE_TARGET.exec(target);
  if (!match) return 'malformed_target';
  const authority = parseAuthority(match[2]);
  if (!authority || !allowed(authority.host)) return 'target_host';
  if (hostHeader && (authority.host !== hostHeader.host || authority.port !== hostHeader.port)) {
    return 'target_host';
  }
  return undefined;
}

/** Host names, IP addresses and `*.` patterns, checked and compiled into one membership test. */
function compileHosts(option: string, list: readonly unknown[]): (host: string) => boolean {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const entry of list) {
    if (typeof entry !== 'string')
      throw hostError(`${option}${describe(entry)} is not a host name.`);
    if (entry === '*') {
      throw hostError(
        `${option}'*' accepts every Host header, which is what this middleware exists to prevent. List your host names; leave trustedHosts() out only where no host is known (local tools).`,
      );
    }
    if (entry.includes('/') || entry.includes('@')) {
      throw hostError(
        `${option}${describe(entry)} looks like a URL. Give only the host name, such as 'api.example.com'.`,
      );
    }
    const bracketed = /^\[([0-9a-f:.]+)\]$/i.exec(entry);
    if (bracketed) {
      if (!ipaddr.IPv6.isValid(bracketed[1]!))
        throw hostError(`${option}${describe(entry)} is not an IPv6 address.`);
      exact.add(`[${ipaddr.IPv6.parse(bracketed[1]!).toString()}]`);
      continue;
    }
    if (entry.includes(':')) {
      if (ipaddr.IPv6.isValid(entry)) {
        exact.add(`[${ipaddr.IPv6.parse(entry).toString()}]`);
        continue;
      }
      throw hostError(
        `${option}${describe(entry)} has a port. Ports are not compared; give the host name alone, such as '${entry.split(':')[0]}'.`,
      );
    }
    const host = normalizeHost(entry);
    if (host.startsWith('*.')) {
      const suffix = host.slice(2);
      if (!suffix.includes('.') && suffix !== 'localhost') {
        throw hostError(
          `${option}${describe(entry)} matches a whole top-level domain. Use a pattern under a domain you own, such as '*.example.com'.`,
        );
      }
      if (!isHostname(suffix))
        throw hostError(`${option}${describe(entry)} is not a valid host pattern.`);
      suffixes.push(`.${suffix}`);
      continue;
    }
    if (!isHostname(host)) {
      throw hostError(
        `${option}${describe(entry)} is not a valid host name. Use letters, digits, '-' and '.', an IP address, or a leading '*.' for subdomains.`,
      );
    }
    exact.add(host);
  }
  return (host: string): boolean => {
    if (exact.has(host)) return true;
    for (const suffix of suffixes) {
      if (host.length > suffix.length && host.endsWith(suffix) && isHostname(host)) return true;
    }
    return false;
  };
}

function hostList(hosts: unknown): unknown[] {
  return typeof hosts === 'string'
    ? hosts
        .split(/[\s,]+/)
        .map((h) => h.trim())
        .filter(Boolean)
    : Array.isArray(hosts)
      ? [...hosts]
      : [];
}

/**
 * Answers 400 `invalid_host` when the request's host is not listed, so links built from the
 * Host header (password resets, redirects, absolute URLs) cannot point at an attacker's domain,
 * and DNS-rebinding pages cannot reach the API. The host checked is the one Express uses: the
 * `Host` header, or `X-Forwarded-Host` only when the app's `trust proxy` setting trusts the
 * peer. It must be exactly `host[:port]` (a host name, IPv4 address or bracketed IPv6 address;
 * a port of up to 5 digits, at most 65535), so nothing rides along after the name; the port
 * itself is not compared. When `X-Forwarded-Host` is checked, `Host` is held to the same form and
 * must be listed as well, or be one of `upstreamHosts`: Express takes `req.hostname` from the
 * forwarded host but leaves `req.get('host')` as the client or proxy sent it, and code that builds
 * links from either must not see a name an attacker chose.
 * An absolute-form request target (`GET http://api.example.com/path`) is accepted only when it
 * is `http(s)`, has no user info and names a listed host spelled exactly as `Host`.
 *
 * @param hosts Hostnames (`api.example.com`), IP addresses (`127.0.0.1`, `[::1]`), subdomain
 *   patterns (`*.example.com`: one or more labels, not the bare domain), or a comma-separated
 *   string such as `process.env.ALLOWED_HOSTS`. Required.
 * @param options See {@link TrustedHostsOptions}.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_NO_HOSTS` for an empty list,
 *   `ERR_BULWARK_PERIMETER_INVALID_HOST` for `*`, a port, a URL or a malformed name (in `hosts` or
 *   `upstreamHosts`), `ERR_BULWARK_PERIMETER_UNKNOWN_OPTION` for a misspelled option.
 * @example
 * app.use(trustedHosts(process.env.ALLOWED_HOSTS)); // "api.example.com,*.api.example.com"
 * // Behind nginx's default `proxy_pass http://127.0.0.1:3000`, which sends Host: 127.0.0.1:3000:
 * app.use(trustedHosts(process.env.ALLOWED_HOSTS, { upstreamHosts: ['127.0.0.1'] }));
 */
export function trustedHosts(
  hosts: string | readonly string[] | undefined,
  options?: TrustedHostsOptions,
): RequestHandler {
  const list = hostList(hosts);
  if (list.length === 0) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_NO_HOSTS',
      `trustedHosts: the host list is ${hosts === undefined ? 'not set' : `empty (${describe(hosts)})`}. Pass the names clients use, such as trustedHosts(['api.example.com']) or ALLOWED_HOSTS='api.example.com'.`,
    );
  }
  const allowed = compileHosts('', list);
  const opts = checkOptions('trustedHosts', options, KNOWN) as TrustedHostsOptions;
  const upstream = opts.upstreamHosts ?? [];
  if (typeof upstream !== 'string' && !Array.isArray(upstream)) {
    throw hostError(
      `upstreamHosts: ${describe(upstream)} is not a list. Pass the names your proxy sends in Host, such as ['127.0.0.1'].`,
    );
  }
  const upstreamList = hostList(upstream);
  const isUpstream =
    upstreamList.length > 0 ? compileHosts('upstreamHosts: ', upstreamList) : undefined;

  // The verdict is a function of the value alone (the lists are fixed here), so a kept one is
  // always the verdict the value would get now.
  const verdicts = new BoundedMemo<HostVerdict>(HOST_MEMO_LIMIT, HOST_MEMO_KEY_LENGTH, (value) => {
    const authority = parseAuthority(value);
    return Object.freeze({
      authority,
      listed: authority !== undefined && allowed(authority.host),
      upstream: authority !== undefined && isUpstream?.(authority.host) === true,
    });
  });

  return withOpenApi(trustedHostsDescription(), function trustedHosts(req, _res, next) {
    const host = req.headers.host;
    // The host Express takes from the request: the first `X-Forwarded-Host` entry when `trust
    // proxy` trusts the peer (the same test Express makes), else `Host`. Without a forwarded
    // host, Host is what Express uses whoever the peer is; trust, which parses the peer's
    // address, need not be asked.
    let value = host;
    let forwarded = false;
    const forwardedHost = req.headers['x-forwarded-host'];
    if (typeof forwardedHost === 'string' && forwardedHost !== '' && trustsPeer(req)) {
      const comma = forwardedHost.indexOf(',');
      value = comma === -1 ? forwardedHost : forwardedHost.slice(0, comma).trimEnd();
      forwarded = true;
    }
    // Behind a trusted proxy, Host is held to its syntax and must be listed too (or be the
    // proxy's upstream name): apps read req.get('host') directly, which X-Forwarded-Host does not
    // change, and RFC 9112 section 3.2 requires a 400 for an invalid Host. (Only an HTTP/1.0
    // request may leave Host out, if a trusted proxy names the host.)
    const hostVerdict = host === undefined ? undefined : verdicts.get(host);
    const checked = forwarded ? verdicts.get(value as string) : hostVerdict;
    const reason = repeatedHost(req.rawHeaders)
      ? 'repeated'
      : value === undefined
        ? 'missing'
        : (hostVerdict !== undefined && hostVerdict.authority === undefined) ||
            checked?.authority === undefined
          ? 'malformed'
          : !checked.listed
            ? 'not_listed'
            : forwarded &&
                hostVerdict?.authority !== undefined &&
                !hostVerdict.listed &&
                !hostVerdict.upstream
              ? 'host_not_listed'
              : targetProblem(req.originalUrl ?? req.url, hostVerdict?.authority, allowed);
    if (reason === undefined) {
      next();
      return;
    }
    publish('hostRejected', () => ({
      host: (reason === 'host_not_listed' ? (host ?? '') : (value ?? '')).slice(0, 200),
      forwarded: req.headers['x-forwarded-host'] !== undefined,
      reason,
      method: req.method,
      path: req.path,
    }));
    next(httpError(400, 'Invalid Host header', 'invalid_host'));
  });
}
