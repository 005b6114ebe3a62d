// Applies the SQL migrations shipped in the package's `migrations/` folder, once each, safely in parallel.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RbacConfigError, show } from './errors.js';
import type { Queryable } from './types.js';

/** The schema every table of this package lives in. */
export const RBAC_SCHEMA = 'bulwark_rbac';

const FILE = /^(\d{3}_[a-z0-9_]+)\.sql$/;
// Any constant works; it only has to differ from other advisory locks the app takes.
const LOCK_KEY = 7_305_194_311;

export interface Migration {
  name: string;
  sql: string;
}

/** The package's migrations in order, for apps that run them with their own migration tool. */
export function rbacMigrations(): Migration[] {
  const dir = fileURLToPath(new URL('../migrations/', import.meta.url));
  return readdirSync(dir)
    .map((file) => FILE.exec(file))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1]!, sql: readFileSync(`${dir}${m[0]}`, 'utf8') }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export interface MigrateResult {
  /** Migrations this call applied. */
  applied: string[];
  /** Migrations that were already there (or applied by another instance meanwhile). */
  skipped: string[];
}

/**
 * Creates schema `bulwark_rbac` and applies the package's pending migrations. Each migration
 * runs in one transaction with its bookkeeping row, so instances starting together apply it once.
 *
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_DB` when `db` has no `query` method.
 * @throws {Error} with the migration name when PostgreSQL refuses a migration.
 * @example
 * await migrate(pool);
 */
export async function migrate(db: Queryable): Promise<MigrateResult> {
  if (!db || typeof db.query !== 'function') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_DB',
      `migrate: db ${show(db)} has no query(text, values) method. Pass a pg Pool or Client.`,
    );
  }
  // One query string without parameters runs as a single implicit transaction.
  await db.query(
    `SELECT pg_advisory_xact_lock(${LOCK_KEY});
     CREATE SCHEMA IF NOT EXISTS ${RBAC_SCHEMA};
     CREATE TABLE IF NOT EXISTS ${RBAC_SCHEMA}.schema_migrations (
       name text PRIMARY KEY,
       applied_at timestamptz NOT NULL DEFAULT now()
     )`,
  );
  const { rows } = await db.query(`SELECT name FROM ${RBAC_SCHEMA}.schema_migrations`);
  const done = new Set(rows.map((row) => String(row.name)));
  const result: MigrateResult = { applied: [], skipped: [] };
  for (const migration of rbacMigrations()) {
    if (done.has(migration.name)) {
      result.skipped.push(migration.name);
      continue;
    }
    try {
      await db.query(
        `INSERT INTO ${RBAC_SCHEMA}.schema_migrations (name) VALUES ('${migration.name}');\n${migration.sql}`,
      );
      result.applied.push(migration.name);
    } catch (err) {
      const pgError = err as { code?: unknown; constraint?: unknown };
      if (pgError.code === '23505' && pgError.constraint === 'schema_migrations_pkey') {
        result.skipped.push(migration.name);
        continue;
      }
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`migrate: ${migration.name} failed: ${reason}`, { cause: err });
    }
  }
  return result;
}
