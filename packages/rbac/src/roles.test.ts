// defineRoles and syncRoles against a real PostgreSQL: create, update, prune, audit, one transaction, and the guards over HTTP.
import { createHmac } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { createTestDatabase, requireService, type TestDatabase } from '@bulwark/test-utils';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { authenticate } from './authenticate.js';
import { RbacConfigError } from './errors.js';
import { migrate } from './migrate.js';
import { createPermissionStore } from './permission-store.js';
import { requirePermission } from './permissions.js';
import { defineRoles, syncRoles } from './roles.js';
import { appWith, serve } from './test-support.js';

const hasPg = await requireService('postgres');
const SECRET = Buffer.alloc(32, 5);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
function tokenFor(sub: string): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'HS256' })}.${b64({ sub, tenant_id: 'acme', iss: 'test', aud: 'api', iat: now, exp: now + 300 })}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}
const jwt = { algorithms: ['HS256' as const], secret: SECRET, issuer: 'test', audience: 'api' };

const shop = defineRoles({
  viewer: ['orders:read'],
  clerk: {
    permissions: ['orders:write', 'orders:read', 'orders:read'],
    description: 'Takes orders',
  },
  admin: ['orders:*', 'users:*'],
});

describe('defineRoles', () => {
  it('checks roles when the module loads, sorting and de-duplicating each list, and freezes them', () => {
    expect(shop).toEqual({
      viewer: { permissions: ['orders:read'] },
      clerk: { permissions: ['orders:read', 'orders:write'], description: 'Takes orders' },
      admin: { permissions: ['orders:*', 'users:*'] },
    });
    expect(Object.isFrozen(shop)).toBe(true);
    expect(Object.isFrozen(shop.clerk.permissions)).toBe(true);
  });

  it('refuses malformed role names, permissions and role objects with the form to use', () => {
    // As JavaScript or a JSON file would pass them: no types to stop the wrong shape.
    const fromJs = defineRoles as (roles: unknown) => unknown;
    const cases: [unknown, string, RegExp][] = [
      [{ Viewer: ['orders:read'] }, 'ERR_BULWARK_RBAC_ROLES', /"Viewer" is not a role name/],
      [
        { viewer: ['Orders Read'] },
        'ERR_BULWARK_RBAC_ROLES',
        /"Orders Read", which is not one.*'orders:read'/,
      ],
      [{ viewer: 'orders:read' }, 'ERR_BULWARK_RBAC_ROLES', /viewer: \['orders:read'\]/],
      [
        { viewer: { permision: ['orders:read'] } },
        'ERR_BULWARK_RBAC_UNKNOWN_OPTION',
        /Did you mean `permissions`/,
      ],
      [{ viewer: { permissions: [], description: 7 } }, 'ERR_BULWARK_RBAC_ROLES', /description 7/],
      [{}, 'ERR_BULWARK_RBAC_ROLES', /no roles are defined/],
      [['viewer'], 'ERR_BULWARK_RBAC_ROLES', /Pass an object of role names to permissions/],
    ];
    for (const [roles, code, message] of cases) {
      expect(() => fromJs(roles), JSON.stringify(roles)).toThrow(
        expect.objectContaining({
          name: 'RbacConfigError',
          code,
          message: expect.stringMatching(message),
        }),
      );
    }
  });
});

