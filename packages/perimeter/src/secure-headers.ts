// secureHeaders(): a helmet preset for JSON APIs, with a relaxed policy for a docs UI route.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import helmet, { type HelmetOptions } from 'helmet';
import { checkOptions, describe, PerimeterConfigError, positiveInt } from './errors.js';

/** CSP directives: name (kebab-case, as sent) to sources. */
export type CspDirectives = Record<string, readonly string[]>;

/**
 * The policy for JSON responses: nothing may load, nothing may frame it. A JSON API never needs
 * more, and a response that is rendered by mistake (HTML injected into JSON) can do nothing.
 */
export const apiContentSecurityPolicy: CspDirectives = Object.freeze({
  'default-src': ["'none'"],
  'frame-ancestors': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'none'"],
});

/**
 * The relaxed policy for a same-origin docs UI (Swagger UI, Redoc, Scalar served from your own
 * origin): scripts, styles, images and fetches from the same origin only; inline styles are
 * allowed because these UIs set them at run time; still no framing, no plugins, no `<base>`.
 */
export const docsContentSecurityPolicy: CspDirectives = Object.freeze({
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'style-src': ["'self'", "'unsafe-inline'"],
  'img-src': ["'self'", 'data:'],
  'font-src': ["'self'"],
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'frame-ancestors': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'self'"],
});

/** Powerful browser features an API response never needs; each is turned off (`()`). */
export const defaultPermissionsPolicy: CspDirectives = Object.freeze({
  accelerometer: [],
  autoplay: [],
  camera: [],
  'display-capture': [],
  fullscreen: [],
  geolocation: [],
  gyroscope: [],
  magnetometer: [],
  microphone: [],
  midi: [],
  payment: [],
  'picture-in-picture': [],
  'publickey-credentials-get': [],
  'screen-wake-lock': [],
  usb: [],
  'xr-spatial-tracking': [],
});

export interface HstsOptions {
  /** Seconds browsers remember to use HTTPS. Default `31_536_000` (one year). */
  maxAge?: number;
  /** Apply to every subdomain too. Default `true`. */
  includeSubDomains?: boolean;
  /**
   * Ask to be listed in browsers' preload lists. Default `false`: preloading is hard to undo,
   * so it is opt-in, and needs `includeSubDomains` and a `maxAge` of at least one year.
   */
  preload?: boolean;
}

export interface SecureHeadersOptions {
  /**
   * `Strict-Transport-Security`. Default `{ maxAge: 31_536_000, includeSubDomains: true,
   * preload: false }`; `true` means the same. `false` leaves the header out (only when your TLS
   * proxy sets it).
   */
  hsts?: HstsOptions | boolean;
  /** CSP for every response outside `docsPaths`. Default {@link apiContentSecurityPolicy}. */
  contentSecurityPolicy?: CspDirectives;
  /**
   * Path prefixes that serve an HTML docs UI (`/docs`), answered with `docsContentSecurityPolicy`
   * instead. Default `[]`. Keep these routes behind `ipAllowlist()` or authentication.
   */
  docsPaths?: readonly string[];
  /** CSP for `docsPaths`. Default {@link docsContentSecurityPolicy}. */
  docsContentSecurityPolicy?: CspDirectives;
  /**
   * `Permissions-Policy` features and their allowlists (`[]` turns one off). Default
   * {@link defaultPermissionsPolicy}. `false` leaves the header out.
   */
  permissionsPolicy?: CspDirectives | false;
  /**
   * When to send `Cache-Control: no-store`. Default `'authenticated'`: on responses to requests
   * that carry one of `credentialHeaders`, or that an authenticator marked as authenticated by
   * setting `req.auth` (as `@bulwark/rbac`'s `authenticate()` does) by the time the response is
   * written, so no shared or browser cache keeps personal data; every response then also names
   * `credentialHeaders` in `Vary`. `'always'` for every response; `false` to leave caching to the
   * routes.
   */
  noStore?: 'authenticated' | 'always' | false;
  /**
   * Request headers that carry credentials, for `noStore: 'authenticated'` and `Vary`. Default
   * `['Authorization', 'Cookie', 'X-API-Key']`. The list replaces the default, so keep those
   * three in it when you add your own (`['Authorization', 'Cookie', 'X-API-Key', 'X-Device-Token']`).
   */
  credentialHeaders?: readonly string[];
  /** `Cross-Origin-Resource-Policy`. Default `'same-origin'`. */
  crossOriginResourcePolicy?: 'same-origin' | 'same-site' | 'cross-origin';
}

