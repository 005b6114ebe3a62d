// Client addresses become stable counter keys.
import { describe, expect, it } from 'vitest';
import { ipKey } from './ip.js';

describe('ipKey', () => {
  it('keeps an IPv4 address as it is', () => {
    expect(ipKey('203.0.113.7', 56)).toBe('203.0.113.7');
  });

  it('unwraps an IPv4-mapped IPv6 address so one client has one counter', () => {
    expect(ipKey('::ffff:203.0.113.7', 56)).toBe('203.0.113.7');
    expect(ipKey('::FFFF:cb00:7107', 56)).toBe('203.0.113.7');
  });

  it('keys IPv6 clients by their /56 by default, so rotating addresses inside it does not help', () => {
    const a = ipKey('2001:db8:abcd:12ff:1::1', 56);
    const b = ipKey('2001:db8:abcd:1200:ffff:ffff:ffff:ffff', 56);
    expect(a).toBe('2001:db8:abcd:1200::/56');
    expect(b).toBe(a);
    expect(ipKey('2001:db8:abcd:1300::1', 56)).not.toBe(a);
  });

  it('honours another subnet size, down to single addresses at /128', () => {
    expect(ipKey('2001:db8:abcd:12ff:1::1', 64)).toBe('2001:db8:abcd:12ff::/64');
    expect(ipKey('2001:db8::1', 128)).toBe('2001:db8::1/128');
    expect(ipKey('2001:db8:ffff::1', 32)).toBe('2001:db8::/32');
  });

  it('returns undefined for something that is not an address', () => {
    expect(ipKey(undefined, 56)).toBeUndefined();
    expect(ipKey('', 56)).toBeUndefined();
    expect(ipKey('not-an-ip', 56)).toBeUndefined();
  });
});
