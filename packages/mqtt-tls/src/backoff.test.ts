// Reconnect delays grow exponentially, are capped and jittered.
import { describe, expect, it } from 'vitest';
import { RECONNECT_DEFAULTS } from './backoff.js';
import { backoffDelay } from './index.js';

describe('backoffDelay', () => {
  const options = { ...RECONNECT_DEFAULTS, initialDelayMs: 100, maxDelayMs: 1000, jitter: 0 };

  it('doubles from the initial delay up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(attempt, options))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });

  it('stays capped after very many attempts', () => {
    expect(backoffDelay(10_000, options)).toBe(1000);
  });

  it('takes up to the jitter fraction off each delay', () => {
    const jittered = { ...options, jitter: 0.5 };
    expect(backoffDelay(3, jittered, () => 0)).toBe(400);
    expect(backoffDelay(3, jittered, () => 0.999_999)).toBe(200);
    expect(backoffDelay(3, jittered, () => 0.5)).toBe(300);
  });
});
