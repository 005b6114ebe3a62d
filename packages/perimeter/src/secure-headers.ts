// secureHeaders(): a helmet preset for JSON APIs, a relaxed policy for a docs UI, and a nonce-based policy for HTML pages.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import helmet, { type HelmetOptions } from 'helmet';
import {
  applyPolicies,
  type CspDirectives,
  checkDirectives,
  checkHeaderValue,
  compilePolicy,
  type HeaderOp,
  type PolicySet,
  pageContentSecurityPolicy,
  policySet,
  recordHeaders,
} from './csp.js';
import { checkOptions, describe, PerimeterConfigError, positiveInt } from './errors.js';
import { BoundedMemo } from './memo.js';
import { VARY_MEMO_KEY_LENGTH, VARY_MEMO_LIMIT } from './vary.js';

export type { CspDirectives } from './csp.js';

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
   * instead. Default `[]`. Matched in any case (`/DOCS` too), as Express routes, unless the app
   * sets `case sensitive routing`. Keep these routes behind `ipAllowlist()` or authentication.
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
  /**
   * Path prefixes that serve server-rendered HTML pages, answered with a nonce-based policy, a
   * fresh nonce in `res.locals.cspNonce` and, unless `noStore` is `false`, `Cache-Control:
   * no-store` (a route may set its own). Default: none.
   */
  pages?: PagesOptions;
  /**
   * Where browsers send CSP violation reports: the path (`'/csp-reports'`) or absolute `https:`
   * URL of a `reportCollector()` route. Every CSP header then ends in `report-uri <reportTo>;
   * report-to csp-endpoint`, and every response carries `Reporting-Endpoints:
   * csp-endpoint="<reportTo>"`. Default: none (no reports).
   */
  reportTo?: string;
}

/** Trusted Types for pages: `true`, or the names of the policies the page's scripts create. */
export type TrustedTypesOption = boolean | { policies: readonly string[] };

export interface PagesOptions {
  /**
   * Path prefixes that serve HTML pages (`'/app'` matches `/app` and `/app/...`, `'/'` every
   * path), in any case (`/APP` too) unless the app sets `case sensitive routing`. Required.
   * Prefixes in `docsPaths` take precedence.
   */
  paths: readonly string[];
  /**
   * The enforced policy for pages; the {@link cspNonce} placeholder becomes each response's nonce.
   * Default {@link pageContentSecurityPolicy}.
   */
  contentSecurityPolicy?: CspDirectives;
  /**
   * A second policy, sent as `Content-Security-Policy-Report-Only` beside the enforced one, with
   * the same nonce: browsers report what it would block and block nothing. Default: none.
   */
  reportOnly?: CspDirectives;
  /**
   * Trusted Types: `true` adds `require-trusted-types-for 'script'` to the enforced page policy,
   * so DOM XSS sinks (`innerHTML`, `eval`, ...) refuse plain strings; `{ policies: ['name'] }`
   * also adds `trusted-types name`, the only policies scripts may create (`[]` allows none).
   * Default `false`.
   */
  trustedTypes?: TrustedTypesOption;
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
  'pages',
  'reportTo',
] as const;

