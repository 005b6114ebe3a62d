// The rate-limit headers of a response, written from every policy that counted the request.
import type { Response } from 'express';

/** The IETF RateLimit header drafts a policy can send, or `false` for none. */
export type StandardHeaders = 'draft-8' | 'draft-7' | 'draft-6' | false;

/** What a policy's headers need that is known when the policy is built. */
export interface HeaderPolicy {
  /** The draft 8 name, quoted: `"telemetry-export"`. */
  quoted: string;
  windowMs: number;
  /** The window in whole seconds, for the `w` parameter. */
  windowSeconds: number;
  standardHeaders: StandardHeaders;
  legacyHeaders: boolean;
  /**
   * The last limit's `RateLimit-Policy` entry and `X-RateLimit-Limit` value, kept because a
   * policy's limit rarely changes between requests.
   */
  lastLimit: number;
  lastPolicyEntry: string;
  lastLimitText: string;
  /** The last reset time's `X-RateLimit-Reset` value, shared by a window's requests. */
  lastResetMs: number;
  lastResetText: string;
  /** Draft 8's `RateLimit` up to the remaining count: `"telemetry-export"; r=`. */
  draft8Prefix: string;
  /** The last seconds-until-reset, and draft 8's `RateLimit` after the remaining count: `; t=42`. */
  lastSeconds: number;
  lastSecondsSuffix: string;
}

/** One policy's count of one request. */
export interface PolicyCount {
  policy: HeaderPolicy;
  limit: number;
  remaining: number;
  resetTime: Date | undefined;
}

/**
 * `req.rateLimit` after a policy counted a request: express-rate-limit's fields (`limit`, `used`,
 * `remaining`, `resetTime`, `key`, and the deprecated `current`, not enumerable), and, out of
 * sight, the policy and the count of the policy before it. Reading the counts of a request from
 * here costs nothing more: keeping them beside the response in a WeakMap cost a microsecond or
 * more per request.
 */
export class RateLimitInfo {
  limit: number;
  used: number;
  remaining: number;
  resetTime: Date | undefined;
  key: string;
  readonly #policy: HeaderPolicy;
  readonly #previous: RateLimitInfo | undefined;

  constructor(
    policy: HeaderPolicy,
    limit: number,
    used: number,
    resetTime: Date | undefined,
    key: string,
    previous: unknown,
  ) {
    this.limit = limit;
    this.used = used;
    this.remaining = Math.max(limit - used, 0);
    this.resetTime = resetTime;
    this.key = key;
    this.#policy = policy;
    // Counts from other middleware that writes req.rateLimit are not this package's to report.
    this.#previous = previous instanceof RateLimitInfo ? previous : undefined;
  }

  get current(): number {
    return this.used;
  }

  /** This count and those before it on the same request, oldest first. */
  static counts(info: RateLimitInfo): PolicyCount[] {
    const counts: PolicyCount[] = [];
    for (let at: RateLimitInfo | undefined = info; at !== undefined; at = at.#previous) {
      counts.push({
        policy: at.#policy,
        limit: at.limit,
        remaining: at.remaining,
        resetTime: at.resetTime,
      });
    }
    return counts.reverse();
  }

  static policyOf(info: RateLimitInfo): HeaderPolicy {
    return info.#policy;
  }

  static isFirst(info: RateLimitInfo): boolean {
    return info.#previous === undefined;
  }
}

export function headerPolicy(
  name: string,
  windowMs: number,
  standardHeaders: StandardHeaders,
  legacyHeaders: boolean,
): HeaderPolicy {
  return {
    quoted: `"${name}"`,
    windowMs,
    windowSeconds: Math.ceil(windowMs / 1000),
    standardHeaders,
    legacyHeaders,
    lastLimit: -1,
    lastPolicyEntry: '',
    lastLimitText: '',
    lastResetMs: Number.NaN,
    lastResetText: '',
    draft8Prefix: `"${name}"; r=`,
    lastSeconds: -1,
    lastSecondsSuffix: '',
  };
}

function remember(policy: HeaderPolicy, limit: number): void {
  if (policy.lastLimit === limit) return;
  policy.lastPolicyEntry =
    policy.standardHeaders === 'draft-8'
      ? `${policy.quoted}; q=${limit}; w=${policy.windowSeconds}`
      : `${limit};w=${policy.windowSeconds}`;
  policy.lastLimitText = String(limit);
  policy.lastLimit = limit;
}

function resetText(policy: HeaderPolicy, resetTime: Date): string {
  const ms = resetTime.getTime();
  if (ms !== policy.lastResetMs) {
    policy.lastResetText = String(Math.ceil(ms / 1000));
    policy.lastResetMs = ms;
  }
  return policy.lastResetText;
}

/**
 * Seconds until a count's window resets, as express-rate-limit computes them. `now` is the clock
 * reading the count was made at, when the caller has one: the same instant for the window and
 * its headers, and one reading fewer per request.
 */
export function secondsUntilReset(
  resetTime: Date | undefined,
  windowMs: number,
  now: number = Date.now(),
): number {
  if (!resetTime) return Math.ceil(windowMs / 1000);
  return Math.max(0, Math.ceil((resetTime.getTime() - now) / 1000));
}

/** Draft 8's `RateLimit` entry for one count: `"name"; r=<remaining>; t=<seconds>`. */
function draft8Entry(policy: HeaderPolicy, remaining: string, seconds: number): string {
  // A window's requests share their seconds-until-reset for up to a second: the text after the
  // remaining count is made once for them.
  if (seconds !== policy.lastSeconds) {
    policy.lastSecondsSuffix = `; t=${seconds}`;
    policy.lastSeconds = seconds;
  }
  return policy.draft8Prefix + remaining + policy.lastSecondsSuffix;
}

