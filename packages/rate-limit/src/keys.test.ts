// Counter keys: identities from req.auth, custom functions and the address fallback.
import { createHash } from 'node:crypto';
import type { Request } from 'express';
import { describe, expect, it } from 'vitest';
import { createKeyGenerator, identity, keyType } from './keys.js';

const req = (fields: Record<string, unknown>) =>
  ({ ip: '2001:db8:1:2::9', socket: {}, ...fields }) as unknown as Request;

describe('createKeyGenerator', () => {
  it('keys by address, with IPv6 grouped by subnet', async () => {
    expect(await createKeyGenerator('ip', 48)(req({}))).toBe('ip:2001:db8:1::/48');
  });

  it('reads subject, tenantId and apiKeyId from req.auth', async () => {
    const auth = { subject: 'u-1', tenantId: 7, apiKeyId: 'key_1' };
    expect(await createKeyGenerator('user', 56)(req({ auth }))).toBe('user:u-1');
    expect(await createKeyGenerator('tenant', 56)(req({ auth }))).toBe('tenant:7');
    expect(await createKeyGenerator('api-key', 56)(req({ auth }))).toBe('api-key:key_1');
  });

  it('falls back to the address when req.auth is missing, malformed or empty', async () => {
    for (const auth of [undefined, null, 'alice', { subject: '' }, { subject: { id: 1 } }]) {
      expect(await createKeyGenerator('user', 56)(req({ auth }))).toBe('ip:2001:db8:1::/56');
    }
  });

  it('uses a custom function and falls back when it returns nothing', async () => {
    const generate = createKeyGenerator((r) => r.get?.('x-device') ?? undefined, 56);
    expect(await generate(req({ get: () => 'dev-1' }))).toBe('custom:dev-1');
    expect(await generate(req({ get: () => undefined }))).toBe('ip:2001:db8:1::/56');
  });

  it('keys a request without an address under one shared unknown key', async () => {
    expect(await createKeyGenerator('ip', 56)({ socket: {} } as Request)).toBe('ip:unknown');
  });
});

describe('identity', () => {
  it('hashes values that are long or contain spaces or control characters', () => {
    expect(identity('ok-value')).toBe('ok-value');
    expect(identity('has space')).toMatch(/^h\.[\w-]{32}$/);
    expect(identity('new\nline')).toMatch(/^h\./);
    expect(identity('a'.repeat(129))).toMatch(/^h\./);
    expect(identity(Number.NaN)).toBeUndefined();
  });
});

describe('identity of values it hashes', () => {
  it('gives each value its own hash, whichever value was hashed last', () => {
    const hash = (value: string) =>
      `h.${createHash('sha256').update(value).digest('base64url').slice(0, 32)}`;
    const values = [
      'a'.repeat(129),
      'b'.repeat(129),
      'has space',
      'a'.repeat(129),
      'a'.repeat(130),
    ];
    for (const value of [...values, ...values.reverse()]) {
      expect(identity(value)).toBe(hash(value));
    }
    expect(identity('short')).toBe('short');
    expect(identity('has space')).toBe(hash('has space'));
  });
});

describe('keyType', () => {
  it('is the text before the first colon', () => {
    expect(keyType('ip:2001:db8::/56')).toBe('ip');
    expect(keyType('api-key:k')).toBe('api-key');
    expect(keyType('weird')).toBe('custom');
  });
});
