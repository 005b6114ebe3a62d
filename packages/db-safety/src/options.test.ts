// Option checks: unknown names get a "did you mean", bad numbers quote the value and the fix.
import { describe, expect, it } from 'vitest';
import { DbConfigError } from './errors.js';
import {
  invalidOption,
  rejectUnknownOptions,
  requireObject,
  showValue,
  timeoutOption,
} from './options.js';

describe('rejectUnknownOptions', () => {
  it('suggests the closest known name for a typo, ignoring case', () => {
    expect(() =>
      rejectUnknownOptions('createPool', { maxlifetimeseconds: 1 }, ['max', 'maxLifetimeSeconds']),
    ).toThrow(
      'createPool: `maxlifetimeseconds` is not an option. Did you mean `maxLifetimeSeconds`?',
    );
  });

  it('lists the known names when nothing is close', () => {
    expect(() => rejectUnknownOptions('x', { zzzzzzzz: 1 }, ['alpha', 'beta'])).toThrow(
      'Known options: alpha, beta.',
    );
  });

  it('accepts known names', () => {
    expect(() => rejectUnknownOptions('x', { alpha: 1 }, ['alpha'])).not.toThrow();
  });
});

describe('timeoutOption', () => {
  it('returns the default for undefined and the value when valid', () => {
    expect(timeoutOption('x', 'waitMs', undefined, 5)).toBe(5);
    expect(timeoutOption('x', 'waitMs', 7, 5)).toBe(7);
  });

  it('refuses zero where zero would mean no limit, and says so', () => {
    let error: unknown;
    try {
      timeoutOption('createPool', 'statementTimeoutMs', 0, 30_000, { example: '30_000' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DbConfigError);
    expect((error as Error).message).toBe(
      'createPool: statementTimeoutMs: 0 is not a valid value. Zero would mean no limit at all, which is refused. Use a whole number of milliseconds from 1 to 2147483647, such as 30_000.',
    );
  });

  it('refuses NaN, Infinity, fractions and strings', () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, 1.5, '100']) {
      expect(() => timeoutOption('x', 'waitMs', value, 5)).toThrow(
        expect.objectContaining({ code: 'ERR_BULWARK_DB_INVALID_TIMEOUT' }),
      );
    }
  });
});

describe('requireObject', () => {
  it('refuses a string, naming an example of the right shape', () => {
    expect(() => requireObject('createPool', 'postgres://db', '{ connectionString }')).toThrow(
      'createPool: options must be an object, got a string. Pass an object, such as { connectionString }.',
    );
  });
});

describe('showValue', () => {
  it('masks the password of a URL, as an object or a string', () => {
    expect(showValue(new URL('postgres://app:S3cretPw@db.internal:5432/app'))).toBe(
      'a URL object (postgres://app:***@db.internal:5432/app)',
    );
    expect(showValue('postgres://app:S3cretPw@db/app?password=Other1&sslmode=verify-full')).toBe(
      '"postgres://app:***@db/app?password=***&sslmode=verify-full"',
    );
  });

  it('describes a secret by its type only', () => {
    expect(showValue('S3cretPw', { secret: true })).toBe('a string');
    expect(showValue({ password: 'S3cretPw' }, { secret: true })).toBe('an object');
    expect(showValue(42, { secret: true })).toBe('a number');
  });

  it('never puts a password into an invalid-option message', () => {
    expect(() =>
      invalidOption('createPool', 'connectionString', new URL('postgres://a:S3cretPw@h/d'), 'x'),
    ).toThrow(expect.objectContaining({ message: expect.not.stringContaining('S3cretPw') }));
  });
});

describe('requireObject, given a URL', () => {
  it('refuses a URL object passed instead of an options object, without showing it', () => {
    expect(() =>
      requireObject('createPool', new URL('postgres://a:S3cretPw@h/d'), '{ connectionString }'),
    ).toThrow(
      'createPool: options must be an object, got a URL object. Pass an object, such as { connectionString }.',
    );
  });
});
