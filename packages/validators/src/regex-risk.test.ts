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
});
