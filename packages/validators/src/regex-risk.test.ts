// Tests for the exponential-backtracking check on schema patterns.
import { describe, expect, it } from 'vitest';
import { regexRisk } from './regex-risk.js';

describe('regexRisk', () => {
  it('refuses the shapes that backtrack exponentially', () => {
    for (const pattern of [
      '^(a+)+$',
      '^(a*)*$',
      '^(?:a+)+$',
      '^(\\w+\\s?)*$',
      '^(.+\\.)+$',
      '^(a+a)+$',
      '^(a|a)*$',
      '^(\\w|_)+$',
      '^([a-z]|[0-9])+$',
      '^((ab)*c*)+$',
      '^(a+){2,}$',
      '^(x)\\1$',
    ]) {
      expect(regexRisk(pattern), pattern).toBeDefined();
    }
  });

  it('accepts common linear patterns', () => {
    for (const pattern of [
      '^[a-zA-Z0-9_]{3,50}$',
      '^(\\d+\\.){3}\\d+$',
      '^(foo|bar)+$',
      '^[a-z]+(-[a-z]+)*$',
      '^(?:[0-9a-f]{2}:){5}[0-9a-f]{2}$',
      '^a*b*c*$',
      '^(ab)?c$',
      '^\\p{L}+$',
      '^[\\]\\\\]+$',
    ]) {
      expect(regexRisk(pattern), pattern).toBeUndefined();
    }
  });

  it('refuses an optional part followed by one that can match the same character (regression: `?` was not counted as repetition)', () => {
    for (const pattern of [
      '^(a?a)+$',
      '^(?:(?:a?)a)+$',
      '^(ab?b?)+$',
      '^(?:[ab]?[a-z])+$',
      '^(?:a{0,2}a){20}$',
      '^(?:x(?:a|a))+$',
    ]) {
      expect(regexRisk(pattern), pattern).toMatch(/repeated group/);
    }
  });

  it('refuses a counted or open repetition of something that can match nothing', () => {
    for (const pattern of ['^(?:a?){30}a{30}$', '^(a?)+$', '^(?:a*b?){2,5}$', '^(?:\\d?){8}$']) {
      expect(regexRisk(pattern), pattern).toMatch(/can match the empty string/);
    }
  });

  it('compares characters with the pattern’s own flags (regression: `i` was ignored)', () => {
    expect(regexRisk('^(?:[a-z]+A)+$', 'i')).toBeDefined();
    expect(regexRisk('^(?:[a-z]+A)+$', '')).toBeUndefined();
    expect(regexRisk('^(?:a|A)+[a-z]?$', 'iu')).toBeDefined();
    expect(regexRisk('^(?:-?.)+A$', 'iu')).toBeDefined();
    expect(regexRisk('^(?:[ab]{2,}[a-z]A)+$', 'iu')).toBeDefined();
    // Under `iu`, the long s and the Kelvin sign fold to s and k.
    expect(regexRisk('^(?:s|\u017f)+$', 'iu')).toBeDefined();
    expect(regexRisk('^(?:k|\u212a)+$', 'iu')).toBeDefined();
    // `.` matches a line break only with `s`.
    expect(regexRisk('^(?:.?\n)+$', 'u')).toBeUndefined();
    expect(regexRisk('^(?:.?\n)+$', 'su')).toBeDefined();
  });

  it('accepts the patterns the README and the example app use', () => {
    for (const pattern of [
      '^[A-Z_]{1,32}$',
      '^[a-z_]{1,32}$',
      '^[a-z][a-z0-9_-]*(:[a-z][a-z0-9_.-]*)+$',
      '^[a-z0-9]+(-[a-z0-9]+)*$',
      '^[a-zA-Z0-9_]+$',
      '^(?:[a-z0-9]+(?:-[a-z0-9]+)*\\.)+[a-z]{2,}$',
      '^(?:\\d{1,3}\\.){3}\\d{1,3}$',
      '^(?:\\w+ )*\\w+$',
      '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$',
      '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$',
    ]) {
      expect(regexRisk(pattern), pattern).toBeUndefined();
      expect(regexRisk(pattern, 'iu'), pattern).toBeUndefined();
    }
  });
});
