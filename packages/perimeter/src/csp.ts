// Content-Security-Policy building blocks: directive maps checked once, policies compiled once by helmet, a cheap per-response nonce, and per-route overrides.
import { randomFillSync } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import helmet from 'helmet';
import { looksLikeRequest } from '../../../internal/options.js';
import { requestSlot } from '../../../internal/request-slot.js';
import { checkOptions, describe, PerimeterConfigError } from './errors.js';

declare global {
  namespace Express {
    interface Locals {
      /**
       * The nonce of this response's page policy, set by `secureHeaders()` under `pages.paths`
       * (and by a `cspOverride()` whose policy uses `cspNonce`). Put it on each `<script>` and
       * `<style>` element: `<script nonce="<%= cspNonce %>">`.
       */
      cspNonce?: string;
    }
  }
}

/** CSP directives: name (kebab-case, as sent) to sources. */
export type CspDirectives = Record<string, readonly string[]>;

/** Directive changes for {@link cspOverride}: new sources for a directive, or `null` to drop it. */
export type CspOverrides = Record<string, readonly string[] | null>;

/**
 * The placeholder for the per-response nonce: put it among a directive's sources (`'script-src':
 * [cspNonce, "'strict-dynamic'"]`) and each response carries `'nonce-<fresh value>'` there, the
 * same value as `res.locals.cspNonce`. Only page policies (`pages` in `secureHeaders()`, and
 * `cspOverride()`) may use it.
 */
export const cspNonce = "'nonce-{cspNonce}'";

/**
 * The default policy for server-rendered HTML pages (`pages` in `secureHeaders()`): a strict,
 * nonce-based CSP. Scripts run only when they carry the response's nonce, and what they load
 * runs too (`'strict-dynamic'`); `https:` and `'unsafe-inline'` are there only for browsers
 * that predate CSP level 3, and every browser that knows nonces and `'strict-dynamic'` ignores
 * both. Styles come from the same origin or carry the nonce; images from the same origin or
 * `data:`; fetches go to the same origin only; no plugins, no `<base>`, no framing, and forms
 * post only to the same origin.
 */
export const pageContentSecurityPolicy: CspDirectives = Object.freeze({
  'default-src': ["'self'"],
  'script-src': [cspNonce, "'strict-dynamic'", 'https:', "'unsafe-inline'"],
  'style-src': ["'self'", cspNonce],
  'img-src': ["'self'", 'data:'],
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
  'frame-ancestors': ["'none'"],
  'form-action': ["'self'"],
});

const DIRECTIVE_NAME = /^[a-z][a-z-]*$/;
// A source may not contain characters that end a directive or the header.
const BAD_SOURCE = /[;,\r\n]/;
// What a policy header can carry: visible ASCII, spaces and tabs (RFC 9110 field-value without
// obs-text). Node refuses anything past Latin-1 on every response, and browsers read Latin-1 as
// something other than the source written.
const HEADER_TEXT = /^[\t\x20-\x7e]*$/;
// Keywords that mean something only in single quotes; unquoted, a browser reads them as host names.
const KEYWORDS = new Set([
  'none',
  'self',
  'strict-dynamic',
  'report-sample',
  'inline-speculation-rules',
  'unsafe-inline',
  'unsafe-eval',
  'unsafe-hashes',
  'wasm-unsafe-eval',
]);
const UNQUOTED_HASH_OR_NONCE = /^(nonce|sha256|sha384|sha512)-/;

/**
 * Checks a directive map and returns a plain copy. `allowRemoval` admits `null` for a directive
 * to drop (overrides only); `allowNonce` admits the {@link cspNonce} placeholder; `csp: false`
 * checks only the shape (for Permissions-Policy, whose keywords are unquoted).
 */
