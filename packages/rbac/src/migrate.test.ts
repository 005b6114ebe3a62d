// The shipped migrations against a real PostgreSQL: applied once, safely in parallel, with seed roles.
import { createTestDatabase, requireService, type TestDatabase } from '@bulwark/test-utils';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RbacConfigError } from './errors.js';
import { migrate, rbacMigrations } from './migrate.js';

const hasPg = await requireService('postgres');

describe.runIf(hasPg)('migrate', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase('rbac_migrate');
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('applies every migration once, even when instances start together', async () => {
    const results = await Promise.all([migrate(pool), migrate(pool), migrate(pool)]);
    const names = rbacMigrations().map((m) => m.name);
    expect(results.flatMap((r) => r.applied).sort()).toEqual(names);
    const again = await migrate(pool);
    expect(again).toEqual({ applied: [], skipped: names });
  });

  it('creates the tables the package documents', async () => {
    const { rows } = await pool.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'bulwark_rbac' ORDER BY 1`,
    );
    expect(rows.map((r) => r.table_name)).toEqual([
      'api_keys',
      'audit_log',
      'permissions',
      'role_permissions',
      'roles',
      'schema_migrations',
      'tenants',
      'user_roles',
      'users',
    ]);
  });

  it('seeds viewer, operator and admin with the documented permission matrix', async () => {
    const { rows } = await pool.query(
      `SELECT role, array_agg(permission ORDER BY permission) AS perms FROM bulwark_rbac.role_permissions GROUP BY role ORDER BY role`,
    );
    expect(Object.fromEntries(rows.map((r) => [r.role, r.perms]))).toEqual({
      admin: ['*'],
      operator: [
        'alerts:read',
        'alerts:write',
        'devices:command',
        'devices:read',
        'devices:write',
        'rules:read',
        'rules:write',
        'telemetry:read',
        'users:read',
      ],
      viewer: ['alerts:read', 'devices:read', 'rules:read', 'telemetry:read'],
    });
  });

  it('refuses malformed permission names in the database', async () => {
    await expect(
      pool.query(`INSERT INTO bulwark_rbac.permissions (name) VALUES ('Devices Write')`),
    ).rejects.toThrow();
  });

  it('refuses a db without query()', async () => {
    await expect(migrate({} as never)).rejects.toBeInstanceOf(RbacConfigError);
  });
});
