// The dashboard's recent security events: denials, rate limits, bans, CSRF refusals and CSP reports, kept in bounded rings.
import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Request, RequestHandler } from 'express';

/** What the dashboard lists: no address, credential, key or query string is ever kept. */
export interface SecurityEvent {
  /** Increasing within one app: newer events have larger ids. */
  id: number;
  /** ISO 8601 time the event was seen. */
  at: string;
  kind: 'denied' | 'rate-limited' | 'banned' | 'csrf-rejected' | 'csp-report';
  /** One line, already cut to length, shown as text. */
  summary: string;
  /** `true` when the event belongs to the tenant it is shown to; `false` for events every tenant sees. */
  own: boolean;
  /** How many such events in a row this one stands for (`at` and `id` are the newest's). */
  count: number;
}

/** A bounded record of the app's security events, split by tenant. */
export interface SecurityEvents {
  /** Runs the rest of the request in this app's context, so events it causes are attributed to it. */
  context: RequestHandler;
  /** The newest `limit` events `tenantId` may see: its own and those that carry no tenant's data. */
  latest(tenantId: string, limit?: number): SecurityEvent[];
  /** Stops listening to the channels. */
  close(): void;
}

/** How many events are kept, in total for events every tenant sees, and per tenant. */
const SHARED_CAPACITY = 100;
const TENANT_CAPACITY = 50;
/** Tenants with a ring of their own; the one that had an event longest ago gives its ring up first. */
const MAX_TENANTS = 1000;
const MAX_TEXT = 120;

// C0, DEL, C1, line separators and bidi controls: nothing that could change how a line reads.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function text(value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number') return '';
  const clean = String(value).replace(UNSAFE_CHARS, '');
  return clean.length > MAX_TEXT ? `${clean.slice(0, MAX_TEXT - 1)}…` : clean;
}

// Events that carry no tenant are shown to every tenant, and anyone can cause them (a CSP report
// needs no sign-in): their lines are built only from the fixed values below, never from input.

/** Directive names a CSP report's `effectiveDirective` is shown as; anything else is "a directive". */
const CSP_DIRECTIVES = new Set([
  'default-src',
  'script-src',
  'script-src-elem',
  'script-src-attr',
  'style-src',
  'style-src-elem',
  'style-src-attr',
  'img-src',
  'font-src',
  'connect-src',
  'media-src',
  'object-src',
  'frame-src',
  'child-src',
  'worker-src',
  'manifest-src',
  'fenced-frame-src',
  'base-uri',
  'form-action',
  'frame-ancestors',
  'require-trusted-types-for',
  'trusted-types',
  'webrtc',
]);

/** What a CSP report blocked, when it is one of CSP's keywords rather than a URL (a URL is "a resource"). */
const CSP_BLOCKED = new Set([
  'inline',
  'eval',
  'wasm-eval',
  'trusted-types-policy',
  'trusted-types-sink',
]);

/** The app's pages, the only document paths a CSP report is shown with; any other is "a page". */
const PAGE_PATHS = new Set(['/app', '/app/sign-in', '/app/sign-out', '/docs']);

/** Other report types the collector keeps; any other is shown as "other". */
const REPORT_TYPES = new Set(['coep', 'coop', 'deprecation', 'intervention']);

/** A route pattern as the app declares it, such as `/app/sign-in` or `/devices/:id`. */
const ROUTE = /^\/[A-Za-z0-9/:_-]{0,80}$/;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The app's own names (rate-limit policies) as they are, when they look like one. */
const NAME = /^[a-z][a-z0-9-]{0,39}$/;

function pick(value: unknown, allowed: ReadonlySet<string>, otherwise: string): string {
  return typeof value === 'string' && allowed.has(value) ? value : otherwise;
}

/** A whole number from the app's own settings, or `?`. */
function count(value: unknown): string {
  return Number.isSafeInteger(value) ? String(value) : '?';
}

/** The path of a reported document URL when it is exactly one of the app's pages. */
function pagePath(url: unknown): string {
  if (typeof url !== 'string') return 'a page';
  try {
    return pick(new URL(url).pathname, PAGE_PATHS, 'a page');
  } catch {
    return 'a page';
  }
}

/**
 * A request as "METHOD /route/:pattern": the pattern of the app's route it matched, never the
 * path it asked for (which an anonymous client chooses, and may name another tenant's resource).
 */
function requestOf(req: Request): string {
  if (!METHODS.has(req.method)) return 'request';
  const pattern = (req.route as { path?: unknown } | undefined)?.path;
  // A router's base URL is the path as asked; only a route mounted on the app itself is all pattern.
  return req.baseUrl === '' && typeof pattern === 'string' && ROUTE.test(pattern)
    ? `${req.method} ${pattern}`
    : req.method;
}

/** One request's context: the ring it reports to and the request, to read its caller later. */
interface Scope {
  ring: Ring;
  req: Request;
}

const storage = new AsyncLocalStorage<Scope>();

/** The caller's tenant once an authenticator has set `req.auth`, else `null`. */
function tenantOfScope(scope: Scope): string | null {
  const tenant = scope.req.auth?.tenantId;
  return typeof tenant === 'string' && tenant !== '' ? tenant : null;
}

type Entry = Omit<SecurityEvent, 'own' | 'count'>;

