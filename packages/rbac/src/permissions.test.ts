// Permission matching, and the 401-vs-403 behaviour of the guards over real HTTP.
import { createHmac } from 'node:crypto';
import type { Listening } from '@bulwark/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate } from './authenticate.js';
import { RbacConfigError } from './errors.js';
import {
  hasPermission,
  isGrant,
  permits,
  requireAnyPermission,
  requireCustomer,
  requireOperator,
  requirePermission,
} from './permissions.js';
import { appWith, bodyOf, capture, serve } from './test-support.js';

const SECRET = Buffer.alloc(32, 1);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
function token(claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'HS256' })}.${b64({ iss: 'test', aud: 'api', exp: now + 60, ...claims })}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}
const jwt = { algorithms: ['HS256' as const], secret: SECRET, issuer: 'test', audience: 'api' };

describe('permits', () => {
  it('matches exact grants, resource wildcards and the global wildcard', () => {
    expect(permits(['devices:write'], 'devices:write')).toBe(true);
    expect(permits(['devices:read'], 'devices:write')).toBe(false);
    expect(permits(['devices:*'], 'devices:write')).toBe(true);
    expect(permits(['devices:*'], 'devices:firmware:write')).toBe(true);
    expect(permits(['devices:firmware:*'], 'devices:write')).toBe(false);
    expect(permits(['*'], 'anything:at:all')).toBe(true);
    expect(permits(['devices'], 'devices:write')).toBe(false);
    expect(permits(['devices:w*'], 'devices:write')).toBe(false);
    expect(permits([], 'devices:write')).toBe(false);
  });

  it('tells grants from malformed strings', () => {
    for (const ok of ['*', 'devices:*', 'devices:write', 'a:b:c', 'api_keys:read'])
      expect(isGrant(ok)).toBe(true);
    for (const bad of [
      '',
      'Devices:write',
      'devices:w*',
      '*:write',
      'devices::write',
      ' devices:read',
      42,
    ])
      expect(isGrant(bad)).toBe(false);
  });

  it('reports no permission when permissions are unknown', () => {
    expect(hasPermission(undefined, 'devices:read')).toBe(false);
    expect(
      hasPermission(
        { subject: 's', tenantId: 't', scope: 'customer', via: 'jwt', claims: {} },
        'devices:read',
      ),
    ).toBe(false);
  });
});

describe('guards', () => {
  let server: Listening;
  let exposing: Listening;
  beforeAll(async () => {
    const app = appWith(authenticate({ jwt }), requirePermission('devices:write'));
    const auth = authenticate({ jwt });
    app.get('/any', auth, requireAnyPermission('reports:read', 'audit:read'), (_req, res) =>
      res.json({ ok: true }),
    );
    app.get('/customer', auth, requireCustomer(), (_req, res) => res.json({ ok: true }));
    app.get('/operator', auth, requireOperator(), (_req, res) => res.json({ ok: true }));
    app.get('/unguarded-permission', requirePermission('devices:read'), (_req, res) =>
      res.json({ ok: true }),
    );
    server = await serve(app);
    exposing = await serve(
      appWith(
        authenticate({ jwt, exposeMissingPermissions: true }),
        requirePermission('devices:write', 'devices:read'),
      ),
    );
  });
  afterAll(async () => {
    await server?.close();
    await exposing?.close();
  });

  const get = (base: Listening, path: string, claims?: Record<string, unknown>) =>
    fetch(
      `${base.url}${path}`,
      claims ? { headers: { authorization: `Bearer ${token(claims)}` } } : {},
    );

  it('answers 401 without credentials and 403 without the permission', async () => {
    const anonymous = await get(server, '/thing');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    const denied = await get(server, '/thing', {
      sub: 'u',
      tenant_id: 't',
      permissions: ['devices:read'],
    });
    expect(denied.status).toBe(403);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope"');
    const body = await denied.json();
    expect(body).toEqual({
      status: 403,
      code: 'forbidden',
      detail: 'You do not have permission to perform this action.',
    });
    expect(
      (await get(server, '/thing', { sub: 'u', tenant_id: 't', permissions: ['devices:*'] }))
        .status,
    ).toBe(200);
  });

  it('answers 401 when a guard runs without any authenticator before it', async () => {
    expect((await get(server, '/unguarded-permission')).status).toBe(401);
  });

  it('denies, and warns, when permissions were never resolved', async () => {
    const denied = capture('denied');
    try {
      expect((await get(server, '/thing', { sub: 'u', tenant_id: 't' })).status).toBe(403);
      expect(denied.messages.at(-1)).toMatchObject({
        reason: 'permission',
        missing: ['devices:write'],
      });
    } finally {
      denied.stop();
    }
  });

  it('lets requireAnyPermission through with one of the permissions', async () => {
    expect(
      (await get(server, '/any', { sub: 'u', tenant_id: 't', permissions: ['audit:read'] })).status,
    ).toBe(200);
    expect(
      (await get(server, '/any', { sub: 'u', tenant_id: 't', permissions: ['devices:read'] }))
        .status,
    ).toBe(403);
  });

  it('separates customers from operators', async () => {
    expect((await get(server, '/customer', { sub: 'u', tenant_id: 't' })).status).toBe(200);
    expect((await get(server, '/operator', { sub: 'u', tenant_id: 't' })).status).toBe(403);
    expect((await get(server, '/operator', { sub: 'op', scope_type: 'operator' })).status).toBe(
      200,
    );
    expect((await get(server, '/customer', { sub: 'op', scope_type: 'operator' })).status).toBe(
      403,
    );
    expect((await get(server, '/customer')).status).toBe(401);
    expect((await get(server, '/operator', { sub: 'op', scope_type: 'root' })).status).toBe(401);
  });

  it('names the missing permissions in the body only when configured to', async () => {
    const response = await get(exposing, '/thing', {
      sub: 'u',
      tenant_id: 't',
      permissions: ['devices:read'],
    });
    expect(response.status).toBe(403);
    expect((await bodyOf(response)).details).toEqual({ missing: ['devices:write'] });
  });

  it('refuses invalid or wildcard requirements at construction', () => {
    expect(() => requirePermission()).toThrow(RbacConfigError);
    expect(() => requirePermission('devices:*')).toThrow(/wildcards are for grants/);
    expect(() => requireAnyPermission('Devices Write')).toThrow(RbacConfigError);
    expect(() => (requireOperator as (x: unknown) => unknown)({})).toThrow(/takes no arguments/);
  });
});