const KNOWN = [
  'hsts',
  'contentSecurityPolicy',
  'docsPaths',
  'docsContentSecurityPolicy',
  'permissionsPolicy',
  'noStore',
  'credentialHeaders',
  'crossOriginResourcePolicy',
] as const;

const DEFAULT_CREDENTIAL_HEADERS = ['Authorization', 'Cookie', 'X-API-Key'] as const;
// RFC 9110 section 5.1: a field name is a token.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// The writeHead a response had before secureHeaders asked to see it, kept on the response.
const ORIGINAL_WRITE_HEAD = Symbol('bulwark.secureHeaders.writeHead');

const DIRECTIVE_NAME = /^[a-z][a-z-]*$/;
// A source may not contain characters that end a directive or the header.
const BAD_SOURCE = /[;,\r\n]/;

function checkDirectives(option: string, directives: unknown): CspDirectives {
  if (!directives || typeof directives !== 'object' || Array.isArray(directives)) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_CSP',
      `secureHeaders: ${option}: ${describe(directives)} is not a directive map. Use an object such as { 'default-src': ["'none'"] }.`,
    );
  }
  const out: Record<string, readonly string[]> = {};
  for (const [name, sources] of Object.entries(directives)) {
    if (!DIRECTIVE_NAME.test(name)) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_CSP',
        `secureHeaders: ${option}: ${describe(name)} is not a directive name. Write it as sent, in kebab-case, such as 'script-src'.`,
      );
    }
    if (
      !Array.isArray(sources) ||
      sources.some((s) => typeof s !== 'string' || BAD_SOURCE.test(s))
    ) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_CSP',
        `secureHeaders: ${option}: the sources of ${name} must be an array of strings without ';', ',' or line breaks, such as ["'self'"].`,
      );
    }
    out[name] = sources;
  }
  return out;
}

function helmetFor(
  csp: CspDirectives,
  hsts: Required<HstsOptions> | false,
  corp: NonNullable<SecureHeadersOptions['crossOriginResourcePolicy']>,
) {
  const options: HelmetOptions = {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: Object.fromEntries(Object.entries(csp).map(([k, v]) => [k, [...v]])),
    },
    strictTransportSecurity: hsts === false ? false : hsts,
    xFrameOptions: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: corp },
    crossOriginEmbedderPolicy: false,
    xPermittedCrossDomainPolicies: { permittedPolicies: 'none' },
    xDnsPrefetchControl: { allow: false },
  };
  return helmet(options);
}

/** Adds the credential header names to `Vary`, keeping whatever an earlier middleware put there. */
function addVary(res: ServerResponse, value: string, names: readonly string[]): void {
  const existing = res.getHeader('Vary');
  if (existing === undefined) {
    res.setHeader('Vary', value);
    return;
  }
  const text = Array.isArray(existing) ? existing.join(', ') : String(existing);
  const present = text.split(',').map((v) => v.trim().toLowerCase());
  if (present.includes('*')) return;
  const missing = names.filter((name) => !present.includes(name.toLowerCase()));
  if (missing.length > 0)
    res.setHeader('Vary', text ? `${text}, ${missing.join(', ')}` : missing.join(', '));
}

type WatchedResponse = ServerResponse & {
  [ORIGINAL_WRITE_HEAD]?: ServerResponse['writeHead'];
};

/**
 * Stands in for `res.writeHead`, which Node also calls for an implicit header (`res.end()`,
 * `res.write()`), so it runs once, just before the head goes out: by then an authenticator
 * mounted after secureHeaders has run. A `Cache-Control` the route set itself is kept.
 */
