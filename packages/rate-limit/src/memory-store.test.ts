// The bounded memory store counts like express-rate-limit's and never exceeds its key cap.
import { describe, expect, it } from 'vitest';
import { RateLimitConfigError } from './errors.js';
import { BoundedMemoryStore, countHit } from './memory-store.js';

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

  it('drops the least recently seen key, whether the key seen last is counted again or not', async () => {
    const store = new BoundedMemoryStore({ maxKeys: 2 });
    store.init({ windowMs: 60_000 });
    await store.increment('a');
    await store.increment('b');
    await store.increment('a');
    await store.increment('a');
    await store.increment('c');
    expect(await store.get('b')).toBeUndefined();
    expect((await store.get('a'))?.totalHits).toBe(3);
    await store.increment('d');
    // get('a') made a the most recent: c goes.
    expect(await store.get('c')).toBeUndefined();
    expect((await store.get('d'))?.totalHits).toBe(1);
  });

  it('keeps the order of eviction of a plain LRU cache over 5000 random operations', async () => {
    let state = 7;
    const next = () => {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      return state / 2 ** 31;
    };
    const store = new BoundedMemoryStore({ maxKeys: 3 });
    store.init({ windowMs: 60_000 });
    // The model: keys from least to most recently seen, with their counts.
    const model: [string, number][] = [];
    const touch = (key: string) => {
      const at = model.findIndex(([k]) => k === key);
      if (at === -1) return undefined;
      const [entry] = model.splice(at, 1);
      model.push(entry!);
      return entry!;
    };
    for (let i = 0; i < 5000; i++) {
      const key = 'abcde'[Math.floor(next() * 5)]!;
      const op = next();
      if (op < 0.5) {
        const entry = touch(key);
        if (entry) entry[1]++;
        else {
          model.push([key, 1]);
          if (model.length > 3) model.shift();
        }
        expect((await store.increment(key)).totalHits).toBe(touch(key)![1]);
      } else if (op < 0.75) {
        expect((await store.get(key))?.totalHits).toBe(touch(key)?.[1]);
      } else if (op < 0.9) {
        const entry = touch(key);
        if (entry && entry[1] > 0) entry[1]--;
        await store.decrement(key);
      } else if (op < 0.98) {
        const at = model.findIndex(([k]) => k === key);
        if (at !== -1) model.splice(at, 1);
        await store.resetKey(key);
      } else {
        model.length = 0;
        await store.resetAll();
      }
      expect(store.size).toBe(model.length);
    }
    for (const [key, hits] of model) expect((await store.get(key))?.totalHits).toBe(hits);
  });

  it('starts a fresh window for the key counted last once its window has passed', () => {
    const store = new BoundedMemoryStore();
    store.init({ windowMs: 1000 });
    const first = store[countHit]('a', 10_000);
    expect(store[countHit]('a', 10_999).hits).toBe(2);
    const fresh = store[countHit]('a', 11_000);
    expect(fresh.hits).toBe(1);
    expect(fresh.resetAt).toBe(12_000);
    expect(fresh).not.toBe(first);
    expect(store[countHit]('a', 11_001).hits).toBe(2);
  });

  it('forgets the key counted last when it is reset, alone or with every key', async () => {
    const store = new BoundedMemoryStore();
    store.init({ windowMs: 60_000 });
    await store.increment('a');
    await store.increment('a');
    await store.resetKey('a');
    expect((await store.increment('a')).totalHits).toBe(1);
    await store.resetAll();
    expect(await store.get('a')).toBeUndefined();
    expect((await store.increment('a')).totalHits).toBe(1);
  });
});
