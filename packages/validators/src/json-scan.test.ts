// Tests for the pre-parse JSON scan: depth, keys, array lengths, dangerous and duplicate keys.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanJson } from './json-scan.js';

const limits = { maxDepth: 4, maxKeys: 5, maxArrayLength: 3 };

describe('scanJson', () => {
  it('passes documents within the limits', () => {
    expect(scanJson('{"a":{"b":[1,2,{"c":"}]\\"{"}]}}', limits)).toBeUndefined();
    expect(scanJson('[]', limits)).toBeUndefined();
    expect(scanJson('{"a":"[[[[[[[[["}', limits)).toBeUndefined();
  });

  it('measures depth, keys and array length', () => {
    expect(scanJson('[[[[[]]]]]', limits)).toBe('too_deep');
    expect(scanJson('{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}', limits)).toBe('too_many_keys');
    expect(scanJson('[1,2,3,4]', limits)).toBe('array_too_long');
    expect(scanJson('[[1,2,3],[1,2,3],[1,2,3]]', limits)).toBeUndefined();
  });

  it('finds __proto__ and constructor.prototype however they are escaped', () => {
    expect(scanJson('{"__proto__":{"admin":true}}', limits)).toBe('forbidden_key');
    expect(scanJson('{"\\u005f_proto__":{}}', limits)).toBe('forbidden_key');
    expect(scanJson('{"constructor":{"prototype":{"admin":true}}}', limits)).toBe('forbidden_key');
    expect(scanJson('{"constructor":"x","prototype":1}', limits)).toBeUndefined();
    expect(scanJson('{"a":"__proto__"}', limits)).toBeUndefined();
  });

  it('finds duplicate keys, including escaped ones', () => {
    expect(scanJson('{"role":"user","role":"admin"}', limits)).toBe('duplicate_key');
    expect(scanJson('{"role":"user","r\\u006fle":"admin"}', limits)).toBe('duplicate_key');
    expect(scanJson('[{"a":1},{"a":1}]', limits)).toBeUndefined();
  });

  it('finds numbers too large for a double, which JSON.parse turns into Infinity', () => {
    expect(scanJson('{"limit":1e400}', limits)).toBe('number_too_large');
    expect(scanJson('[-1.5E+309]', limits)).toBe('number_too_large');
    expect(scanJson(`[${'9'.repeat(400)}]`, limits)).toBe('number_too_large');
    expect(scanJson('[1e308,-1.7976931348623157e308,1e-400]', limits)).toBeUndefined();
    expect(scanJson('{"a":0.5,"b":-0,"c":[12]}', limits)).toBeUndefined();
    expect(scanJson('{"e":"1e400","true":true,"false":false}', limits)).toBeUndefined();
  });

  it('agrees with JSON.parse about depth and array length on any JSON value (property)', () => {
    const depthOf = (v: unknown): number =>
      typeof v === 'object' && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0;
    const longest = (v: unknown): number =>
      typeof v !== 'object' || v === null
        ? 0
        : Math.max(Array.isArray(v) ? v.length : 0, ...Object.values(v).map(longest));
    const big = { maxDepth: 1000, maxKeys: 100_000, maxArrayLength: 100_000 };
    fc.assert(
      fc.property(fc.json(), (text) => {
        const value = JSON.parse(text) as unknown;
        const problem = scanJson(text, { ...big, maxDepth: 3, maxArrayLength: 4 });
        if (problem === 'forbidden_key') {
          expect(text).toMatch(/__proto__|prototype|\\u/);
          return;
        }
        const expected =
          depthOf(value) > 3 ? 'too_deep' : longest(value) > 4 ? 'array_too_long' : undefined;
        if (expected === undefined) expect(problem).toBeUndefined();
        else expect(['too_deep', 'array_too_long']).toContain(problem);
      }),
    );
  });
});
