// The rate-limit headers of one counted response, with the texts kept between requests.
import type { Response } from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { headerPolicy, RateLimitInfo, recordCount, type StandardHeaders } from './headers.js';

/** A response that keeps its headers in order, as Node's does. */
function response(): Response & { headers: Map<string, string> } {
  const headers = new Map<string, string>();
  return {
    headers,
    headersSent: false,
    setHeader(name: string, value: string) {
      headers.set(name, value);
      return this;
    },
    getHeader(name: string) {
      return headers.get(name);
    },
    removeHeader(name: string) {
      headers.delete(name);
    },
  } as unknown as Response & { headers: Map<string, string> };
}

/** The headers as they were written before any text was kept: everything made afresh. */
function plainHeaders(
  name: string,
  windowMs: number,
  standard: StandardHeaders,
  limit: number,
  used: number,
  resetMs: number | undefined,
  now: number,
): Map<string, string> {
  const headers = new Map<string, string>();
  const remaining = Math.max(limit - used, 0);
  const w = Math.ceil(windowMs / 1000);
  const reset =
    resetMs === undefined
      ? Math.ceil(windowMs / 1000)
      : Math.max(0, Math.ceil((resetMs - now) / 1000));
  if (standard !== false) {
    headers.set(
      'RateLimit-Policy',
      standard === 'draft-8' ? `"${name}"; q=${limit}; w=${w}` : `${limit};w=${w}`,
    );
    if (standard === 'draft-8') headers.set('RateLimit', `"${name}"; r=${remaining}; t=${reset}`);
    else if (standard === 'draft-7') {
      headers.set('RateLimit', `limit=${limit}, remaining=${remaining}, reset=${reset}`);
    } else {
      headers.set('RateLimit-Limit', String(limit));
      headers.set('RateLimit-Remaining', String(remaining));
      headers.set('RateLimit-Reset', String(reset));
    }
  }
  headers.set('X-RateLimit-Limit', String(limit));
  headers.set('X-RateLimit-Remaining', String(remaining));
  if (resetMs !== undefined) headers.set('X-RateLimit-Reset', String(Math.ceil(resetMs / 1000)));
  return headers;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('recordCount for one policy', () => {
  for (const standard of ['draft-8', 'draft-7', 'draft-6', false] as const) {
    it(`writes the ${String(standard)} headers as made afresh, while time, limit and count change`, () => {
      const policy = headerPolicy('api', 60_000, standard, true);
      let state = 3;
      const next = () => {
        state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
        return state / 2 ** 31;
      };
      let now = 1_700_000_000_000;
      let resetMs = now + 60_000;
      for (let i = 0; i < 2000; i++) {
        now += Math.floor(next() * 900);
        if (next() < 0.05) resetMs = now + Math.floor(next() * 60_000);
        const limit = next() < 0.1 ? Math.floor(next() * 5) : 100;
        const used = Math.floor(next() * 120);
        const reset = next() < 0.05 ? undefined : new Date(resetMs);
        const info = new RateLimitInfo(policy, limit, used, reset, 'ip:1', undefined);
        const res = response();
        // With the clock reading of the count, and with the clock read by recordCount.
        if (i % 2 === 0) recordCount(res, info, now);
        else {
          vi.useFakeTimers({ now, toFake: ['Date'] });
          recordCount(res, info);
          vi.useRealTimers();
        }
        expect([...res.headers]).toEqual([
          ...plainHeaders('api', 60_000, standard, limit, used, reset?.getTime(), now),
        ]);
      }
    });
  }

  it('removes X-RateLimit-Reset when a count has no reset time', () => {
    const policy = headerPolicy('api', 60_000, 'draft-8', true);
    const res = response();
    res.setHeader('X-RateLimit-Reset', '1');
    recordCount(res, new RateLimitInfo(policy, 5, 1, undefined, 'ip:1', undefined), 0);
    expect(res.headers.has('X-RateLimit-Reset')).toBe(false);
    expect(res.headers.get('RateLimit')).toBe('"api"; r=4; t=60');
  });
});

describe('recordCount for several policies', () => {
  it('reads the clock once for every policy of the request', () => {
    vi.useFakeTimers({ now: 1_700_000_000_000, toFake: ['Date'] });
    const now = Date.now();
    const minute = headerPolicy('minute', 60_000, 'draft-8', true);
    const hour = headerPolicy('hour', 3_600_000, 'draft-8', true);
    const first = new RateLimitInfo(minute, 5, 2, new Date(now + 30_500), 'ip:1', undefined);
    const second = new RateLimitInfo(hour, 5, 2, new Date(now + 1_800_500), 'ip:1', first);
    const res = response();
    recordCount(res, second);
    expect(res.headers.get('RateLimit')).toBe('"minute"; r=3; t=31, "hour"; r=3; t=1801');
    expect(res.headers.get('RateLimit-Policy')).toBe('"minute"; q=5; w=60, "hour"; q=5; w=3600');
    expect(res.headers.get('X-RateLimit-Remaining')).toBe('3');
    expect(res.headers.get('X-RateLimit-Reset')).toBe(String(Math.ceil((now + 1_800_500) / 1000)));
  });
});
