// judgeTrustProxy(): a trust proxy setting is judged by what Express's compiled function trusts.
import express from 'express';
import { describe, expect, it } from 'vitest';
import { compileTrust, judgeTrustProxy } from './trust-proxy.js';

const peers = [
  '127.0.0.1',
  '10.1.2.3',
  '8.8.8.8',
  '::1',
  'fd00::5',
  '2001:4860::1',
  '::ffff:10.0.0.1',
];

describe('judgeTrustProxy', () => {
  it('compiles every kind of value to the function Express builds from it', () => {
    for (const value of [
      false,
      true,
      0,
      2,
      'loopback',
      'loopback, 10.0.0.0/8',
      '10.0.0.0/255.0.0.0',
      ['uniquelocal', '::ffff:10.0.0.0/104'],
    ]) {
      const app = express();
      app.set('trust proxy', value);
      const ours = compileTrust(value);
      const expressFn = app.get('trust proxy fn') as (addr: string, hop: number) => boolean;
      for (const peer of peers) {
        for (const hop of [0, 1, 3]) {
          expect(ours(peer, hop), `${String(value)} ${peer} ${hop}`).toBe(expressFn(peer, hop));
        }
      }
    }
  });

  it('judges ranges that cover the internet as trusting everyone, like true', () => {
    expect(judgeTrustProxy(true).kind).toBe('all');
    expect(judgeTrustProxy('0.0.0.0/1,128.0.0.0/1')).toEqual({
      kind: 'all',
      why: 'is "0.0.0.0/1,128.0.0.0/1" and trusts the public address 8.8.8.8 as a proxy',
    });
    expect(judgeTrustProxy(['::ffff:0.0.0.0/97', '::ffff:128.0.0.0/97']).kind).toBe('all');
    expect(judgeTrustProxy(['::/1', '8000::/1']).kind).toBe('all');
    expect(judgeTrustProxy('loopback, linklocal, uniquelocal').kind).toBe('safe');
  });

  it('allows a few hops but not a count no chain of proxies reaches', () => {
    expect(judgeTrustProxy(1).kind).toBe('safe');
    expect(judgeTrustProxy(5).kind).toBe('safe');
    expect(judgeTrustProxy(6).kind).toBe('all');
    expect(judgeTrustProxy(100).kind).toBe('all');
  });

  it('tries a function against public addresses and otherwise leaves it unjudged', () => {
    expect(judgeTrustProxy(() => true).kind).toBe('all');
    expect(judgeTrustProxy((addr: string) => addr === '10.0.0.5').kind).toBe('function');
    const throws = () => {
      throw new Error('boom');
    };
    expect(judgeTrustProxy(throws).kind).toBe('function');
  });

  it('judges as rate-limit does: a range wider than a /8 or /7, or a function trusting a public address at a later hop, trusts everyone', () => {
    expect(judgeTrustProxy('10.0.0.0/8, 1.0.0.0/7')).toEqual({
      kind: 'all',
      why: 'is "10.0.0.0/8, 1.0.0.0/7", whose range 1.0.0.0/7 is wider than any private network (10.0.0.0/8, fc00::/7) and takes in public addresses',
    });
    expect(judgeTrustProxy(['::ffff:1.0.0.0/103']).kind).toBe('all');
    expect(judgeTrustProxy('fc00::/6').kind).toBe('all');
    expect(judgeTrustProxy(['10.0.0.0/8', '172.16.0.0/12', 'fc00::/7']).kind).toBe('safe');
    const laterHop = (addr: string, hop: number) => addr === '10.0.0.2' || hop >= 2;
    expect(judgeTrustProxy(laterHop)).toEqual({
      kind: 'all',
      why: 'is a function that trusts the public address 8.8.8.8 as a proxy at hop 2',
    });
  });

  it("judges Express's compiled function when one is given", () => {
    const app = express();
    app.set('trust proxy', '0.0.0.0/1,128.0.0.0/1');
    expect(judgeTrustProxy(app.get('trust proxy'), app.get('trust proxy fn')).kind).toBe('all');
  });
});
