// The logic of `bulwark-rbac sync-roles`: reads roles from a JSON file and syncs them to PostgreSQL.
import { readFile } from 'node:fs/promises';
import { RbacConfigError } from './errors.js';
import type { CliIo } from './hash-secret-cli.js';
import { type SyncRolesOptions, type SyncRolesResult, syncRoles } from './roles.js';
import type { Queryable } from './types.js';

export const SYNC_ROLES_USAGE = `Usage: bulwark-rbac sync-roles --file roles.json [--prune unused|all] [--actor NAME] [--dry-run]

Makes the roles in PostgreSQL match the file, in one transaction, and records each change in
the audit log. The file maps role names to permissions, as defineRoles() takes them:

  { "viewer": ["orders:read"], "admin": { "permissions": ["orders:*"], "description": "..." } }

  --file PATH      the roles (required)
  --prune unused   also delete roles the file does not name and nobody holds
  --prune all      also delete roles the file does not name, with their grants
  --actor NAME     who made the change, for the audit log (default: bulwark-rbac sync-roles)
  --dry-run        print the changes, then roll them back

Connects with DATABASE_URL, or else with the PGHOST, PGUSER, PGDATABASE, ... variables.
Run migrate(pool) once before, so the tables exist.
`;

/** What the command needs besides its streams: the environment and a way to open a pool. */
export interface SyncRolesCliContext {
  env: Record<string, string | undefined>;
  /** Opens a pool; default: `pg.Pool` with `connectionString` from `DATABASE_URL`. */
  openPool?: (
    connectionString: string | undefined,
  ) => Promise<Queryable & { end(): Promise<void> }>;
}

interface Parsed {
  file: string;
  options: SyncRolesOptions;
}

function parse(args: string[]): Parsed | string {
  let file: string | undefined;
  const options: SyncRolesOptions = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s) : [arg];
    const value = () => inline ?? args[++i];
    if (flag === '--file') file = value();
    else if (flag === '--prune') {
      const prune = value();
      if (prune !== 'unused' && prune !== 'all')
        return `--prune takes 'unused' or 'all', not ${JSON.stringify(prune ?? '')}.`;
      options.prune = prune;
    } else if (flag === '--actor') {
      const actor = value();
      if (!actor) return '--actor needs a name.';
      options.actor = actor;
    } else if (flag === '--dry-run' && inline === undefined) options.dryRun = true;
    else return `Unknown argument: ${arg.startsWith('-') ? flag : 'a value without a flag'}`;
  }
  if (!file) return '--file is required.';
  return { file, options };
}

async function defaultPool(connectionString: string | undefined) {
  let pg: typeof import('pg');
  try {
    pg = (await import('pg')).default as unknown as typeof import('pg');
  } catch {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_DB',
      'bulwark-rbac sync-roles: the pg package is not installed. Install it next to @bulwark/rbac: npm install pg',
    );
  }
  const pool = new pg.Pool({
    ...(connectionString ? { connectionString } : {}),
    max: 1,
    application_name: 'bulwark-rbac sync-roles',
  });
  // An idle connection that dies is reported by the query that needed it, not as a crash.
  pool.on('error', () => {});
  return pool;
}

function describe(result: SyncRolesResult): string {
  const lines: string[] = [];
  const changes = (added: string[], removed: string[]) =>
    [...added.map((p) => `+${p}`), ...removed.map((p) => `-${p}`)].join(' ');
  for (const c of result.created)
    lines.push(`created    ${c.role}  ${changes(c.added, [])}`.trimEnd());
  for (const c of result.updated) {
    const parts = [changes(c.added, c.removed), c.description ? 'description' : ''].filter(Boolean);
    lines.push(`updated    ${c.role}  ${parts.join(', ')}`);
  }
  for (const role of result.unchanged) lines.push(`unchanged  ${role}`);
  for (const d of result.deleted) {
    lines.push(
      `deleted    ${d.role}${d.grants ? `  (with ${d.grants} grant${d.grants === 1 ? '' : 's'})` : ''}`,
    );
  }
  for (const k of result.kept) {
    lines.push(
      `kept       ${k.role}  (not in the file; ${k.grants} grant${k.grants === 1 ? '' : 's'}${k.grants ? '; --prune all deletes it with them' : '; --prune unused deletes it'})`,
    );
  }
  if (result.dryRun) lines.push('dry run: nothing was changed');
  return `${lines.join('\n')}\n`;
}

/** Runs `sync-roles` with the arguments after the command name; resolves the exit code. */
export async function syncRolesCli(
  args: string[],
  io: Pick<CliIo, 'stdout' | 'stderr'>,
  context: SyncRolesCliContext,
): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(SYNC_ROLES_USAGE);
    return 0;
  }
  const parsed = parse(args);
  if (typeof parsed === 'string') {
    io.stderr.write(`${parsed}\n\n${SYNC_ROLES_USAGE}`);
    return 2;
  }
  let roles: unknown;
  try {
    roles = JSON.parse(await readFile(parsed.file, 'utf8'));
  } catch (err) {
    const reason =
      err instanceof SyntaxError
        ? `is not JSON (${err.message})`
        : `could not be read (${(err as NodeJS.ErrnoException).code ?? 'EIO'})`;
    io.stderr.write(`bulwark-rbac sync-roles: ${parsed.file} ${reason}.\n`);
    return 1;
  }
  let pool: (Queryable & { end(): Promise<void> }) | undefined;
  try {
    pool = await (context.openPool ?? defaultPool)(context.env.DATABASE_URL || undefined);
    const result = await syncRoles(pool, roles as Parameters<typeof syncRoles>[1], {
      actor: 'bulwark-rbac sync-roles',
      ...parsed.options,
    });
    io.stdout.write(describe(result));
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(
      err instanceof RbacConfigError ? `${message}\n` : `bulwark-rbac sync-roles: ${message}\n`,
    );
    return 1;
  } finally {
    await pool?.end().catch(() => {});
  }
}
