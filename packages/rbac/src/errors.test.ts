// Configuration errors name the fix and suggest the right option; HTTP errors carry the documented shape.
import { describe, expect, it } from 'vitest';
import { checkOptionNames, forbidden, RbacConfigError, show, unauthorized } from './errors.js';

describe('checkOptionNames', () => {
  const known = ['algorithms', 'issuer', 'audience', 'clockToleranceSec'];

  it('suggests the closest option for a typo', () => {
    expect(() =>
      checkOptionNames('authenticate jwt', { issuer: 'x', audiance: 'y' }, known),
    ).toThrow('authenticate jwt: unknown option `audiance`. Did you mean `audience`?');
    expect(() => checkOptionNames('w', { clocktolerancesec: 1 }, known)).toThrow(
      /`clockToleranceSec`/,
    );
  });

  it('lists the known options when nothing is close', () => {
    try {
      checkOptionNames('w', { zzzzzzzzzzzz: 1 }, known);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(RbacConfigError);
      expect((err as RbacConfigError).code).toBe('ERR_BULWARK_RBAC_UNKNOWN_OPTION');
      expect((err as Error).message).toContain('Known options: algorithms, issuer');
    }
  });
});

describe('show', () => {
  it('quotes short values and shortens long ones', () => {
    expect(show('abc')).toBe('"abc"');
    expect(show('x'.repeat(100))).toHaveLength(62);
    expect(show(() => 1)).toBe('a function');
    expect(show({ a: 1, b: 2 })).toBe('an object with keys a, b');
  });
});

describe('HTTP errors', () => {
  it('builds the 401 with the challenge and the one generic message', () => {
    const err = unauthorized('Bearer error="invalid_token"');
    expect(err).toMatchObject({ status: 401, code: 'unauthorized', expose: true });
    expect(err.headers).toEqual({ 'WWW-Authenticate': 'Bearer error="invalid_token"' });
  });

  it('builds the 403 with insufficient_scope, and details only when asked', () => {
    expect(forbidden()).toMatchObject({ status: 403, code: 'forbidden' });
    expect((forbidden() as { details?: unknown }).details).toBeUndefined();
    expect(forbidden(['devices:write'])).toMatchObject({ details: { missing: ['devices:write'] } });
  });
});