export function checkDirectives(
  where: string,
  directives: unknown,
  { allowRemoval = false, allowNonce = false, requireDefaultSrc = false, csp = true } = {},
): Record<string, readonly string[] | null> {
  if (!directives || typeof directives !== 'object' || Array.isArray(directives)) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_CSP',
      `${where}: ${describe(directives)} is not a directive map. Use an object such as { 'default-src': ["'none'"] }.`,
    );
  }
  const out: Record<string, readonly string[] | null> = {};
  for (const [name, sources] of Object.entries(directives)) {
    if (!DIRECTIVE_NAME.test(name)) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_CSP',
        `${where}: ${describe(name)} is not a directive name. Write it as sent, in kebab-case, such as 'script-src'.`,
      );
    }
    if (sources === null && allowRemoval) {
      if (name === 'default-src') {
        throw new PerimeterConfigError(
          'ERR_BULWARK_PERIMETER_INVALID_CSP',
          `${where}: default-src: null would drop the directive every other fetch directive falls back to. Give it new sources instead, such as ["'self'"].`,
        );
      }
      out[name] = null;
      continue;
    }
    if (
      !Array.isArray(sources) ||
      sources.some((s) => typeof s !== 'string' || BAD_SOURCE.test(s))
    ) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_CSP',
        `${where}: the sources of ${name} must be an array of strings without ';', ',' or line breaks, such as ["'self'"]${allowRemoval ? ', or null to drop the directive' : ''}.`,
      );
    }
    const unsendable = (sources as readonly string[]).find((s) => !HEADER_TEXT.test(s));
    if (unsendable !== undefined) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_CSP',
        `${where}: ${name}: ${describe(unsendable)} holds a character a header cannot carry (only visible ASCII, spaces and tabs). Write a host name in its punycode form (xn--...) and percent-encode a path.`,
      );
    }
    for (const source of csp ? (sources as readonly string[]) : []) {
      if (KEYWORDS.has(source) || UNQUOTED_HASH_OR_NONCE.test(source)) {
        throw new PerimeterConfigError(
          'ERR_BULWARK_PERIMETER_INVALID_CSP',
          `${where}: ${name}: ${describe(source)} must be in single quotes (${describe(`'${source}'`)}); unquoted, browsers read it as a host name.`,
        );
      }
      if (source === cspNonce) {
        if (!allowNonce) {
          throw new PerimeterConfigError(
            'ERR_BULWARK_PERIMETER_CSP_NONCE_OUTSIDE_PAGES',
            `${where}: ${name} uses cspNonce, but only page policies get a nonce. List the route's path in pages.paths and put the directive in pages.contentSecurityPolicy, or use cspOverride() on the route.`,
          );
        }
      } else if (source.startsWith("'nonce-")) {
        throw new PerimeterConfigError(
          'ERR_BULWARK_PERIMETER_CSP_FIXED_NONCE',
          `${where}: ${name}: a fixed nonce (${describe(source)}) is the same in every response, so an injected script can copy it. Use the cspNonce placeholder, which becomes a fresh nonce in each response.`,
        );
      }
    }
    out[name] = [...(sources as readonly string[])];
  }
  if (requireDefaultSrc && !Object.hasOwn(out, 'default-src')) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_CSP',
      `${where}: the policy has no default-src, the directive every other fetch directive falls back to. Add one, such as 'default-src': ["'self'"] (or ["'none'"]).`,
    );
  }
  return out;
}

const NONCE_BYTES = 18; // 144 bits: 24 base64 characters, no padding.
const NONCES_PER_FILL = 256;
const noncePool = Buffer.allocUnsafeSlow(NONCE_BYTES * NONCES_PER_FILL);
let nonceOffset = noncePool.length;

/** A fresh nonce: 144 random bits from one `randomFillSync` per 256 nonces, in base64. */
export function newNonce(): string {
  if (nonceOffset === noncePool.length) {
    randomFillSync(noncePool);
    nonceOffset = 0;
  }
  const nonce = noncePool.toString('base64', nonceOffset, nonceOffset + NONCE_BYTES);
  nonceOffset += NONCE_BYTES;
  return nonce;
}

/** One header a middleware sets (`value`) or removes (`undefined`). */
export type HeaderOp = readonly [name: string, value: string | undefined];

type Middleware = (req: object, res: object, next: (err?: unknown) => void) => void;

/**
 * Runs a header-setting middleware (helmet's) once against a response that only records, so
 * its header values are kept and set per request without running it again.
 */
export function recordHeaders(middleware: Middleware): HeaderOp[] {
  const ops: HeaderOp[] = [];
  const recorder = {
    setHeader(name: string, value: unknown) {
      if (typeof value !== 'string') throw new TypeError(`${name} is not a fixed string`);
      ops.push([name, value]);
      return recorder;
    },
    removeHeader(name: string) {
      ops.push([name, undefined]);
    },
  };
  let done = false;
  let failure: unknown;
  middleware(Object.create(null), recorder, (err) => {
    done = true;
    failure = err;
  });
  if (!done || failure !== undefined) {
    throw failure ?? new TypeError('the header middleware did not finish at once');
  }
  return ops;
}