describe.runIf(hasPg)('syncRoles', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase('rbac_roles');
    pool = new pg.Pool({ connectionString: db.url, max: 6 });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });
  // Each test starts from the package's seed roles, with one user holding the seeded operator.
  beforeEach(async () => {
    await pool.query('DROP SCHEMA IF EXISTS bulwark_rbac CASCADE');
    await migrate(pool);
    await pool.query(`INSERT INTO bulwark_rbac.tenants (id) VALUES ('acme')`);
    await pool.query(
      `INSERT INTO bulwark_rbac.users (subject, tenant_id) VALUES ('ops-1', 'acme')`,
    );
    await pool.query(
      `INSERT INTO bulwark_rbac.user_roles (subject, role, tenant_id) VALUES ('ops-1', 'operator', 'acme')`,
    );
  });

  const rolesInDb = async () => {
    const { rows } = await pool.query(
      `SELECT r.name, coalesce(array_agg(rp.permission ORDER BY rp.permission) FILTER (WHERE rp.permission IS NOT NULL), '{}') AS perms
         FROM bulwark_rbac.roles r LEFT JOIN bulwark_rbac.role_permissions rp ON rp.role = r.name
        GROUP BY r.name ORDER BY r.name`,
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.perms]));
  };
  const auditRows = async () =>
    (
      await pool.query(
        `SELECT action, resource_type, resource_id, actor, status, details FROM bulwark_rbac.audit_log ORDER BY id`,
      )
    ).rows;

  it('creates and updates the defined roles, adds new permission names, and audits each change', async () => {
    const result = await syncRoles(pool, shop, { actor: 'deploy' });
    expect(result).toMatchObject({
      created: [{ role: 'clerk', added: ['orders:read', 'orders:write'], removed: [] }],
      updated: [
        { role: 'admin', added: ['orders:*', 'users:*'], removed: ['*'] },
        {
          role: 'viewer',
          added: ['orders:read'],
          removed: ['alerts:read', 'devices:read', 'rules:read', 'telemetry:read'],
        },
      ],
      unchanged: [],
      deleted: [],
      kept: [{ role: 'operator', grants: 1 }],
      dryRun: false,
    });
    expect(await rolesInDb()).toMatchObject({
      admin: ['orders:*', 'users:*'],
      clerk: ['orders:read', 'orders:write'],
      viewer: ['orders:read'],
    });
    const { rows: clerk } = await pool.query(
      `SELECT description, built_in FROM bulwark_rbac.roles WHERE name = 'clerk'`,
    );
    expect(clerk).toEqual([{ description: 'Takes orders', built_in: false }]);
    expect(await auditRows()).toEqual([
      {
        action: 'UPDATE',
        resource_type: 'role',
        resource_id: 'admin',
        actor: 'deploy',
        status: 'success',
        details: { added: ['orders:*', 'users:*'], removed: ['*'], via: 'syncRoles' },
      },
      expect.objectContaining({
        action: 'CREATE',
        resource_id: 'clerk',
        details: {
          permissions: ['orders:read', 'orders:write'],
          description: 'Takes orders',
          via: 'syncRoles',
        },
      }),
      expect.objectContaining({ action: 'UPDATE', resource_id: 'viewer' }),
    ]);
  });

  it('changes nothing and records nothing when run again with the same roles', async () => {
    await syncRoles(pool, shop);
    const before = { roles: await rolesInDb(), audit: (await auditRows()).length };
    const again = await syncRoles(pool, shop);
    expect(again).toEqual({
      created: [],
      updated: [],
      unchanged: ['admin', 'clerk', 'viewer'],
      deleted: [],
      kept: [{ role: 'operator', grants: 1 }],
      dryRun: false,
    });
    expect(await rolesInDb()).toEqual(before.roles);
    expect(await auditRows()).toHaveLength(before.audit);
  });

  it('keeps a role it was not given unless asked, and deletes a held role only with prune all', async () => {
    await pool.query(`INSERT INTO bulwark_rbac.roles (name) VALUES ('legacy')`);
    const unused = await syncRoles(pool, shop, { prune: 'unused' });
    expect(unused.deleted).toEqual([{ role: 'legacy', grants: 0 }]);
    expect(unused.kept).toEqual([{ role: 'operator', grants: 1 }]);
    expect(Object.keys(await rolesInDb())).toEqual(['admin', 'clerk', 'operator', 'viewer']);
    const all = await syncRoles(pool, shop, { prune: 'all', actor: 'deploy' });
    expect(all.deleted).toEqual([{ role: 'operator', grants: 1 }]);
    expect(Object.keys(await rolesInDb())).toEqual(['admin', 'clerk', 'viewer']);
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM bulwark_rbac.user_roles`);
    expect(rows[0].n).toBe(0);
    expect((await auditRows()).at(-1)).toMatchObject({
      action: 'DELETE',
      resource_id: 'operator',
      actor: 'deploy',
      details: {
        grants: 1,
        via: 'syncRoles',
        permissions: expect.arrayContaining(['devices:read']),
      },
    });
  });

  it('rolls every change back when one step fails, and keeps the pool usable', async () => {
    await pool.query(`CREATE FUNCTION bulwark_rbac.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'audit refused'; END $$`);
    await pool.query(
      `CREATE TRIGGER refuse BEFORE INSERT ON bulwark_rbac.audit_log FOR EACH ROW EXECUTE FUNCTION bulwark_rbac.refuse()`,
    );
    const before = await rolesInDb();
    await expect(syncRoles(pool, shop, { prune: 'all' })).rejects.toThrow('audit refused');
    expect(await rolesInDb()).toEqual(before);
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n FROM bulwark_rbac.permissions WHERE name LIKE 'orders:%'`,
    );
    expect(rows[0].n).toBe(0);
    await pool.query('DROP TRIGGER refuse ON bulwark_rbac.audit_log');
    expect((await syncRoles(pool, shop)).created).toHaveLength(1);
  });

  it('works out the changes and rolls them back on a dry run', async () => {
    const before = await rolesInDb();
    const planned = await syncRoles(pool, shop, { dryRun: true, prune: 'all' });
    expect(planned.dryRun).toBe(true);
    expect(planned.created.map((c) => c.role)).toEqual(['clerk']);
    expect(planned.deleted).toEqual([{ role: 'operator', grants: 1 }]);
    expect(await rolesInDb()).toEqual(before);
    expect(await auditRows()).toEqual([]);
  });

  it('applies the roles once when instances start together, and takes a connected client too', async () => {
    const results = await Promise.all([1, 2, 3].map(() => syncRoles(pool, shop)));
    expect(results.flatMap((r) => r.created.map((c) => c.role))).toEqual(['clerk']);
    expect(await auditRows()).toHaveLength(3);
    const client = await pool.connect();
    try {
      const changed = await syncRoles(client, { ...shop, viewer: ['orders:read', 'reports:read'] });
      expect(changed.updated).toEqual([{ role: 'viewer', added: ['reports:read'], removed: [] }]);
      const { rows } = await client.query('SELECT now() = statement_timestamp() AS outside');
      expect(rows[0].outside).toBe(true);
    } finally {
      client.release();
    }
  });

  it('refuses an unmigrated database, a db without query() and an unknown prune mode', async () => {
    const bare = await createTestDatabase('rbac_roles_bare');
    const barePool = new pg.Pool({ connectionString: bare.url, max: 1 });
    try {
      await expect(syncRoles(barePool, shop)).rejects.toMatchObject({
        code: 'ERR_BULWARK_RBAC_NOT_MIGRATED',
        message: expect.stringContaining('Run await migrate(pool) before syncRoles()'),
      });
      // The connection went back to the pool in a clean state.
      expect((await barePool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await barePool.end();
      await bare.drop();
    }
    await expect(syncRoles({} as never, shop)).rejects.toBeInstanceOf(RbacConfigError);
    await expect(syncRoles(pool, shop, { prune: 'yes' as never })).rejects.toMatchObject({
      code: 'ERR_BULWARK_RBAC_OPTIONS',
      message: expect.stringContaining("'unused'"),
    });
    await expect(syncRoles(pool, { viewer: ['Orders'] })).rejects.toMatchObject({
      code: 'ERR_BULWARK_RBAC_ROLES',
    });
  });

  it('gives a granted user the synced permissions over HTTP, and a later sync reaches a running app', async () => {
    const permissions = createPermissionStore({ db: pool, heartbeatIntervalMs: 200 });
    const app = await serve(
      appWith(authenticate({ jwt, permissions }), requirePermission('orders:write')),
    );
    try {
      await permissions.ready();
      await syncRoles(pool, shop);
      await permissions.grant('user-7', 'viewer', { tenantId: 'acme' });
      const call = () =>
        fetch(`${app.url}/thing`, { headers: { authorization: `Bearer ${tokenFor('user-7')}` } });
      const refused = await call();
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { code: string }).code).toBe('forbidden');
      await syncRoles(pool, { ...shop, viewer: ['orders:read', 'orders:write'] });
      // The role_permissions trigger tells the store to reload; no restart, no TTL wait.
      const deadline = Date.now() + 5000;
      let status = 0;
      while (Date.now() < deadline && status !== 200) {
        status = (await call()).status;
        if (status !== 200) await delay(25);
      }
      expect(status).toBe(200);
    } finally {
      await app.close();
      await permissions.close();
    }
  });
});
