// Error helpers: did-you-mean hints, safe value quoting and the HTTP error shapes.
import { describe, expect, it } from 'vitest';
import {
  bannedError,
  rateLimitedError,
  rejectUnknownOptions,
  show,
  unavailableError,
} from './errors.js';

describe('rejectUnknownOptions', () => {
  const known = ['windowMs', 'limit', 'banMs', 'onStoreError'];

  it('suggests the closest name for a typo, by spelling or by a shared start', () => {
    expect(() => rejectUnknownOptions('f', { windowms: 1 }, known)).toThrow(
      'Did you mean `windowMs`?',
    );
    expect(() => rejectUnknownOptions('f', { limt: 1 }, known)).toThrow('Did you mean `limit`?');
    expect(() => rejectUnknownOptions('f', { banTime: 1 }, known)).toThrow('Did you mean `banMs`?');
  });

  it('lists the known names when nothing is close', () => {
    expect(() => rejectUnknownOptions('f', { xyzzy: 1 }, known)).toThrow(
      'f: `xyzzy` is not an option. Known options: windowMs, limit, banMs, onStoreError.',
    );
  });
});

describe('show', () => {
  it('quotes values briefly and never prints a long string in full', () => {
    expect(show(-1)).toBe('-1');
    expect(show('x'.repeat(200))).toHaveLength(63);
    expect(show(() => {})).toBe('a function (anonymous)');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(show(circular)).toBe('[object Object]');
  });
});

describe('request-time errors', () => {
  it('carry a status, a stable code, expose: true and the headers a client needs', () => {
    expect(rateLimitedError('p', { 'Retry-After': '5' })).toMatchObject({
      status: 429,
      code: 'rate_limited',
      expose: true,
      headers: { 'Retry-After': '5' },
      details: { policy: 'p' },
    });
    expect(unavailableError('p', 3)).toMatchObject({
      status: 503,
      code: 'rate_limit_unavailable',
      expose: true,
      headers: { 'Retry-After': '3' },
    });
    expect(bannedError('p', 60)).toMatchObject({
      status: 429,
      code: 'client_banned',
      expose: true,
      headers: { 'Retry-After': '60' },
    });
  });
});
