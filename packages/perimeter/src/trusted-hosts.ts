// trustedHosts(): refuse requests whose Host (or trusted X-Forwarded-Host) is not one of ours.
import type { RequestHandler } from 'express';
import ipaddr from 'ipaddr.js';
import { describe, httpError, PerimeterConfigError, publish } from './errors.js';

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
    if (name.length === 4 && name.toLowerCase() === 'host' && ++seen > 1) return true;
  }
  return false;
}

/**
 * Answers 400 `invalid_host` when the request's host is not listed, so links built from the
 * Host header (password resets, redirects, absolute URLs) cannot point at an attacker's domain,
 * and DNS-rebinding pages cannot reach the API. The host is Express's `req.hostname`: the
 * `Host` header, or `X-Forwarded-Host` only when the app's `trust proxy` setting trusts the
 * peer. Ports are ignored.
 *
 * @param hosts Hostnames (`api.example.com`), IP addresses (`127.0.0.1`, `[::1]`), subdomain
 *   patterns (`*.example.com`: one or more labels, not the bare domain), or a comma-separated
 *   string such as `process.env.ALLOWED_HOSTS`. Required.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_NO_HOSTS` for an empty list,
 *   `ERR_BULWARK_PERIMETER_INVALID_HOST` for `*`, a port, a URL or a malformed name.
 * @example
 * app.use(trustedHosts(process.env.ALLOWED_HOSTS)); // "api.example.com,*.api.example.com"
 */
export function trustedHosts(hosts: string | readonly string[] | undefined): RequestHandler {
  const list =
    typeof hosts === 'string'
      ? hosts
          .split(/[\s,]+/)
          .map((h) => h.trim())
          .filter(Boolean)
      : Array.isArray(hosts)
        ? [...hosts]
        : [];
  if (list.length === 0) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_NO_HOSTS',
      `trustedHosts: the host list is ${hosts === undefined ? 'not set' : `empty (${describe(hosts)})`}. Pass the names clients use, such as trustedHosts(['api.example.com']) or ALLOWED_HOSTS='api.example.com'.`,
    );
  }
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const entry of list) {
    if (typeof entry !== 'string') throw hostError(`${describe(entry)} is not a host name.`);
    if (entry === '*') {
      throw hostError(
        "'*' accepts every Host header, which is what this middleware exists to prevent. List your host names; leave trustedHosts() out only where no host is known (local tools).",
      );
    }
    if (entry.includes('/') || entry.includes('@')) {
      throw hostError(
        `${describe(entry)} looks like a URL. Give only the host name, such as 'api.example.com'.`,
      );
    }
    const bracketed = /^\[([0-9a-f:.]+)\]$/i.exec(entry);
    if (bracketed) {
      if (!ipaddr.IPv6.isValid(bracketed[1]!))
        throw hostError(`${describe(entry)} is not an IPv6 address.`);
      exact.add(`[${ipaddr.IPv6.parse(bracketed[1]!).toString()}]`);
      continue;
    }
    if (entry.includes(':')) {
      if (ipaddr.IPv6.isValid(entry)) {
        exact.add(`[${ipaddr.IPv6.parse(entry).toString()}]`);
        continue;
      }
      throw hostError(
        `${describe(entry)} has a port. Ports are not compared; give the host name alone, such as '${entry.split(':')[0]}'.`,
      );
    }
    const host = normalizeHost(entry);
    if (host.startsWith('*.')) {
      const suffix = host.slice(2);
      if (!suffix.includes('.') && suffix !== 'localhost') {
        throw hostError(
          `${describe(entry)} matches a whole top-level domain. Use a pattern under a domain you own, such as '*.example.com'.`,
        );
      }
      if (!isHostname(suffix)) throw hostError(`${describe(entry)} is not a valid host pattern.`);
      suffixes.push(`.${suffix}`);
      continue;
    }
    if (!isHostname(host)) {
      throw hostError(
        `${describe(entry)} is not a valid host name. Use letters, digits, '-' and '.', an IP address, or a leading '*.' for subdomains.`,
      );
    }
    exact.add(host);
  }

  const allowed = (hostname: string | undefined): boolean => {
    if (!hostname) return false;
    let host = normalizeHost(hostname);
    if (host.startsWith('[')) {
      const inner = host.slice(1, -1);
      if (!ipaddr.IPv6.isValid(inner)) return false;
      host = `[${ipaddr.IPv6.parse(inner).toString()}]`;
    }
    if (exact.has(host)) return true;
    for (const suffix of suffixes) {
      if (host.length > suffix.length && host.endsWith(suffix) && isHostname(host)) return true;
    }
    return false;
  };

  return function trustedHosts(req, _res, next) {
    let hostname: string | undefined;
    try {
      hostname = req.hostname;
    } catch {
      hostname = undefined;
    }
    if (allowed(hostname) && !repeatedHost(req.rawHeaders)) {
      next();
      return;
    }
    publish('hostRejected', () => ({
      host: (hostname ?? '').slice(0, 200),
      forwarded: req.headers['x-forwarded-host'] !== undefined,
      method: req.method,
      path: req.path,
    }));
    next(httpError(400, 'Invalid Host header', 'invalid_host'));
  };
}
