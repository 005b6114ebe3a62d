// Permission matching, and the 401-vs-403 behaviour of the guards over real HTTP.
import { createHmac } from 'node:crypto';
import type { Listening } from '@bulwark/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate, type PermissionSource } from './authenticate.js';
import { RbacConfigError } from './errors.js';
import {
  hasPermission,
  isGrant,
  loadPermissions,
  permits,
  requireAnyPermission,
  requireCustomer,
  requireOperator,
  requirePermission,
} from './permissions.js';
import { appWith, bodyOf, capture, renderErrors, serve } from './test-support.js';

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

  it('answers from the grants as they are now after a mutable list is changed in place', () => {
    const grants = ['devices:read', 'devices:write'];
    expect(permits(grants, 'devices:write')).toBe(true);
    grants.splice(1, 1);
    expect(permits(grants, 'devices:write')).toBe(false);
    grants.push('devices:*');
    expect(permits(grants, 'devices:firmware:write')).toBe(true);
    const auth = {
      subject: 's',
      tenantId: 't',
      scope: 'customer' as const,
      via: 'jwt' as const,
      claims: {},
      permissions: grants,
    };
    grants.length = 0;
    expect(hasPermission(auth, 'devices:read')).toBe(false);
    expect(permits([null, 42, {}] as unknown as string[], 'devices:read')).toBe(false);
    // Frozen lists cannot change, so they are indexed once and keep the same answers.
    const frozen = Object.freeze(['alerts:*', 'devices:read']);
    expect(permits(frozen, 'alerts:rules:write')).toBe(true);
    expect(permits(frozen, 'devices:write')).toBe(false);
    expect(permits(frozen, 'devices:read')).toBe(true);
  });

  it('answers each list from its own grants, whichever list was checked last', () => {
    const viewer = Object.freeze(['devices:read']);
    const admin = Object.freeze(['*']);
    const alerts = Object.freeze(['alerts:*']);
    const live = ['devices:read'];
    const sameAsViewer = Object.freeze(['devices:read']);
    const checks: [readonly string[], string, boolean][] = [
      [viewer, 'devices:read', true],
      [viewer, 'devices:write', false],
      [admin, 'devices:write', true],
      [viewer, 'devices:write', false],
      [alerts, 'alerts:rules:write', true],
      [alerts, 'devices:read', false],
      [live, 'devices:read', true],
      [viewer, 'devices:read', true],
      [sameAsViewer, 'devices:write', false],
      [admin, 'anything:at-all', true],
    ];
    for (const [grants, permission, allowed] of checks) {
      expect(permits(grants, permission), `${grants.join()} ${permission}`).toBe(allowed);
    }
    // A mutable list checked after a frozen one is still read as it is now, every time.
    expect(permits(viewer, 'devices:read')).toBe(true);
    live.length = 0;
    expect(permits(live, 'devices:read')).toBe(false);
    live.push('devices:*');
    expect(permits(live, 'devices:write')).toBe(true);
    // Frozen after a change: indexed from what it holds once frozen.
    Object.freeze(live);
    expect(permits(live, 'devices:read')).toBe(true);
    expect(permits(live, 'alerts:read')).toBe(false);
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

describe('custom permission sources and loadPermissions', () => {
  const byUser = new Map<string, string[]>();
  let failing = false;
  const source: PermissionSource = {
    permissionsFor: async (subject) => {
      if (failing) throw new Error('connection refused');
      // A live array, as a hand-written source might hand out.
      return byUser.get(subject) ?? [];
    },
  };
  let server: Listening;
  beforeAll(async () => {
    const app = appWith(
      authenticate({ jwt, permissions: source }),
      requirePermission('devices:write'),
    );
    const auth = authenticate({ jwt, permissions: source });
    app.get('/inline', auth, async (req, res, next) => {
      try {
        const before = hasPermission(req.auth, 'devices:read');
        const grants = await loadPermissions(req);
        res.json({ before, after: hasPermission(req.auth, 'devices:read'), grants });
      } catch (err) {
        next(err);
      }
    });
    app.use(renderErrors);
    server = await serve(app);
  });
  afterAll(() => server?.close());

  const get = (path: string, sub = 'alice') =>
    fetch(`${server.url}${path}`, {
      headers: { authorization: `Bearer ${token({ sub, tenant_id: 'acme' })}` },
    });

  it('honours a revoke made in place in the live array of a custom permission source', async () => {
    byUser.set('alice', ['devices:read', 'devices:write']);
    expect((await get('/thing')).status).toBe(200);
    byUser.get('alice')!.splice(1, 1);
    expect((await get('/thing')).status).toBe(403);
    byUser.get('alice')!.push('devices:*');
    expect((await get('/thing')).status).toBe(200);
  });

  it('lets a handler without a guard load grants for hasPermission, which fails closed before', async () => {
    byUser.set('bob', ['devices:read']);
    expect(await bodyOf(await get('/inline', 'bob'))).toEqual({
      before: false,
      after: true,
      grants: ['devices:read'],
    });
    expect(await bodyOf(await get('/inline', 'nobody'))).toMatchObject({
      after: false,
      grants: [],
    });
    failing = true;
    try {
      const unavailable = await get('/inline', 'bob');
      expect(unavailable.status).toBe(503);
      expect(await bodyOf(unavailable)).toMatchObject({ code: 'permissions_unavailable' });
    } finally {
      failing = false;
    }
  });

  it("asks a permission source for an operator's grants for every tenant, never for the tenant the token names", async () => {
    const asked: (string | null)[] = [];
    const byTenant: PermissionSource = {
      permissionsFor: async (_subject, tenantId) => {
        asked.push(tenantId);
        return tenantId === 'acme' ? ['*'] : [];
      },
    };
    const server = await serve(
      appWith(authenticate({ jwt, permissions: byTenant }), requirePermission('system:read')),
    );
    const as = (claims: Record<string, unknown>) =>
      fetch(`${server.url}/thing`, { headers: { authorization: `Bearer ${token(claims)}` } });
    try {
      const operator = await as({ sub: 'ada', tenant_id: 'acme', scope_type: 'operator' });
      expect(operator.status).toBe(403);
      expect(asked).toEqual([null]);
      const customer = await as({ sub: 'ada', tenant_id: 'acme' });
      expect(customer.status).toBe(200);
      expect(asked).toEqual([null, 'acme']);
    } finally {
      await server.close();
    }
  });

  it('resolves null from loadPermissions for a request that is not authenticated', async () => {
    expect(await loadPermissions({} as Parameters<typeof loadPermissions>[0])).toBeNull();
  });
});
