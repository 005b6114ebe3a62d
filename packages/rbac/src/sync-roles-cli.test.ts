// `bulwark-rbac sync-roles` in-process against a real PostgreSQL: the file, the flags, the output and the exit codes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createTestDatabase, requireService, type TestDatabase } from '@bulwark/test-utils';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from './migrate.js';
import { rbacCli } from './rbac-cli.js';

const hasPg = await requireService('postgres');
const dir = mkdtempSync(join(tmpdir(), 'bulwark-rbac-roles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

async function run(args: string[], env: Record<string, string | undefined>) {
  let out = '';
  let err = '';
  const code = await rbacCli(
    args,
    {
      stdin: Readable.from([]),
      stdout: { write: (t: string) => (out += t) },
      stderr: { write: (t: string) => (err += t) },
    },
    { env },
  );
  return { code, out, err };
}

describe('bulwark-rbac sync-roles without a database', () => {
  it('answers usage errors with exit code 2 and the usage, and a bad file with exit code 1', async () => {
    const noFile = await run(['sync-roles'], {});
    expect(noFile.code).toBe(2);
    expect(noFile.err).toContain('--file is required.');
    expect(noFile.err).toContain('Usage: bulwark-rbac sync-roles --file roles.json');
    const prune = await run(['sync-roles', '--file', 'x.json', '--prune', 'some'], {});
    expect(prune.code).toBe(2);
    expect(prune.err).toContain(`--prune takes 'unused' or 'all', not "some".`);
    const notJson = await run(['sync-roles', '--file', file('bad.json', '{ viewer: [')], {});
    expect(notJson.code).toBe(1);
    expect(notJson.err).toMatch(/bad\.json is not JSON/);
    const missing = await run(['sync-roles', '--file', join(dir, 'none.json')], {});
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('could not be read (ENOENT)');
    const help = await run(['sync-roles', '--help'], {});
    expect(help.code).toBe(0);
    expect(help.out).toContain('--dry-run');
  });

  it('keeps bulwark-hash-secret working: its own flags, and the hash-secret subcommand', async () => {
    const generated = await run(['--generate', '--sha256'], {});
    expect(generated.code).toBe(0);
    expect(generated.out).toMatch(/^key: +\S+\nhash: +\$sha256\$/);
    const sub = await run(['hash-secret', '--generate', '--sha256'], {});
    expect(sub.code).toBe(0);
    expect(sub.out).toMatch(/hash: +\$sha256\$/);
    const secretAsArgument = await run(['my-secret'], {});
    expect(secretAsArgument.code).toBe(2);
    expect(secretAsArgument.err).toContain('Unknown argument');
  });
});

describe.runIf(hasPg)('bulwark-rbac sync-roles', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase('rbac_roles_cli');
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    await migrate(pool);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('syncs the roles in a JSON file, prints each change and audits it as the CLI', async () => {
    const roles = file('roles.json', {
      viewer: ['orders:read'],
      clerk: { permissions: ['orders:read', 'orders:write'], description: 'Takes orders' },
    });
    const env = { DATABASE_URL: db.url };
    const dry = await run(['sync-roles', '--file', roles, '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain('dry run: nothing was changed');
    const first = await run(['sync-roles', '--file', roles], env);
    expect(first).toEqual({
      code: 0,
      err: '',
      out: [
        'created    clerk  +orders:read +orders:write',
        'updated    viewer  +orders:read -alerts:read -devices:read -rules:read -telemetry:read',
        'kept       admin  (not in the file; 0 grants; --prune unused deletes it)',
        'kept       operator  (not in the file; 0 grants; --prune unused deletes it)',
        '',
      ].join('\n'),
    });
    const second = await run(['sync-roles', `--file=${roles}`, '--prune', 'unused'], env);
    expect(second.code).toBe(0);
    expect(second.out).toBe(
      ['unchanged  clerk', 'unchanged  viewer', 'deleted    admin', 'deleted    operator', ''].join(
        '\n',
      ),
    );
    const { rows } = await pool.query(
      `SELECT action, resource_id, actor FROM bulwark_rbac.audit_log ORDER BY id`,
    );
    expect(rows).toEqual([
      { action: 'CREATE', resource_id: 'clerk', actor: 'bulwark-rbac sync-roles' },
      { action: 'UPDATE', resource_id: 'viewer', actor: 'bulwark-rbac sync-roles' },
      { action: 'DELETE', resource_id: 'admin', actor: 'bulwark-rbac sync-roles' },
      { action: 'DELETE', resource_id: 'operator', actor: 'bulwark-rbac sync-roles' },
    ]);
  });

  it('prints the configuration error for malformed roles and exits 1 without changing anything', async () => {
    const before = await pool.query(`SELECT count(*)::int AS n FROM bulwark_rbac.audit_log`);
    const bad = await run(
      ['sync-roles', '--file', file('typo.json', { viewer: ['Orders:Read'] })],
      {
        DATABASE_URL: db.url,
      },
    );
    expect(bad.code).toBe(1);
    expect(bad.out).toBe('');
    expect(bad.err).toMatch(
      /^syncRoles: role 'viewer' has the permission "Orders:Read", which is not one/,
    );
    const after = await pool.query(`SELECT count(*)::int AS n FROM bulwark_rbac.audit_log`);
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });
});
