// csrfProtection(): refuse cross-site unsafe requests by Origin and Sec-Fetch-Site, with no token store.
import type { Request, RequestHandler } from 'express';
import { checkOptions, describe, httpError, PerimeterConfigError, publish } from './errors.js';
import { csrfProtectionDescription, withOpenApi } from './openapi.js';
import { exactOrigin } from './origins.js';

export interface CsrfProtectionOptions {
  /**
   * Other origins allowed to send unsafe requests (a front end on another host), as exact
   * origins or a comma-separated string. The API's own origin is always allowed. Default `[]`.
   */
  origins?: string | readonly string[];
  /**
   * Refuse unsafe requests that carry neither `Origin` nor `Sec-Fetch-Site`. Default `false`:
   * browsers send at least one of them on every cross-site unsafe request, so a request with
   * neither comes from a non-browser client (curl, a server), which cannot ride on a victim's
   * cookies. Set `true` to require them anyway.
   */
  requireOrigin?: boolean;
}

const KNOWN = ['origins', 'requireOrigin'] as const;
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

function parseOrigins(raw: CsrfProtectionOptions['origins']): Set<string> {
  const list =
    raw === undefined
      ? []
      : typeof raw === 'string'
        ? raw.split(/[\s,]+/).filter(Boolean)
        : Array.isArray(raw)
          ? [...raw]
          : null;
  if (list === null) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_CSRF_ORIGIN',
      `csrfProtection: origins: ${describe(raw)} must be an array of origins or a comma-separated string.`,
    );
  }
  const out = new Set<string>();
  for (const entry of list) {
    const origin = exactOrigin(entry);
    if (!origin) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_CSRF_ORIGIN',
        `csrfProtection: origins: ${describe(entry)} is not an exact origin. Write scheme, host and optional port with no path or wildcard, such as 'https://app.example.com'.`,
      );
    }
    out.add(origin);
  }
  return out;
}

/** The origin this request was addressed to, following `trust proxy` for scheme and host. */
function ownOrigin(req: Request): string | undefined {
  const trust = req.app?.get('trust proxy fn') as
    | ((addr: string | undefined, i: number) => boolean)
    | undefined;
  let host = req.headers.host;
  const forwarded = req.headers['x-forwarded-host'];
  if (typeof forwarded === 'string' && trust?.(req.socket.remoteAddress, 0)) {
    host = forwarded.split(',')[0]!.trim();
  }
  if (!host) return undefined;
  try {
    return new URL(`${req.protocol}://${host}`).origin;
  } catch {
    return undefined;
  }
}

/**
 * Cross-site request forgery protection for apps that authenticate with cookies, with no
 * session store and no tokens: an unsafe request (anything but GET, HEAD, OPTIONS, TRACE) is
 * refused with 403 `csrf_rejected` when the browser says it comes from another site
 * (`Sec-Fetch-Site: cross-site` or `same-site`) or its `Origin` is neither the API's own origin
 * nor listed. Keep GET handlers free of side effects: they are not checked.
 *
 * @param options See {@link CsrfProtectionOptions}.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_CSRF_ORIGIN` for an origin that is not
 *   exact (a path, a wildcard, `null`).
 * @example
 * app.use(csrfProtection({ origins: ['https://app.example.com'] }));
 */
export function csrfProtection(options?: CsrfProtectionOptions): RequestHandler {
  const opts = checkOptions('csrfProtection', options, KNOWN) as CsrfProtectionOptions;
  const allowed = parseOrigins(opts.origins);
  const requireOrigin = opts.requireOrigin ?? false;
  if (typeof requireOrigin !== 'boolean') {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTION',
      `csrfProtection: requireOrigin: ${describe(requireOrigin)} is not a boolean. Use true or false.`,
    );
  }

  const reject = (req: Request, reason: string) => {
    publish('csrfRejected', () => ({ reason, method: req.method, path: req.path }));
    return httpError(403, 'Cross-site request refused', 'csrf_rejected');
  };

  return withOpenApi(csrfProtectionDescription(SAFE), function csrfProtection(req, _res, next) {
    if (SAFE.has(req.method)) {
      next();
      return;
    }
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    if (origin !== undefined) {
      if (allowed.has(origin) || origin === ownOrigin(req)) {
        next();
        return;
      }
      // Under `Referrer-Policy: no-referrer` (secureHeaders' API default; its pages get
      // same-origin) browsers send `Origin: null` on a page's own form posts; Sec-Fetch-Site
      // still tells them apart, and the opaque origin of a sandboxed frame or a data: page is
      // never same-origin.
      if (origin === 'null' && site === 'same-origin') {
        next();
        return;
      }
      next(reject(req, origin === 'null' ? 'null-origin' : 'origin'));
      return;
    }
    if (site !== undefined) {
      // Without Origin, fall back to what the browser says about the initiator.
      if (site === 'same-origin' || site === 'none') {
        next();
        return;
      }
      next(reject(req, 'sec-fetch-site'));
      return;
    }
    if (requireOrigin) {
      next(reject(req, 'missing-origin'));
      return;
    }
    next();
  });
}