/** The group name every CSP header's `report-to` names and `Reporting-Endpoints` defines. */
const REPORT_GROUP = 'csp-endpoint';
// Characters a report URL may hold: URL characters that neither end a CSP directive (`;`, `,`)
// nor need escaping in a structured-field string (`"`, `\`), and no fragment.
const REPORT_URL = /^[A-Za-z0-9\-._~!$&'()*+=:@%/?]+$/;
// The policy names Trusted Types accepts (tt-policy-name in the Trusted Types spec).
const TRUSTED_TYPES_NAME = /^[A-Za-z0-9\-#=_/@.%]+$/;

const DEFAULT_CREDENTIAL_HEADERS = ['Authorization', 'Cookie', 'X-API-Key'] as const;
// RFC 9110 section 5.1: a field name is a token.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// The writeHead a response had before secureHeaders asked to see it, kept on the response.
const ORIGINAL_WRITE_HEAD = Symbol('bulwark.secureHeaders.writeHead');

/**
 * The headers helmet sets besides the CSP, recorded once from a helmet instance configured as
 * before, so each request sets the same values in the same order without running helmet again.
 */
function helmetHeaders(
  hsts: Required<HstsOptions> | false,
  corp: NonNullable<SecureHeadersOptions['crossOriginResourcePolicy']>,
): HeaderOp[] {
  const options: HelmetOptions = {
    contentSecurityPolicy: false,
    strictTransportSecurity: hsts === false ? false : hsts,
    xFrameOptions: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: corp },
    crossOriginEmbedderPolicy: false,
    xPermittedCrossDomainPolicies: { permittedPolicies: 'none' },
    xDnsPrefetchControl: { allow: false },
  };
  return recordHeaders(helmet(options) as Parameters<typeof recordHeaders>[0]);
}

/** A checked `reportTo`: the value for `report-uri` and for `Reporting-Endpoints`. */
function checkReportTo(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const fix =
    "Pass the path where reportCollector() is mounted, such as '/csp-reports', or an absolute https: URL.";
  if (typeof value === 'function') {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_REPORT_TO',
      `secureHeaders: reportTo: a function is not a report address; the handler does not know the path it is mounted on. ${fix}`,
    );
  }
  if (typeof value !== 'string' || !REPORT_URL.test(value)) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_REPORT_TO',
      `secureHeaders: reportTo: ${describe(value)} is not a report address (no spaces, quotes, backslashes, ';', ',' or '#'). ${fix}`,
    );
  }
  if (value.startsWith('/') && !value.startsWith('//')) return value;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  // Browsers deliver reports only to potentially trustworthy URLs: https:, or http: on loopback.
  const loopback =
    url !== undefined &&
    (url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\./.test(url.hostname));
  if (
    url === undefined ||
    !(url.protocol === 'https:' || (url.protocol === 'http:' && loopback)) ||
    url.username !== '' ||
    url.password !== '' ||
    !REPORT_URL.test(url.href)
  ) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_REPORT_TO',
      `secureHeaders: reportTo: ${describe(value)} is neither a path starting with '/' nor an https: URL without credentials; browsers send reports only to https: (or http: on loopback). ${fix}`,
    );
  }
  return url.href;
}

/** The directives `trustedTypes` adds to the page policy. */
function trustedTypesDirectives(value: unknown): CspDirectives {
  if (value === undefined || value === false) return {};
  if (value === true) return { 'require-trusted-types-for': ["'script'"] };
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_TRUSTED_TYPES',
      `secureHeaders: pages.trustedTypes: ${describe(value)} is not valid. Use true, false or { policies: ['default'] }.`,
    );
  }
  const { policies } = checkOptions('secureHeaders: pages.trustedTypes', value, ['policies']);
  const seen = new Set<string>();
  if (!Array.isArray(policies)) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_TRUSTED_TYPES',
      `secureHeaders: pages.trustedTypes.policies: ${describe(policies)} is not a list of policy names. Use an array such as ['default', 'dompurify'], or [] to allow none.`,
    );
  }
  for (const name of policies as unknown[]) {
    if (
      typeof name !== 'string' ||
      (name !== "'allow-duplicates'" && !TRUSTED_TYPES_NAME.test(name)) ||
      seen.has(name)
    ) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_TRUSTED_TYPES',
        `secureHeaders: pages.trustedTypes.policies: ${describe(name)} is ${seen.has(name as string) ? 'listed twice' : 'not a policy name'}. Use names of letters, digits and - # = _ / @ . %, as passed to trustedTypes.createPolicy(), each once.`,
      );
    }
    seen.add(name);
  }
  return {
    'require-trusted-types-for': ["'script'"],
    'trusted-types': policies.length > 0 ? (policies as string[]) : ["'none'"],
  };
}

