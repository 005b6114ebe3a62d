// Which trust proxy settings let a client choose its own address.
import { describe, expect, it } from 'vitest';
import { createTrustProxyCheck, permissiveTrustProxy } from './proxy.js';

describe('permissiveTrustProxy', () => {
  it('flags true and ranges that take in the whole internet', () => {
    expect(permissiveTrustProxy(true)).toBe('true');
    expect(permissiveTrustProxy(['10.0.0.0/8', '0.0.0.0/1'])).toBe('"0.0.0.0/1"');
    expect(permissiveTrustProxy('loopback, ::/1')).toBe('"::/1"');
  });

  it('accepts hop counts, named ranges and private ranges', () => {
    for (const setting of [
      false,
      undefined,
      1,
      2,
      'loopback',
      'loopback, 10.0.0.0/8',
      ['172.16.0.0/12', 'fc00::/7'],
      '203.0.113.7',
    ]) {
      expect(permissiveTrustProxy(setting)).toBeUndefined();
    }
  });
});

describe('createTrustProxyCheck', () => {
  const app = (value: unknown) => ({
    get: (name: string) => (name === 'trust proxy' ? value : undefined),
  });

  it('returns a configuration error in production', () => {
    const check = createTrustProxyCheck({ production: true, logger: undefined });
    expect(check(app(true))?.code).toBe('ERR_BULWARK_RATE_LIMIT_TRUST_PROXY');
    expect(check(app(1))).toBeUndefined();
  });

  it('warns once per app outside production and lets requests through', () => {
    const warnings: unknown[] = [];
    const check = createTrustProxyCheck({
      production: false,
      logger: { warn: (m, meta) => warnings.push([m, meta]) },
    });
    const permissive = app(true);
    expect(check(permissive)).toBeUndefined();
    expect(check(permissive)).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toEqual([
      expect.stringContaining("app.set('trust proxy', 1)"),
      { code: 'ERR_BULWARK_RATE_LIMIT_TRUST_PROXY' },
    ]);
  });
});