/**
 * The count a client runs out of first: the fewest requests left and, among those, the one that
 * resets last (after a shorter window resets, the longer one still holds the client back).
 */
function strictest(counts: readonly PolicyCount[], now: number): PolicyCount | undefined {
  let best: PolicyCount | undefined;
  let bestReset = 0;
  for (const count of counts) {
    const reset = secondsUntilReset(count.resetTime, count.policy.windowMs, now);
    if (
      best === undefined ||
      count.remaining < best.remaining ||
      (count.remaining === best.remaining && reset > bestReset)
    ) {
      best = count;
      bestReset = reset;
    }
  }
  return best;
}

function policyEntry({ policy, limit }: PolicyCount): string {
  remember(policy, limit);
  return policy.lastPolicyEntry;
}

/** The headers of a response one policy counted: what {@link writeHeaders} writes for one count. */
function writeOne(res: Response, policy: HeaderPolicy, count: RateLimitInfo, now: number): void {
  const { limit, resetTime } = count;
  remember(policy, limit);
  const remaining = String(count.remaining);
  const standard = policy.standardHeaders;
  if (standard !== false) {
    res.setHeader('RateLimit-Policy', policy.lastPolicyEntry);
    const reset = secondsUntilReset(resetTime, policy.windowMs, now);
    if (standard === 'draft-8') {
      res.setHeader('RateLimit', draft8Entry(policy, remaining, reset));
    } else if (standard === 'draft-7') {
      res.setHeader('RateLimit', `limit=${limit}, remaining=${remaining}, reset=${reset}`);
    } else {
      res.setHeader('RateLimit-Limit', policy.lastLimitText);
      res.setHeader('RateLimit-Remaining', remaining);
      res.setHeader('RateLimit-Reset', String(reset));
    }
  }
  if (policy.legacyHeaders) {
    res.setHeader('X-RateLimit-Limit', policy.lastLimitText);
    res.setHeader('X-RateLimit-Remaining', remaining);
    if (resetTime) res.setHeader('X-RateLimit-Reset', resetText(policy, resetTime));
    else res.removeHeader('X-RateLimit-Reset');
  }
}

/**
 * Rewrites the response's rate-limit headers from every count so far. Headers that list policies
 * (`RateLimit-Policy`, and draft 8's `RateLimit`) get one entry per policy; headers that hold one
 * value (draft 7's `RateLimit`, draft 6's `RateLimit-Limit`/`-Remaining`/`-Reset` and the
 * `X-RateLimit-*` set) describe the strictest of the policies that send them.
 */
function writeHeaders(res: Response, counts: readonly PolicyCount[], now: number): void {
  const standard = counts.filter((count) => count.policy.standardHeaders !== false);
  if (standard.length > 0) res.setHeader('RateLimit-Policy', standard.map(policyEntry).join(', '));
  const draft8 = standard.filter((count) => count.policy.standardHeaders === 'draft-8');
  if (draft8.length > 0) {
    res.setHeader(
      'RateLimit',
      draft8
        .map(
          ({ policy, remaining, resetTime }) =>
            `${policy.quoted}; r=${remaining}; t=${secondsUntilReset(resetTime, policy.windowMs, now)}`,
        )
        .join(', '),
    );
  } else {
    // Draft 7's RateLimit is one dictionary, which a draft 8 list cannot share a header with.
    const draft7 = strictest(
      standard.filter((c) => c.policy.standardHeaders === 'draft-7'),
      now,
    );
    if (draft7) {
      const reset = secondsUntilReset(draft7.resetTime, draft7.policy.windowMs, now);
      res.setHeader(
        'RateLimit',
        `limit=${draft7.limit}, remaining=${draft7.remaining}, reset=${reset}`,
      );
    }
  }
  const draft6 = strictest(
    standard.filter((c) => c.policy.standardHeaders === 'draft-6'),
    now,
  );
  if (draft6) {
    res.setHeader('RateLimit-Limit', String(draft6.limit));
    res.setHeader('RateLimit-Remaining', String(draft6.remaining));
    res.setHeader(
      'RateLimit-Reset',
      String(secondsUntilReset(draft6.resetTime, draft6.policy.windowMs, now)),
    );
  }
  const legacy = strictest(
    counts.filter((count) => count.policy.legacyHeaders),
    now,
  );
  if (legacy) {
    res.setHeader('X-RateLimit-Limit', String(legacy.limit));
    res.setHeader('X-RateLimit-Remaining', String(legacy.remaining));
    if (legacy.resetTime) {
      res.setHeader('X-RateLimit-Reset', String(Math.ceil(legacy.resetTime.getTime() / 1000)));
    } else {
      res.removeHeader('X-RateLimit-Reset');
    }
  }
}

/**
 * Rewrites the response's rate-limit headers from a policy's count of this request and the counts
 * of the policies before it. `now` is the clock reading the count was made at, when the caller
 * read one just before (a store in this process); else the clock is read here.
 */
export function recordCount(res: Response, info: RateLimitInfo, now?: number): void {
  if (res.headersSent) return;
  const at = now ?? Date.now();
  if (RateLimitInfo.isFirst(info)) writeOne(res, RateLimitInfo.policyOf(info), info, at);
  else writeHeaders(res, RateLimitInfo.counts(info), at);
}

/**
 * `Retry-After` for a refused request: the longest wait among the policies this request used up
 * (the refusing one included), so a client that waits is not refused at once by another policy.
 */
export function retryAfterSeconds(info: RateLimitInfo): number {
  let seconds = 0;
  for (const count of RateLimitInfo.counts(info)) {
    if (count.remaining > 0) continue;
    seconds = Math.max(seconds, secondsUntilReset(count.resetTime, count.policy.windowMs));
  }
  return seconds;
}
