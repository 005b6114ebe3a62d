// readSecret's shared shape and verdict: variable names, environment maps, weaknesses, messages.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  describeWeakness,
  environmentKeys,
  environmentMessage,
  isSecretName,
  judgeSecret,
  READ_SECRET_OPTIONS,
  SECRET_FIX,
  secretWeakness,
} from './read-secret-core.js';

const context = { name: 'JWT_SECRET', appName: 'iot-app' };

describe('isSecretName', () => {
  it('accepts an environment variable name and refuses one ending in _FILE', () => {
    expect(isSecretName('JWT_SECRET')).toBe(true);
    expect(isSecretName('_pepper2')).toBe(true);
    expect(isSecretName('JWT_SECRET_FILE')).toBe(false);
    expect(isSecretName('2FA_KEY')).toBe(false);
    expect(isSecretName('JWT-SECRET')).toBe(false);
    expect(isSecretName('')).toBe(false);
    expect(isSecretName(42)).toBe(false);
  });
});

describe('environmentKeys', () => {
  it('recognises a map of environment variables passed where the options belong', () => {
    expect(environmentKeys('PEPPER', process.env)).toEqual(['PEPPER']);
    expect(environmentKeys('PEPPER', { PEPPER: 'x', NODE_ENV: 'production' })).toEqual([
      'PEPPER',
      'NODE_ENV',
    ]);
    expect(environmentKeys('PEPPER', { PEPPER_FILE: '/run/secrets/pepper' })).toEqual([
      'PEPPER_FILE',
    ]);
    expect(environmentKeys('PEPPER', { OTHER: 'x' })).toEqual(['OTHER']);
  });

  it('reads options, an empty object and non-objects as options', () => {
    expect(environmentKeys('PEPPER', {})).toBeUndefined();
    expect(environmentKeys('PEPPER', { required: true, minLength: 32 })).toBeUndefined();
    expect(environmentKeys('PEPPER', { env: { PEPPER: 'x' } })).toBeUndefined();
    expect(environmentKeys('PEPPER', { PEPPER: 'x', required: true })).toBeUndefined();
    expect(environmentKeys('PEPPER', { pepper: 'x' })).toBeUndefined();
    expect(environmentKeys('PEPPER', null)).toBeUndefined();
    expect(environmentKeys('PEPPER', ['PEPPER'])).toBeUndefined();
    expect(environmentKeys('PEPPER', 'PEPPER')).toBeUndefined();
  });

  it('names the options shape and the env option in the message, and three variables at most', () => {
    const message = environmentMessage('PEPPER', ['A', 'B', 'C', 'D']);
    expect(message).toContain('(A, B, C, ...)');
    expect(message).toContain("readSecret('PEPPER', { env: variables })");
    expect(message).toContain(`Options: ${READ_SECRET_OPTIONS.join(', ')}.`);
  });
});

describe('secretWeakness', () => {
  it('tells a missing, placeholder, short, low-variety and guessable secret apart', () => {
    expect(secretWeakness(undefined)).toBe('missing');
    expect(secretWeakness('   ')).toBe('missing');
    expect(secretWeakness('change-me')).toBe('placeholder');
    expect(secretWeakness('<your-secret-here-of-forty-characters>')).toBe('placeholder');
    expect(secretWeakness('{{ jwt_secret }}')).toBe('placeholder');
    expect(secretWeakness('Xk3#pQ9z')).toBe('short');
    expect(secretWeakness('ab'.repeat(20))).toBe('low-variety');
    expect(secretWeakness('passwordpasswordpassword12345678', 32, context)).toBe('guessable');
    expect(secretWeakness('iot-app-jwt-secret-for-production-2024', 32, context)).toBe('guessable');
  });

  it('accepts base64url of 32 random bytes', () => {
    for (let i = 0; i < 50; i++) {
      const value = randomBytes(32).toString('base64url');
      expect(secretWeakness(value, 32, context), value).toBeUndefined();
    }
  });

  it('asks 4 bits a character of a minLength under 25', () => {
    expect(secretWeakness(randomBytes(12).toString('base64url'), 16)).toBeUndefined();
    expect(judgeSecret('password12345678', 16, {})).toMatchObject({ weakness: 'guessable' });
  });
});

describe('describeWeakness', () => {
  it('names the kinds of guessable parts and the bar, never the value', () => {
    const value = 'iot-app-jwt-secret-for-production-2024';
    const verdict = judgeSecret(value, 32, context);
    expect(verdict?.weakness).toBe('guessable');
    const message = describeWeakness(
      'JWT_SECRET',
      'guessable',
      value.length,
      32,
      verdict?.estimate,
    );
    expect(message).toMatch(
      /^JWT_SECRET is built from guessable parts \(common words, the app's or the variable's own name, a year, separators between words\): a guesser would need about 2\^\d+ tries, and at least 2\^100 are required\. /,
    );
    expect(message).not.toContain(value);
    expect(message.endsWith(SECRET_FIX)).toBe(true);
  });

  it('says how long a short secret is and how long it must be', () => {
    expect(describeWeakness('PEPPER', 'short', 12, 32, undefined)).toBe(
      `PEPPER is 12 characters; at least 32 are required. ${SECRET_FIX}`,
    );
    expect(describeWeakness('PEPPER', 'missing', 0, 32, undefined)).toBe(
      `PEPPER is empty. Set PEPPER_FILE to a file holding the secret, or PEPPER. ${SECRET_FIX}`,
    );
  });
});