/**
 * Throws `ERR_BULWARK_PERIMETER_INVALID_CSP` when `value` is not something Node sends as the
 * `name` header, so a bad value fails at construction rather than as a 500 on every response.
 */
export function checkHeaderValue(where: string, name: string, value: string): void {
  if (HEADER_TEXT.test(value)) return;
  throw new PerimeterConfigError(
    'ERR_BULWARK_PERIMETER_INVALID_CSP',
    `${where}: the ${name} header would be ${describe(value)}, which holds a character a header cannot carry (only visible ASCII, spaces and tabs).`,
  );
}

/** A policy compiled once: the header value split around each nonce. */
export interface CompiledPolicy {
  /** The directive map it was compiled from, placeholders included, for overrides to merge into. */
  readonly directives: CspDirectives;
  /** The header value, cut at each nonce: `parts.join(nonce)` is the header. */
  readonly parts: readonly string[];
}

/** Compiles a checked directive map with helmet, which serialises and validates it. */
export function compilePolicy(where: string, directives: CspDirectives): CompiledPolicy {
  let ops: HeaderOp[];
  try {
    ops = recordHeaders(
      helmet.contentSecurityPolicy({
        useDefaults: false,
        directives: Object.fromEntries(Object.entries(directives).map(([k, v]) => [k, [...v]])),
      }) as Middleware,
    );
  } catch (err) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_CSP',
      `${where}: ${err instanceof Error ? err.message : String(err)}.`,
    );
  }
  const value = ops[0]?.[1] ?? '';
  checkHeaderValue(where, 'Content-Security-Policy', value);
  const pieces = value.split(cspNonce);
  const parts = pieces.map(
    (piece, i) => `${i > 0 ? "'" : ''}${piece}${i < pieces.length - 1 ? "'nonce-" : ''}`,
  );
  return Object.freeze({
    directives: Object.freeze({ ...directives }),
    parts: Object.freeze(parts),
  });
}

/** The header value of a compiled policy for one response. */
function render(policy: CompiledPolicy, nonce: string | undefined): string {
  const parts = policy.parts;
  if (parts.length === 1) return parts[0]!;
  let value = parts[0]!;
  for (let i = 1; i < parts.length; i++) value += nonce + parts[i]!;
  return value;
}

/** The enforced and report-only policies that apply to one kind of response. */
export interface PolicySet {
  readonly enforce: CompiledPolicy;
  readonly reportOnly: CompiledPolicy | undefined;
  /** Whether either policy holds the nonce placeholder. */
  readonly usesNonce: boolean;
}

export function policySet(
  enforce: CompiledPolicy,
  reportOnly: CompiledPolicy | undefined,
): PolicySet {
  return Object.freeze({
    enforce,
    reportOnly,
    usesNonce:
      enforce.parts.length > 1 || (reportOnly !== undefined && reportOnly.parts.length > 1),
  });
}

// Where secureHeaders() leaves the policies of a response and its nonce, for cspOverride().
const policiesSlot = requestSlot<PolicySet>(Symbol('bulwark.csp.policies'));
const nonceSlot = requestSlot<string>(Symbol('bulwark.csp.nonce'));

type PolicyResponse = ServerResponse & { locals?: Record<string, unknown> };

/**
 * Sets the CSP headers of a policy set on a response, with a fresh nonce (also in
 * `res.locals.cspNonce`) when `withNonce` is true or the set needs one and the response has none.
 */
export function applyPolicies(res: ServerResponse, set: PolicySet, withNonce: boolean): void {
  policiesSlot.set(res, set);
  if (!withNonce && !set.usesNonce) {
    // Neither policy holds a nonce, so each header value is the one piece compiled at
    // construction, whatever nonce the response may have.
    res.setHeader('Content-Security-Policy', set.enforce.parts[0]!);
    if (set.reportOnly !== undefined) {
      res.setHeader('Content-Security-Policy-Report-Only', set.reportOnly.parts[0]!);
    }
    return;
  }
  let nonce = nonceSlot.get(res);
  if (nonce === undefined) {
    nonce = newNonce();
    nonceSlot.set(res, nonce);
    const r = res as PolicyResponse;
    if (r.locals === undefined) r.locals = Object.create(null) as Record<string, unknown>;
    r.locals.cspNonce = nonce;
  }
  res.setHeader('Content-Security-Policy', render(set.enforce, nonce));
  if (set.reportOnly !== undefined) {
    res.setHeader('Content-Security-Policy-Report-Only', render(set.reportOnly, nonce));
  }
}

