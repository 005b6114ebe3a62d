// Which trust proxy settings let a client choose its own address.
import express from 'express';
import { describe, expect, it } from 'vitest';
import {
  createTrustProxyCheck,
  ignoredForwarding,
  MAX_TRUSTED_HOPS,
  permissiveTrustProxy,
} from './proxy.js';

/** The raw setting and the trust function Express compiles from it. */
function compiled(setting: unknown): [unknown, unknown] {
  const app = express();
  app.set('trust proxy', setting);
  return [app.get('trust proxy'), app.get('trust proxy fn')];
}

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

describe('permissiveTrustProxy with the compiled trust function', () => {
  it('flags netmask and IPv4-mapped ranges as wide as /1, which a prefix check alone missed', () => {
    expect(permissiveTrustProxy('128.0.0.0/128.0.0.0')).toBe('"128.0.0.0/128.0.0.0"');
    expect(permissiveTrustProxy('::ffff:128.0.0.0/97')).toBe('"::ffff:128.0.0.0/97"');
    for (const setting of [
      '0.0.0.0/128.0.0.0, 128.0.0.0/128.0.0.0',
      '::ffff:0.0.0.0/97, ::ffff:128.0.0.0/97',
      '128.0.0.0/128.0.0.0',
      ['8.8.8.0/24'],
    ]) {
      expect(permissiveTrustProxy(...compiled(setting))).toMatch(/trusts the public address/);
    }
  });

  it('refuses a function that trusts a public address, at the first hop or further out', () => {
    expect(permissiveTrustProxy(...compiled(() => true))).toBe(
      'a function (anonymous), which trusts the public address 8.8.8.8',
    );
    const firstHopOnly = (address: string, hop: number) => hop > 0 || address === '10.0.0.2';
    expect(permissiveTrustProxy(...compiled(firstHopOnly))).toMatch(/8\.8\.8\.8 at hop 1$/);
    const byPosition = (_address: string, hop: number) => hop < 1;
    expect(permissiveTrustProxy(...compiled(byPosition))).toMatch(/trusts the public address/);
  });

  it(`accepts hop counts up to ${MAX_TRUSTED_HOPS}, proxy addresses and functions that trust only them`, () => {
    for (const setting of [
      1,
      2,
      MAX_TRUSTED_HOPS,
      false,
      'loopback, linklocal, uniquelocal',
      ['10.0.0.0/8', 'fc00::/7'],
      '173.245.48.0/20, 2606:4700::/32',
      (address: string) => address === '10.0.0.2',
      () => {
        throw new Error('not an address of ours');
      },
    ]) {
      expect(permissiveTrustProxy(...compiled(setting)), String(setting)).toBeUndefined();
    }
  });

  it(`refuses a hop count above ${MAX_TRUSTED_HOPS}, which trusts entries the client wrote`, () => {
    expect(permissiveTrustProxy(...compiled(100))).toBe('a hop count of 100 (more than 5)');
    expect(permissiveTrustProxy(...compiled(MAX_TRUSTED_HOPS + 1))).toBeDefined();
    expect(permissiveTrustProxy(Number.POSITIVE_INFINITY)).toBeDefined();
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

describe('ignoredForwarding', () => {
  const req = (headers: Record<string, string>, remoteAddress = '::ffff:10.0.0.2') => ({
    headers,
    socket: { remoteAddress },
  });

  it('names the headers and the peer, IPv4 unwrapped, when the peer is not trusted', () => {
    const [, untrusted] = compiled(false);
    expect(
      ignoredForwarding(req({ 'x-forwarded-for': '198.51.100.1', 'x-real-ip': 'x' }), untrusted),
    ).toEqual({ peer: '10.0.0.2', headers: ['X-Forwarded-For', 'X-Real-IP'], peerTrusted: false });
    const throwing = () => {
      throw new Error('not ours');
    };
    expect(ignoredForwarding(req({ forwarded: 'for=x' }, '::1'), throwing)).toEqual({
      peer: '::1',
      headers: ['Forwarded'],
      peerTrusted: false,
    });
  });

  it('finds nothing without forwarding headers, or when a trusted peer sends X-Forwarded-For', () => {
    const [, trusted] = compiled('10.0.0.0/8');
    expect(ignoredForwarding(req({}), trusted)).toBeUndefined();
    expect(
      ignoredForwarding(req({ 'x-forwarded-for': '198.51.100.1', forwarded: 'for=x' }), trusted),
    ).toBeUndefined();
    expect(ignoredForwarding(req({ 'x-real-ip': '198.51.100.1' }), trusted)).toEqual({
      peer: '10.0.0.2',
      headers: ['X-Real-IP'],
      peerTrusted: true,
    });
  });
});
