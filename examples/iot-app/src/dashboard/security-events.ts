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

/** A reported URL shown as its origin only, or a CSP keyword (`inline`, `eval`) as it is. */
function origin(value: unknown): string {
  if (typeof value !== 'string' || value === '') return 'unknown';
  if (/^[a-z][a-z-]{0,31}:?$/.test(value)) return value;
  try {
    return new URL(value).origin;
  } catch {
    return 'unknown';
  }
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
    const who = tenant === null ? 'a client address' : 'a caller in your tenant';
    scope.ring.add(
      tenant,
      'rate-limited',
      `Rate limit '${text(m.policy)}' reached by ${who} (${text(m.limit)} per ${Math.round(Number(m.windowMs) / 1000) || '?'} s)`,
    );
  },
  'bulwark:rate-limit:banned'(m, { ring }) {
    ring.add(
      null,
      'banned',
      `A client address was banned for ${Math.round(Number(m.banMs) / 60_000) || '?'} min after ${text(m.failures)} failed requests`,
    );
  },
  'bulwark:perimeter:csrf-rejected'(m, { ring }) {
    ring.add(
      null,
      'csrf-rejected',
      `Cross-site ${text(m.method)} ${text(m.path)} refused (${text(m.reason)})`,
    );
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
        `CSP blocked ${origin(body.blockedURL)} (${text(body.effectiveDirective) || 'unknown directive'}) on ${text(safePath(m.url))}`,
      );
      return;
    }
    ring.add(null, 'csp-report', `Browser report: ${text(m.type)}`);
  },
};

/** The path of a reported document URL (the collector has already removed query and fragment). */
function safePath(url: unknown): string {
  if (typeof url !== 'string') return 'a page';
  try {
    return new URL(url).pathname;
  } catch {
    return 'a page';
  }
}

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