/** Adds `extra` directives to a policy, refusing any the policy already sets itself. */
function withDirectives(
  where: string,
  policy: CspDirectives,
  extra: CspDirectives,
  code: `ERR_BULWARK_PERIMETER_${string}`,
  because: string,
): CspDirectives {
  for (const name of Object.keys(extra)) {
    if (Object.hasOwn(policy, name)) {
      throw new PerimeterConfigError(
        code,
        `secureHeaders: ${where} sets ${name} itself, and ${because} sets it too. Remove ${name} from ${where}.`,
      );
    }
  }
  return { ...policy, ...extra };
}

/**
 * The Vary value that names the credential headers after `text`, the Vary already set, or `null`
 * to leave it as it is (it is `*`, or names each of them already, in any case).
 */
function credentialVary(text: string, names: readonly string[]): string | null {
  const present = text.split(',').map((v) => v.trim().toLowerCase());
  if (present.includes('*')) return null;
  const missing = names.filter((name) => !present.includes(name.toLowerCase()));
  if (missing.length === 0) return null;
  return text ? `${text}, ${missing.join(', ')}` : missing.join(', ');
}

/**
 * Adds the credential header names to `Vary`, keeping whatever an earlier middleware put there.
 * With no Vary yet (the usual case) the full list is set; otherwise the merge is looked up in
 * `memo`, which works out {@link credentialVary} once per distinct Vary value.
 */