function writeHeadNoStoreIfAuthenticated(
  this: WatchedResponse,
  ...args: Parameters<ServerResponse['writeHead']>
): ServerResponse {
  const auth = (this.req as { auth?: unknown } | undefined)?.auth;
  if (auth !== undefined && auth !== null && !this.hasHeader('Cache-Control')) {
    this.setHeader('Cache-Control', 'no-store');
  }
  return (this[ORIGINAL_WRITE_HEAD] as (...a: typeof args) => ServerResponse).apply(this, args);
}

function watchForAuthentication(res: WatchedResponse): void {
  // Mounted twice (an app and a router), the first one already watches.
  if (res[ORIGINAL_WRITE_HEAD]) return;
  res[ORIGINAL_WRITE_HEAD] = res.writeHead;
  res.writeHead = writeHeadNoStoreIfAuthenticated as ServerResponse['writeHead'];
}

function matchesPrefix(url: string, prefixes: readonly string[]): boolean {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  for (const prefix of prefixes) {
    if (path === prefix || (path.startsWith(prefix) && path[prefix.length] === '/')) return true;
  }
  return false;
}

/**
 * Security headers for a JSON API, built on helmet: `Content-Security-Policy: default-src
 * 'none'; frame-ancestors 'none'`, HSTS for one year with subdomains, `X-Frame-Options: DENY`,
 * `Referrer-Policy: no-referrer`, `X-Content-Type-Options: nosniff`, COOP and CORP
 * `same-origin`, a restrictive `Permissions-Policy`, no `X-Powered-By`, and
 * `Cache-Control: no-store` on authenticated responses: those to requests carrying a credential
 * header (`Authorization`, `Cookie`, `X-API-Key`), and those whose `req.auth` an authenticator
 * mounted later has set by the time the response is written. Header values are computed once, here.
 *
 * @param options See {@link SecureHeadersOptions}; every field has a safe default.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_INVALID_HSTS` for a short `maxAge` or a
 *   `preload` without `includeSubDomains` and a year; `ERR_BULWARK_PERIMETER_INVALID_CSP` for a
 *   malformed directive map; `ERR_BULWARK_PERIMETER_INVALID_OPTION` for a bad `noStore`,
 *   `credentialHeaders` or `crossOriginResourcePolicy`; `ERR_BULWARK_PERIMETER_UNKNOWN_OPTION`
 *   for a misspelled option.
 * @example
 * app.use(secureHeaders({ docsPaths: ['/docs'] }));
 */
