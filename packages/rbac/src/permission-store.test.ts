// Permissions from PostgreSQL through the guards: Viewer vs Full Admin, and NOTIFY invalidation across instances.
import { createHmac } from 'node:crypto';
import {
  createTestDatabase,
  type Listening,
  requireService,
  type TestDatabase,
} from '@bulwark/test-utils';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate } from './authenticate.js';
import { RbacConfigError } from './errors.js';
import { migrate } from './migrate.js';
import { createPermissionStore, type PermissionStore } from './permission-store.js';
import { requireCustomer, requirePermission } from './permissions.js';
import { appWith, capture, serve } from './test-support.js';

const hasPg = await requireService('postgres');
const SECRET = Buffer.alloc(32, 9);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
function tokenFor(sub: string, tenant = 'acme'): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, tenant_id: tenant, iss: 'test', aud: 'api', iat: now, exp: now + 300 })}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}
const jwt = { algorithms: ['HS256' as const], secret: SECRET, issuer: 'test', audience: 'api' };
const quiet = { error: () => {}, warn: () => {}, info: () => {} };

describe.runIf(hasPg)('createPermissionStore with requirePermission', () => {
  let db: TestDatabase;
  let poolA: pg.Pool;
  let poolB: pg.Pool;
  let storeA: PermissionStore;
  let storeB: PermissionStore;
  let serverA: Listening;
  let serverB: Listening;

  beforeAll(async () => {
    db = await createTestDatabase('rbac_store');
    poolA = new pg.Pool({ connectionString: db.url, max: 4 });
    poolB = new pg.Pool({ connectionString: db.url, max: 4 });
    await migrate(poolA);
    await poolA.query(
      `INSERT INTO bulwark_rbac.tenants (id, name) VALUES ('acme', 'Acme'), ('globex', 'Globex')`,
    );
    storeA = createPermissionStore({ db: poolA, logger: quiet });
    storeB = createPermissionStore({ db: poolB, logger: quiet });
    await Promise.all([storeA.ready(), storeB.ready()]);
    await storeA.grant('vera-viewer', 'viewer', { tenantId: 'acme' });
    await storeA.grant('ada-admin', 'admin', { tenantId: 'acme' });
    await storeA.grant('otto-operator', 'operator', { tenantId: 'acme' });
    const chain = (store: PermissionStore) =>
      appWith(
        authenticate({ jwt, permissions: store }),
        requireCustomer(),
        requirePermission('devices:write'),
      );
    serverA = await serve(chain(storeA));
    serverB = await serve(chain(storeB));
  });

  afterAll(async () => {
    await Promise.all([serverA?.close(), serverB?.close()]);
    await Promise.all([storeA?.close(), storeB?.close()]);
    await Promise.all([poolA?.end(), poolB?.end()]);
    await db?.drop();
  });

  const post = (server: Listening, sub: string, tenant?: string) =>
    fetch(`${server.url}/thing`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tokenFor(sub, tenant)}`,
        'content-type': 'application/json',
      },
      body: '{"name":"sensor-1"}',
    });

  it('answers a Viewer POST with 403 and a Full Admin POST with 201', async () => {
    const denied = capture('denied');
    try {
      const viewer = await post(serverA, 'vera-viewer');
      expect(viewer.status).toBe(403);
      expect(viewer.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope"');
      const body = await viewer.json();
      expect(body).toMatchObject({ code: 'forbidden' });
      expect(JSON.stringify(body)).not.toContain('devices:write');
      expect(denied.messages.at(-1)).toMatchObject({
        subject: 'vera-viewer',
        missing: ['devices:write'],
      });
      expect((await post(serverA, 'ada-admin')).status).toBe(201);
      expect((await post(serverA, 'otto-operator')).status).toBe(201);
    } finally {
      denied.stop();
    }
  });

  it('applies a grant only in its own tenant', async () => {
    await poolA.query(
      `INSERT INTO bulwark_rbac.users (subject) VALUES ('gil') ON CONFLICT DO NOTHING`,
    );
    await storeA.grant('gil', 'admin', { tenantId: 'globex' });
    expect((await post(serverA, 'gil', 'acme')).status).toBe(403);
    expect((await post(serverA, 'gil', 'globex')).status).toBe(201);
  });

  it('stops access on another instance within one NOTIFY round trip after a revoke', async () => {
    await storeA.grant('rita', 'operator', { tenantId: 'acme' });
    // Both instances have the grant cached.
    expect((await post(serverA, 'rita')).status).toBe(201);
    expect((await post(serverB, 'rita')).status).toBe(201);
    expect(await storeB.permissionsFor('rita', 'acme')).toContain('devices:write');
    const seenByB = new Promise<string>((resolve) => {
      const off = storeB.onInvalidate((subject) => {
        if (subject === 'rita') {
          off();
          resolve(subject);
        }
      });
    });
    expect(await storeA.revoke('rita', 'operator', { tenantId: 'acme' })).toBe(true);
    await seenByB;
    expect((await post(serverB, 'rita')).status).toBe(403);
    expect((await post(serverA, 'rita')).status).toBe(403);
  });

  it('invalidates every instance when a role loses a permission, whoever changes it', async () => {
    await storeA.grant('vic', 'viewer', { tenantId: 'acme' });
    expect(await storeB.permissionsFor('vic', 'acme')).toContain('devices:read');
    const cleared = new Promise<void>((resolve) => {
      const off = storeB.onInvalidate((subject) => {
        if (subject === '*') {
          off();
          resolve();
        }
      });
    });
    const outside = new pg.Client({ connectionString: db.url });
    await outside.connect();
    await outside.query(`INSERT INTO bulwark_rbac.roles (name) VALUES ('auditor')`);
    await outside.query(
      `INSERT INTO bulwark_rbac.role_permissions (role, permission) VALUES ('auditor', 'audit:read')`,
    );
    await outside.end();
    await cleared;
    await storeA.grant('vic', 'auditor', { tenantId: 'acme' });
    expect(await storeB.permissionsFor('vic', 'acme')).toContain('audit:read');
  });

  it('gives a disabled user no permissions', async () => {
    await storeA.grant('dora', 'admin', { tenantId: 'acme' });
    expect((await post(serverB, 'dora')).status).toBe(201);
    const seen = new Promise<void>((resolve) => {
      const off = storeB.onInvalidate((s) => {
        if (s === 'dora') {
          off();
          resolve();
        }
      });
    });
    await poolA.query(`UPDATE bulwark_rbac.users SET disabled_at = now() WHERE subject = 'dora'`);
    await seen;
    expect((await post(serverB, 'dora')).status).toBe(403);
  });

  it('stops caching when the LISTEN connection dies, and resumes once it is back', async () => {
    const pool = new pg.Pool({
      connectionString: db.url,
      max: 2,
      application_name: 'rbac-listen-drop',
    });
    pool.on('error', () => {});
    const store = createPermissionStore({ db: pool, logger: quiet });
    try {
      await store.ready();
      expect(store.caching).toBe(true);
      const events: string[] = [];
      const twoClears = new Promise<void>((resolve) => {
        const off = store.onInvalidate((subject) => {
          events.push(`${subject}:${store.caching}`);
          if (events.length === 2) {
            off();
            resolve();
          }
        });
      });
      await poolA.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'rbac-listen-drop' AND query = 'LISTEN bulwark_rbac_grants'`,
      );
      await twoClears;
      // First the loss (caching off), then the reconnect (cache cleared again before it is trusted).
      expect(events[0]).toBe('*:false');
      expect(store.caching).toBe(true);
      expect(await store.permissionsFor('ada-admin', 'acme')).toContain('*');
    } finally {
      await store.close();
      await pool.end();
    }
  });

  it('caches permissions between requests', async () => {
    const before = await storeB.permissionsFor('ada-admin', 'acme');
    expect(await storeB.permissionsFor('ada-admin', 'acme')).toBe(before);
  });

  it('answers 503, not 500, when the database is unreachable', async () => {
    const broken = new pg.Pool({
      connectionString: 'postgres://postgres@127.0.0.1:1/none',
      connectionTimeoutMillis: 200,
    });
    const store = createPermissionStore({ db: broken, listen: false });
    const server = await serve(
      appWith(
        authenticate({ jwt, permissions: store, logger: quiet }),
        requirePermission('devices:write'),
      ),
    );
    try {
      const response = await post(server, 'ada-admin');
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ code: 'permissions_unavailable' });
      expect(response.headers.get('retry-after')).toBe('5');
    } finally {
      await server.close();
      await store.close();
      await broken.end();
    }
  });

  it('refuses a database it cannot LISTEN on unless told to rely on the TTL', () => {
    const queryOnly = { query: poolA.query.bind(poolA) };
    expect(() => createPermissionStore({ db: queryOnly as never })).toThrow(RbacConfigError);
    expect(() => createPermissionStore({ db: queryOnly as never, listen: false })).not.toThrow();
    expect(() => createPermissionStore({ db: poolA, ttlMs: 0 })).toThrow(/ttlMs/);
    expect(() => createPermissionStore({ db: poolA, tll: 5 } as never)).toThrow(
      /Did you mean `ttlMs`/,
    );
  });

  it('refuses grants with a bad subject, role or tenant', async () => {
    await expect(storeA.grant('', 'viewer', { tenantId: 'acme' })).rejects.toThrow(RbacConfigError);
    await expect(storeA.grant('x', 'Not A Role', { tenantId: 'acme' })).rejects.toThrow(
      RbacConfigError,
    );
    await expect(storeA.grant('x', 'viewer', {} as never)).rejects.toThrow(RbacConfigError);
  });
});
