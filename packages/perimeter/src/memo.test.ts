// BoundedMemo: answers as the function it memoizes, computes each kept key once, and stays bounded.
import { describe, expect, it } from 'vitest';
import { BoundedMemo } from './memo.js';

describe('BoundedMemo', () => {
  it('answers what compute answers, computing a kept key once', () => {
    const calls: string[] = [];
    const memo = new BoundedMemo(8, 100, (key) => {
      calls.push(key);
      return key.length % 2 === 0 ? key.toUpperCase() : null;
    });
    for (let round = 0; round < 3; round++) {
      expect(memo.get('ab')).toBe('AB');
      // null is an answer like any other, kept and not worked out again.
      expect(memo.get('abc')).toBeNull();
      expect(memo.get('')).toBe('');
    }
    expect(calls).toEqual(['ab', 'abc', '']);
    expect(memo.size).toBe(3);
  });

  it('never holds more than its limit, and empties itself when full', () => {
    const memo = new BoundedMemo(16, 100, (key) => `<${key}>`);
    for (let i = 0; i < 1000; i++) {
      expect(memo.get(`key${i}`)).toBe(`<key${i}>`);
      expect(memo.size).toBeLessThanOrEqual(16);
    }
    // 1000 keys: emptied at each 16th new key, so 1000 % 16 = 8 are kept now.
    expect(memo.size).toBe(8);
    // Evicted keys are worked out again, to the same answer.
    expect(memo.get('key0')).toBe('<key0>');
  });

  it('works out keys longer than its key length every time, and keeps none of them', () => {
    let calls = 0;
    const memo = new BoundedMemo(16, 10, (key) => {
      calls++;
      return key.length;
    });
    const long = 'x'.repeat(11);
    expect(memo.get(long)).toBe(11);
    expect(memo.get(long)).toBe(11);
    expect(calls).toBe(2);
    expect(memo.size).toBe(0);
    expect(memo.get('x'.repeat(10))).toBe(10);
    expect(memo.size).toBe(1);
  });

  it('keeps keys apart that differ only in case or in spaces', () => {
    const memo = new BoundedMemo(16, 100, (key) => key);
    for (const key of ['Host', 'host', 'HOST', ' host', 'host ', 'host\t']) {
      expect(memo.get(key)).toBe(key);
    }
    expect(memo.size).toBe(6);
  });
});