function addVary(res: ServerResponse, value: string, memo: BoundedMemo<string | null>): void {
  const existing = res.getHeader('Vary');
  if (existing === undefined) {
    res.setHeader('Vary', value);
    return;
  }
  const merged = memo.get(Array.isArray(existing) ? existing.join(', ') : String(existing));
  if (merged !== null) res.setHeader('Vary', merged);
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

/**
 * Whether the path of `url` is one of `prefixes` or under one. Express routes `/APP` to an
 * `/app` route unless the app sets `case sensitive routing`, so the path is then compared in
 * lowercase, against prefixes given in lowercase.
 */
function matchesPrefix(url: string, prefixes: readonly string[], caseSensitive: boolean): boolean {
  const q = url.indexOf('?');
  const raw = q === -1 ? url : url.slice(0, q);
  const path = caseSensitive ? raw : raw.toLowerCase();
  for (const prefix of prefixes) {
    if (
      prefix === '/' ||
      path === prefix ||
      (path.startsWith(prefix) && path[prefix.length] === '/')
    )
      return true;
  }
  return false;
}

/**
 * Security headers for a JSON API, built on helmet: `Content-Security-Policy: default-src
 * 'none'; frame-ancestors 'none'`, HSTS for one year with subdomains, `X-Frame-Options: DENY`,
 * `Referrer-Policy: no-referrer` (`same-origin` on pages, so their own form posts carry their
 * `Origin`), `X-Content-Type-Options: nosniff`, COOP and CORP
 * `same-origin`, a restrictive `Permissions-Policy`, no `X-Powered-By`, and
 * `Cache-Control: no-store` on authenticated responses: those to requests carrying a credential
 * header (`Authorization`, `Cookie`, `X-API-Key`), and those whose `req.auth` an authenticator
 * mounted later has set by the time the response is written. Under `docsPaths` the CSP is the
 * docs policy; under `pages.paths` it is a nonce-based page policy, with a fresh nonce per
 * response in `res.locals.cspNonce`. Paths match without regard to case, as Express routes,
 * unless the app sets `case sensitive routing`. Header values are computed once, here; per
 * request only the nonce is new.
 *
 * @param options See {@link SecureHeadersOptions}; every field has a safe default.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_INVALID_HSTS` for a short `maxAge` or a
 *   `preload` without `includeSubDomains` and a year; `ERR_BULWARK_PERIMETER_INVALID_CSP` for a
 *   malformed directive map; `ERR_BULWARK_PERIMETER_CSP_FIXED_NONCE` for a literal
 *   `'nonce-...'`; `ERR_BULWARK_PERIMETER_CSP_NONCE_OUTSIDE_PAGES` for `cspNonce` in the API or
 *   docs policy; `ERR_BULWARK_PERIMETER_INVALID_PATH` for bad `docsPaths` or `pages.paths`;
 *   `ERR_BULWARK_PERIMETER_INVALID_TRUSTED_TYPES`; `ERR_BULWARK_PERIMETER_INVALID_REPORT_TO`;
 *   `ERR_BULWARK_PERIMETER_INVALID_OPTION` for a bad `noStore`, `credentialHeaders` or
 *   `crossOriginResourcePolicy`; `ERR_BULWARK_PERIMETER_UNKNOWN_OPTION` for a misspelled option.
 * @example
 * app.use(secureHeaders({ docsPaths: ['/docs'], pages: { paths: ['/app'] } }));
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

  const reportTo = checkReportTo(opts.reportTo);
  const reporting: CspDirectives =
    reportTo === undefined ? {} : { 'report-uri': [reportTo], 'report-to': [REPORT_GROUP] };
  const compile = (where: string, given: unknown, allowNonce = false) => {
    const checked = checkDirectives(`secureHeaders: ${where}`, given, {
      allowNonce,
      requireDefaultSrc: true,
    });
    return compilePolicy(
      `secureHeaders: ${where}`,
      withDirectives(
        where,
        checked as CspDirectives,
        reporting,
        'ERR_BULWARK_PERIMETER_INVALID_CSP',
        'reportTo',
      ),
    );
  };

  const apiSet = policySet(
    compile('contentSecurityPolicy', opts.contentSecurityPolicy ?? apiContentSecurityPolicy),
    undefined,
  );
  const docsPrefixes = checkPaths('docsPaths', opts.docsPaths ?? []);
  const docsSet =
    docsPrefixes.length > 0
      ? policySet(
          compile(
            'docsContentSecurityPolicy',
            opts.docsContentSecurityPolicy ?? docsContentSecurityPolicy,
          ),
          undefined,
        )
      : apiSet;

  let pagePrefixes: string[] = [];
  let pagesSet: PolicySet = apiSet;
  if (opts.pages !== undefined) {
    if (opts.pages === null || typeof opts.pages !== 'object' || Array.isArray(opts.pages)) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_OPTION',
        `secureHeaders: pages: ${describe(opts.pages)} is not valid. Use an object such as { paths: ['/app'] }.`,
      );
    }
    const pages = checkOptions('secureHeaders: pages', opts.pages, [
      'paths',
      'contentSecurityPolicy',
      'reportOnly',
      'trustedTypes',
    ]) as Partial<PagesOptions>;
    if (pages.paths === undefined) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_PATH',
        "secureHeaders: pages.paths is required: the path prefixes that serve HTML pages, such as ['/app'].",
      );
    }
    pagePrefixes = checkPaths('pages.paths', pages.paths);
    if (pagePrefixes.length === 0) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_PATH',
        "secureHeaders: pages.paths is empty, so no response would get the page policy. List the path prefixes that serve HTML pages, such as ['/app'], or leave pages out.",
      );
    }
    const both = pagePrefixes.find((p) => docsPrefixes.includes(p));
    if (both !== undefined) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_PATH',
        `secureHeaders: ${describe(both)} is in both docsPaths and pages.paths. List it in one of them.`,
      );
    }
    const enforced = withDirectives(
      'pages.contentSecurityPolicy',
      checkDirectives(
        'secureHeaders: pages.contentSecurityPolicy',
        pages.contentSecurityPolicy ?? pageContentSecurityPolicy,
        { allowNonce: true, requireDefaultSrc: true },
      ) as CspDirectives,
      trustedTypesDirectives(pages.trustedTypes),
      'ERR_BULWARK_PERIMETER_INVALID_TRUSTED_TYPES',
      'trustedTypes',
    );
    pagesSet = policySet(
      compile('pages.contentSecurityPolicy', enforced, true),
      pages.reportOnly === undefined
        ? undefined
        : compile('pages.reportOnly', pages.reportOnly, true),
    );
  }
  const routed = docsPrefixes.length > 0 || pagePrefixes.length > 0;

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
  const varyMemo = new BoundedMemo(VARY_MEMO_LIMIT, VARY_MEMO_KEY_LENGTH, (text) =>
    credentialVary(text, credentialNames),
  );

  let permissions: string | undefined;
  if (opts.permissionsPolicy !== false) {
    const features = opts.permissionsPolicy ?? defaultPermissionsPolicy;
    const checked = checkDirectives('secureHeaders: permissionsPolicy', features, {
      csp: false,
    }) as CspDirectives;
    permissions = Object.entries(checked)
      .map(([feature, allow]) => `${feature}=(${allow.join(' ')})`)
      .join(', ');
  }

  // Everything but the CSP is the same on every response: set from two flat lists.
  const ops = helmetHeaders(hsts, corp);
  if (reportTo !== undefined) ops.unshift(['Reporting-Endpoints', `${REPORT_GROUP}="${reportTo}"`]);
  for (const [name, value] of ops) {
    if (value !== undefined) checkHeaderValue('secureHeaders', name, value);
  }
  if (permissions !== undefined) {
    checkHeaderValue('secureHeaders: permissionsPolicy', 'Permissions-Policy', permissions);
  }
  const names = ops.map(([name]) => name);
  const values = ops.map(([, value]) => value);
  // A page's own form posts then carry its Origin (under no-referrer a browser sends
  // `Origin: null`, which csrfProtection can accept only with Sec-Fetch-Site), and no referrer
  // leaves the site.
  const pageValues = ops.map(([name, value]) =>
    name === 'Referrer-Policy' ? 'same-origin' : value,
  );
  const docsLower = docsPrefixes.map((p) => p.toLowerCase());
  const pagesLower = pagePrefixes.map((p) => p.toLowerCase());
  const count = names.length;

  const carriesCredentials = (req: IncomingMessage): boolean => {
    for (const key of credentialKeys) if (req.headers[key] !== undefined) return true;
    return false;
  };

  return function secureHeaders(req, res, next) {
    let set = apiSet;
    let page = false;
    if (routed) {
      const url = req.originalUrl ?? req.url;
      const caseSensitive = req.app?.enabled('case sensitive routing') === true;
      const docs = caseSensitive ? docsPrefixes : docsLower;
      const pagePaths = caseSensitive ? pagePrefixes : pagesLower;
      if (docs.length > 0 && matchesPrefix(url, docs, caseSensitive)) set = docsSet;
      else if (pagePaths.length > 0 && matchesPrefix(url, pagePaths, caseSensitive)) {
        set = pagesSet;
        page = true;
      }
    }
    if (permissions) res.setHeader('Permissions-Policy', permissions);
    if (noStore === 'always') {
      res.setHeader('Cache-Control', 'no-store');
    } else if (noStore === 'authenticated') {
      // Whether the response may be shared depends on these headers, credentials or not.
      addVary(res, vary, varyMemo);
      // A page kept by a cache would hand every reader the same nonce, which is then no secret.
      if (page || carriesCredentials(req)) res.setHeader('Cache-Control', 'no-store');
      else watchForAuthentication(res);
    }
    applyPolicies(res, set, page);
    const headerValues = page ? pageValues : values;
    for (let i = 0; i < count; i++) {
      const value = headerValues[i];
      if (value === undefined) res.removeHeader(names[i]!);
      else res.setHeader(names[i]!, value);
    }
    next();
  };
}

/** Checks a list of path prefixes and drops a trailing `/` (but keeps `'/'` itself). */
function checkPaths(option: string, paths: unknown): string[] {
  if (
    !Array.isArray(paths) ||
    paths.some((p) => typeof p !== 'string' || !p.startsWith('/') || /[?#\s]/.test(p))
  ) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_PATH',
      `secureHeaders: ${option}: ${describe(paths)} must be an array of paths starting with '/', without '?', '#' or spaces, such as ['${option === 'docsPaths' ? '/docs' : '/app'}'].`,
    );
  }
  return (paths as string[]).map((p) => (p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p));
}