export function secureHeaders(options?: SecureHeadersOptions): RequestHandler {
  const opts = checkOptions('secureHeaders', options, KNOWN) as SecureHeadersOptions;

  let hsts: Required<HstsOptions> | false = false;
  if (opts.hsts !== false) {
    const given = checkOptions('secureHeaders: hsts', opts.hsts === true ? undefined : opts.hsts, [
      'maxAge',
      'includeSubDomains',
      'preload',
    ]) as HstsOptions;
    hsts = {
      maxAge: positiveInt('secureHeaders', 'hsts.maxAge', given.maxAge ?? 31_536_000, {
        max: 2 * 31_536_000,
      }),
      includeSubDomains: given.includeSubDomains ?? true,
      preload: given.preload ?? false,
    };
    if (hsts.maxAge < 15_768_000) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_HSTS',
        `secureHeaders: hsts.maxAge: ${hsts.maxAge} seconds is shorter than six months, which browsers and scanners treat as weak. Use 31_536_000 (one year). For a staged rollout, send a short header from the TLS proxy and set hsts: false here.`,
      );
    }
    if (hsts.preload && (!hsts.includeSubDomains || hsts.maxAge < 31_536_000)) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_HSTS',
        'secureHeaders: hsts.preload needs includeSubDomains: true and a maxAge of at least 31_536_000, or preload lists refuse the domain.',
      );
    }
  }

  const apiCsp = checkDirectives(
    'contentSecurityPolicy',
    opts.contentSecurityPolicy ?? apiContentSecurityPolicy,
  );
  const docsCsp = checkDirectives(
    'docsContentSecurityPolicy',
    opts.docsContentSecurityPolicy ?? docsContentSecurityPolicy,
  );
  const docsPaths = opts.docsPaths ?? [];
  if (
    !Array.isArray(docsPaths) ||
    docsPaths.some((p) => typeof p !== 'string' || !p.startsWith('/'))
  ) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_PATH',
      `secureHeaders: docsPaths: ${describe(docsPaths)} must be an array of paths starting with '/', such as ['/docs'].`,
    );
  }
  const prefixes = docsPaths.map((p) => (p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p));

  const corp = opts.crossOriginResourcePolicy ?? 'same-origin';
  if (!['same-origin', 'same-site', 'cross-origin'].includes(corp)) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTION',
      `secureHeaders: crossOriginResourcePolicy: ${describe(corp)} is not valid. Use 'same-origin', 'same-site' or 'cross-origin'.`,
    );
  }
  const noStore = opts.noStore ?? 'authenticated';
  if (noStore !== 'authenticated' && noStore !== 'always' && noStore !== false) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTION',
      `secureHeaders: noStore: ${describe(noStore)} is not valid. Use 'authenticated', 'always' or false.`,
    );
  }

  if (opts.credentialHeaders !== undefined && noStore !== 'authenticated') {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTION',
      `secureHeaders: credentialHeaders is only used with noStore: 'authenticated', not with noStore: ${describe(noStore)}. Remove credentialHeaders, or use noStore: 'authenticated'.`,
    );
  }
  const credentialList: readonly unknown[] = opts.credentialHeaders ?? DEFAULT_CREDENTIAL_HEADERS;
  const badHeader = Array.isArray(credentialList)
    ? credentialList.find((h) => typeof h !== 'string' || !HEADER_NAME.test(h))
    : credentialList;
  if (!Array.isArray(credentialList) || credentialList.length === 0 || badHeader !== undefined) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTION',
      `secureHeaders: credentialHeaders: ${Array.isArray(credentialList) && credentialList.length > 0 ? `${describe(badHeader)} is not a header name` : `${describe(credentialList)} is not a list of header names`}. Use an array of header names, such as ['Authorization', 'Cookie', 'X-API-Key'].`,
    );
  }
  // Header names are case-insensitive; each is listed once, in the spelling first given.
  const credentialNames: string[] = [];
  for (const name of credentialList as readonly string[]) {
    if (!credentialNames.some((n) => n.toLowerCase() === name.toLowerCase())) {
      credentialNames.push(name);
    }
  }
  const credentialKeys = credentialNames.map((n) => n.toLowerCase());
  const vary = credentialNames.join(', ');

  let permissions: string | undefined;
  if (opts.permissionsPolicy !== false) {
    const features = opts.permissionsPolicy ?? defaultPermissionsPolicy;
    const checked = checkDirectives('permissionsPolicy', features);
    permissions = Object.entries(checked)
      .map(([feature, allow]) => `${feature}=(${allow.join(' ')})`)
      .join(', ');
  }

  const apiHelmet = helmetFor(apiCsp, hsts, corp);
  const docsHelmet = prefixes.length > 0 ? helmetFor(docsCsp, hsts, corp) : apiHelmet;

  const carriesCredentials = (req: IncomingMessage): boolean => {
    for (const key of credentialKeys) if (req.headers[key] !== undefined) return true;
    return false;
  };

  const extras = (req: IncomingMessage, res: ServerResponse) => {
    if (permissions) res.setHeader('Permissions-Policy', permissions);
    if (noStore === 'always') {
      res.setHeader('Cache-Control', 'no-store');
    } else if (noStore === 'authenticated') {
      // Whether the response may be shared depends on these headers, credentials or not.
      addVary(res, vary, credentialNames);
      if (carriesCredentials(req)) res.setHeader('Cache-Control', 'no-store');
      else watchForAuthentication(res);
    }
  };

  return function secureHeaders(req, res, next) {
    const chosen =
      prefixes.length > 0 && matchesPrefix(req.originalUrl ?? req.url, prefixes)
        ? docsHelmet
        : apiHelmet;
    // helmet leaves these two headers alone, so they can go first and helmet can call next itself.
    extras(req, res);
    chosen(req, res, next);
  };
}