class Ring {
  private next = 1;
  private readonly shared: Entry[] = [];
  private readonly tenants = new Map<string, Entry[]>();

  add(tenantId: string | null, kind: SecurityEvent['kind'], summary: string): void {
    const entry: Entry = { id: this.next++, at: new Date().toISOString(), kind, summary };
    if (tenantId === null) {
      push(this.shared, entry, SHARED_CAPACITY);
      return;
    }
    let ring = this.tenants.get(tenantId);
    if (ring) {
      // Re-inserted, so the map's order is the order of each tenant's latest event.
      this.tenants.delete(tenantId);
    } else {
      ring = [];
      if (this.tenants.size >= MAX_TENANTS) {
        const oldest = this.tenants.keys().next().value;
        if (oldest !== undefined) this.tenants.delete(oldest);
      }
    }
    this.tenants.set(tenantId, ring);
    push(ring, entry, TENANT_CAPACITY);
  }

  latest(tenantId: string, limit: number): SecurityEvent[] {
    const own = (this.tenants.get(tenantId) ?? []).map((e) => ({ ...e, own: true, count: 1 }));
    const shared = this.shared.map((e) => ({ ...e, own: false, count: 1 }));
    const out: SecurityEvent[] = [];
    // Newest first; a run of the same event (a client hammering one limit) is one line with a count.
    for (const event of [...own, ...shared].sort((a, b) => b.id - a.id)) {
      const last = out.at(-1);
      if (
        last &&
        last.kind === event.kind &&
        last.summary === event.summary &&
        last.own === event.own
      ) {
        last.count += 1;
        continue;
      }
      if (out.length === limit) break;
      out.push(event);
    }
    return out;
  }
}

function push(ring: Entry[], entry: Entry, capacity: number): void {
  ring.push(entry);
  if (ring.length > capacity) ring.shift();
}

/**
 * What each channel's message becomes. An event goes to a tenant's ring only when it names that
 * tenant (a denial) or was caused by a request authenticated for it (a rate limit); everything
 * else goes to the shared ring without the address, key or subject it carried.
 */
const HANDLERS: Record<string, (message: Record<string, unknown>, scope: Scope) => void> = {
  'bulwark:rbac:denied'(m, { ring }) {
    const tenant = typeof m.tenantId === 'string' && m.tenantId !== '' ? m.tenantId : null;
    // An operator's denial names no tenant and would show an operator's subject: not listed.
    if (tenant === null) return;
    const missing = Array.isArray(m.missing) ? m.missing.map(text).join(', ') : '';
    ring.add(
      tenant,
      'denied',
      `${text(m.method)} ${text(m.path)} refused to ${text(m.subject)}: needs ${missing || 'a permission it lacks'}`,
    );
  },
  'bulwark:rate-limit:limited'(m, scope) {
    const tenant = tenantOfScope(scope);
    const who =
      tenant === null ? `a client address (${requestOf(scope.req)})` : 'a caller in your tenant';
    const policy = typeof m.policy === 'string' && NAME.test(m.policy) ? m.policy : 'a policy';
    scope.ring.add(
      tenant,
      'rate-limited',
      `Rate limit '${policy}' reached by ${who} (${count(m.limit)} per ${Math.round(Number(m.windowMs) / 1000) || '?'} s)`,
    );
  },
  'bulwark:rate-limit:banned'(m, { ring }) {
    ring.add(
      null,
      'banned',
      `A client address was banned for ${Math.round(Number(m.banMs) / 60_000) || '?'} min after ${count(m.failures)} failed requests`,
    );
  },
  'bulwark:perimeter:csrf-rejected'(_m, { ring, req }) {
    // Refused before any sign-in: the reason and the path are the client's to choose.
    ring.add(null, 'csrf-rejected', `Cross-site ${requestOf(req)} refused`);
  },
  'bulwark:perimeter:report'(m, { ring }) {
    const body = (typeof m.body === 'object' && m.body !== null ? m.body : {}) as Record<
      string,
      unknown
    >;
    if (m.type === 'csp-violation') {
      ring.add(
        null,
        'csp-report',
        `CSP blocked ${pick(body.blockedURL, CSP_BLOCKED, 'a resource')} (${pick(body.effectiveDirective, CSP_DIRECTIVES, 'a directive')}) on ${pagePath(m.url)}`,
      );
      return;
    }
    ring.add(null, 'csp-report', `Browser report: ${pick(m.type, REPORT_TYPES, 'other')}`);
  },
};

/**
 * Listens to the packages' diagnostics channels and keeps the events caused by this app's own
 * requests (several apps in one process each keep their own). Mount `context` before the
 * middleware whose events should be kept.
 */
export function createSecurityEvents(): SecurityEvents {
  const ring = new Ring();
  const listeners = Object.entries(HANDLERS).map(([name, handle]) => {
    const listener = (message: unknown) => {
      const scope = storage.getStore();
      if (scope?.ring !== ring || typeof message !== 'object' || message === null) return;
      handle(message as Record<string, unknown>, scope);
    };
    subscribe(name, listener);
    return [name, listener] as const;
  });
  return {
    context: function securityEventContext(req, _res, next) {
      storage.run({ ring, req }, next);
    },
    latest: (tenantId, limit = 20) => ring.latest(tenantId, limit),
    close() {
      for (const [name, listener] of listeners) unsubscribe(name, listener);
    },
  };
}
