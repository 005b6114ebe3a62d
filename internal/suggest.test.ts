// The shared "did you mean": typos, case, ties, truncated names, and no hint for unrelated names.
import { describe, expect, it } from 'vitest';
import { closestName, editDistance } from './suggest.js';

describe('editDistance', () => {
  it('counts insertions, deletions and substitutions, ignoring case', () => {
    expect(editDistance('limit', 'limit')).toBe(0);
    expect(editDistance('windowMS', 'windowMs')).toBe(0);
    expect(editDistance('lmit', 'limit')).toBe(1);
    expect(editDistance('limits', 'limit')).toBe(1);
    expect(editDistance('limot', 'limit')).toBe(1);
    expect(editDistance('requried', 'required')).toBe(2);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('abc', '')).toBe(3);
  });
});

describe('closestName', () => {
  const known = ['windowMs', 'limit', 'banMs', 'onStoreError'];

  it('suggests the known name a typo was meant to be, whatever its case', () => {
    expect(closestName('limt', known)).toBe('limit');
    expect(closestName('windowMS', known)).toBe('windowMs');
    expect(closestName('ONSTOREERROR', known)).toBe('onStoreError');
    expect(closestName('audiance', ['issuer', 'audience'])).toBe('audience');
  });

  it('allows two edits for a short name and a third of the length for a long one', () => {
    expect(closestName('requried', ['required'])).toBe('required');
    expect(closestName('heartbeatTimout', ['heartbeatTimeoutMs'])).toBe('heartbeatTimeoutMs');
    expect(closestName('abcdef', ['uvwdef'])).toBeUndefined();
    expect(closestName('maxlifetimesecs', ['maxLifetimeSeconds'])).toBe('maxLifetimeSeconds');
  });

  it('prefers a known name with the same first letter when two are as close', () => {
    expect(closestName('cape', ['tape', 'cave'])).toBe('cave');
    expect(closestName('cape', ['cave', 'tape'])).toBe('cave');
  });

  it('keeps the first of two equally close names with the same first letter', () => {
    expect(closestName('cat', ['car', 'cab'])).toBe('car');
    expect(closestName('cat', ['cab', 'car'])).toBe('cab');
  });

  it('falls back to the one known name that shares the first 3 or more characters', () => {
    expect(closestName('banTime', known)).toBe('banMs');
    expect(closestName('retry', ['ms', 'retryAfter'])).toBe('retryAfter');
    expect(closestName('corsOrigins', ['cors', 'credentials'])).toBe('cors');
  });

  it('gives no hint when two known names share the longest start', () => {
    expect(closestName('heartbeat', ['heartbeatIntervalMs', 'heartbeatTimeoutMs'])).toBeUndefined();
  });

  it('finds a truncated name with one typo in it, such as tll for ttlMs', () => {
    expect(closestName('tll', ['db', 'ttlMs', 'maxEntries', 'listen', 'listenDb'])).toBe('ttlMs');
    expect(closestName('rtry', ['ms', 'retryAfter'])).toBe('retryAfter');
  });

  it('gives no hint for a truncated name with one typo that starts two known names', () => {
    expect(closestName('tll', ['ttlMs', 'tallMs'])).toBeUndefined();
  });

  it('gives no hint for a name unlike every known one', () => {
    expect(closestName('xyzzy', known)).toBeUndefined();
    expect(closestName('zzzzzzzzzzzz', ['algorithms', 'issuer'])).toBeUndefined();
    expect(closestName('database', ['exposeStack', 'logger'])).toBeUndefined();
    expect(closestName('anything', [])).toBeUndefined();
  });
});
