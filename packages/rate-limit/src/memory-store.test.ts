// The bounded memory store counts like express-rate-limit's and never exceeds its key cap.
import { describe, expect, it } from 'vitest';
import { RateLimitConfigError } from './errors.js';
import { BoundedMemoryStore } from './memory-store.js';

describe('BoundedMemoryStore', () => {
  it('counts hits per key within a window and reports when the window resets', async () => {
    const store = new BoundedMemoryStore();
    store.init({ windowMs: 60_000 });
    const first = await store.increment('a');
    const second = await store.increment('a');
    await store.increment('b');
    expect(first.totalHits).toBe(1);
    expect(second.totalHits).toBe(2);
    expect(second.resetTime!.getTime()).toBe(first.resetTime!.getTime());
    expect((await store.get('b'))?.totalHits).toBe(1);
    await store.decrement('a');
    expect((await store.get('a'))?.totalHits).toBe(1);
    await store.resetKey('a');
    expect(await store.get('a')).toBeUndefined();
  });

  it('starts a fresh window once the old one has passed', async () => {
    const store = new BoundedMemoryStore();
    store.init({ windowMs: 1 });
    await store.increment('a');
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await store.get('a')).toBeUndefined();
    expect((await store.increment('a')).totalHits).toBe(1);
  });

  it('stays under its key cap with 100k distinct keys', async () => {
    const store = new BoundedMemoryStore({ maxKeys: 10_000 });
    store.init({ windowMs: 60_000 });
    for (let i = 0; i < 100_000; i++)
      await store.increment(`ip:10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    expect(store.size).toBe(10_000);
    // The most recent clients are the ones still counted.
    expect((await store.get('ip:10.1.134.159'))?.totalHits).toBe(1);
    expect(await store.get('ip:10.0.0.0')).toBeUndefined();
  });

  it('refuses a key cap that is not a positive integer', () => {
    expect(() => new BoundedMemoryStore({ maxKeys: 0 })).toThrow(RateLimitConfigError);
    expect(() => new BoundedMemoryStore({ maxKeys: Number.POSITIVE_INFINITY })).toThrow(
      /ERR_BULWARK_RATE_LIMIT_MAX_KEYS|not a valid key cap/,
    );
  });
});