/** The policy set of a response, as `secureHeaders()` or an earlier `cspOverride()` left it. */
export function policiesOf(res: ServerResponse): PolicySet | undefined {
  return policiesSlot.get(res);
}

export interface CspOverrideOptions {
  /**
   * Change the `Content-Security-Policy-Report-Only` policy instead of the enforced one. Where
   * no report-only policy applies, the enforced policy with these changes is sent as one, so a
   * change can be watched in reports before it is enforced. Default `false`.
   */
  reportOnly?: boolean;
}

function merge(base: CspDirectives, changes: CspOverrides): CspDirectives {
  const out: Record<string, readonly string[]> = { ...base };
  for (const [name, sources] of Object.entries(changes)) {
    if (sources === null) delete out[name];
    else out[name] = sources;
  }
  return out;
}

/**
 * Changes the CSP on the routes it is mounted on, after `secureHeaders()`: each directive given
 * replaces that directive in the policy that applies there (`null` drops it), with the
 * {@link cspNonce} placeholder allowed. Each merged policy is compiled once, the first time it
 * is needed, and kept per base policy; per request only the nonce is joined in. A policy that
 * uses `cspNonce` on a route outside `pages.paths` gets a fresh nonce there too.
 *
 * @param directives Directive changes, such as `{ 'frame-ancestors': ["'self'"] }`.
 * @param options See {@link CspOverrideOptions}.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_INVALID_CSP` for a malformed change,
 *   `ERR_BULWARK_PERIMETER_CSP_FIXED_NONCE` for a literal `'nonce-...'`,
 *   `ERR_BULWARK_PERIMETER_UNKNOWN_OPTION` for a misspelled option. On a request that
 *   `secureHeaders()` has not seen, it passes `ERR_BULWARK_PERIMETER_CSP_OVERRIDE_ORDER` (a 500)
 *   to `next`.
 * @example
 * app.get('/embed', cspOverride({ 'frame-ancestors': ['https://partner.example'] }), embed);
 */
export function cspOverride(
  directives: CspOverrides,
  options?: CspOverrideOptions,
): RequestHandler {
  if (looksLikeRequest(directives)) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_NOT_CALLED',
      'cspOverride was used as middleware without being called. Write app.get(path, cspOverride({ ... }), handler).',
    );
  }
  const opts = checkOptions('cspOverride', options, ['reportOnly']) as CspOverrideOptions;
  const changes = checkDirectives('cspOverride', directives, {
    allowRemoval: true,
    allowNonce: true,
  });
  if (Object.keys(changes).length === 0) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_CSP',
      'cspOverride: no directive changes given. Pass at least one, such as { "frame-ancestors": ["\'self\'"] }.',
    );
  }
  const reportOnly = opts.reportOnly ?? false;
  if (typeof reportOnly !== 'boolean') {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTION',
      `cspOverride: reportOnly: ${describe(reportOnly)} is not a boolean. Use true or false.`,
    );
  }
  const where = reportOnly ? 'cspOverride (report-only)' : 'cspOverride';
  const cache = new WeakMap<PolicySet, PolicySet>();

  const derive = (base: PolicySet): PolicySet => {
    if (reportOnly) {
      const from = base.reportOnly ?? base.enforce;
      return policySet(base.enforce, compilePolicy(where, merge(from.directives, changes)));
    }
    return policySet(
      compilePolicy(where, merge(base.enforce.directives, changes)),
      base.reportOnly,
    );
  };

  return function cspOverride(_req, res, next) {
    const base = policiesOf(res);
    if (base === undefined) {
      next(
        new PerimeterConfigError(
          'ERR_BULWARK_PERIMETER_CSP_OVERRIDE_ORDER',
          'cspOverride: secureHeaders() has not run for this request, so there is no policy to change. Mount app.use(secureHeaders()) before the routes that use cspOverride().',
        ),
      );
      return;
    }
    let set = cache.get(base);
    if (set === undefined) {
      try {
        set = derive(base);
      } catch (err) {
        next(err);
        return;
      }
      cache.set(base, set);
    }
    applyPolicies(res, set, false);
    next();
  };
}
