import { describe, expect, it } from 'vitest';
import { compiledTrust, createPeerCache, type PeerEntry } from './peer-trust.js';

const entry = (address: string): PeerEntry => ({ address, trust: undefined, trusted: false });

describe('createPeerCache', () => {
  it('asks a compiled trust function once per socket and address, and again when either changes', () => {
    const { askTrust } = createPeerCache(entry);
    const asked: string[] = [];
    const trust = (address: string) => {
      asked.push(address);
      return address === '127.0.0.1';
    };
    const socket = {};
    expect(askTrust(socket, '127.0.0.1', trust, true)).toBe(true);
    expect(askTrust(socket, '127.0.0.1', trust, true)).toBe(true);
    expect(asked).toEqual(['127.0.0.1']);
    // The same socket reporting another address is a new peer.
    expect(askTrust(socket, '203.0.113.9', trust, true)).toBe(false);
    // Another trust function (the app's setting changed) is asked afresh.
    const all = () => true;
    expect(askTrust(socket, '203.0.113.9', all, true)).toBe(true);
    expect(askTrust({}, '127.0.0.1', trust, true)).toBe(true);
    expect(asked).toEqual(['127.0.0.1', '203.0.113.9', '127.0.0.1']);
  });

  it("asks an app's own trust function on every request and keeps nothing for it", () => {
    const { askTrust, peerOf } = createPeerCache(entry);
    let answer = true;
    const trust = () => answer;
    const socket = {};
    expect(askTrust(socket, '10.0.0.1', trust, false)).toBe(true);
    answer = false;
    expect(askTrust(socket, '10.0.0.1', trust, false)).toBe(false);
    expect(peerOf(socket, '10.0.0.1').trust).toBeUndefined();
  });

  it('answers undefined for a trust function that throws, and remembers nothing', () => {
    const { askTrust, peerOf } = createPeerCache(entry);
    const socket = {};
    const throws = () => {
      throw new TypeError('invalid IP address');
    };
    expect(askTrust(socket, 'not an address', throws, true)).toBeUndefined();
    expect(peerOf(socket, 'not an address').trust).toBeUndefined();
  });

  it("keeps the caller's own fields on the entry, reset with a new address", () => {
    const { peerOf } = createPeerCache((address) => ({ ...entry(address), key: '' }));
    const socket = {};
    peerOf(socket, '10.0.0.1').key = 'ip:10.0.0.1';
    expect(peerOf(socket, '10.0.0.1').key).toBe('ip:10.0.0.1');
    expect(peerOf(socket, '10.0.0.2').key).toBe('');
  });
});

describe('compiledTrust', () => {
  it("tells Express's compiled settings from a function of the app's own", () => {
    const app = (setting: unknown) => ({ get: () => setting });
    for (const setting of [false, true, 1, 'loopback', ['10.0.0.0/8']]) {
      expect(compiledTrust(app(setting))).toBe(true);
    }
    expect(compiledTrust(app(() => true))).toBe(false);
  });
});
