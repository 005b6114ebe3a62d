// The database: embedded PGlite over the wire protocol or PostgreSQL, migrations, the role check and tenant transactions.
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createDb, createPool, type Db, type SafePool, sql } from '@bulwark/db-safety';
import { migrate } from '@bulwark/rbac';
import type { AppConfig } from './config.js';
import { seedDemoData } from './demo-data.js';
import { APP_PERMISSIONS, appMigrations } from './schema.js';

/** The running database side of the app. */
export interface Database {
  /** Pool for every request and the MQTT ingest. */
  pool: SafePool;
  db: Db;
  /** True when PGlite runs in this process. */
  embedded: boolean;
  /** Findings of the startup checks, for the banner. */
  notes: string[];
  /** Runs `fn` in a transaction with `app.tenant_id` set, as the app role (row-level security applies). */
  tenant<T>(tenantId: string, fn: (tx: Db) => Promise<T>, signal?: AbortSignal): Promise<T>;
  close(): Promise<void>;
}

export class DatabaseStartupError extends Error {
  override readonly name = 'DatabaseStartupError';
  readonly code: `ERR_IOT_APP_${string}`;

  constructor(code: `ERR_IOT_APP_${string}`, message: string) {
    super(message);
    this.code = code;
  }
}

interface Embedded {
  url: string;
  close(): Promise<void>;
}

/** Starts PGlite (data in `<dataDir>/pglite`) behind an in-process PostgreSQL wire-protocol server. */
async function startEmbedded(dataDir: string): Promise<Embedded> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const folder = join(dataDir, 'pglite');
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const pglite = await PGlite.create(folder);
  const server = new PGLiteSocketServer({
    db: pglite,
    port: 0,
    host: '127.0.0.1',
    maxConnections: 1,
  });
  await server.start();
  const address = (server as unknown as { server?: { address(): AddressInfo } }).server?.address();
  if (!address) throw new DatabaseStartupError('ERR_IOT_APP_EMBEDDED_DB', 'PGlite did not listen.');
  return {
    url: `postgres://postgres@127.0.0.1:${address.port}/postgres`,
    close: async () => {
      await server.stop();
      await pglite.close();
    },
  };
}

function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
  } catch {
    return false;
  }
}

/** Applies the rbac and app migrations (idempotent) with the migration connection. */
async function runMigrations(
  admin: SafePool,
  appRole: string,
  loginRole: string | null,
): Promise<void> {
  await migrate(admin);
  const client = await admin.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(7305194312)');
    await client.query(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${appRole}') THEN
        CREATE ROLE "${appRole}" NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$`);
    await client.query('CREATE SCHEMA IF NOT EXISTS iot');
    await client.query(
      'CREATE TABLE IF NOT EXISTS iot.migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const { rows } = await client.query<{ name: string }>('SELECT name FROM iot.migrations');
    const done = new Set(rows.map((row) => row.name));
    for (const migration of appMigrations(appRole)) {
      if (done.has(migration.name)) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO iot.migrations (name) VALUES ($1)', [migration.name]);
    }
    for (const permission of APP_PERMISSIONS) {
      await client.query(
        'INSERT INTO bulwark_rbac.permissions (name, description) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
        [permission.name, permission.description],
      );
      for (const role of permission.roles) {
        await client.query(
          'INSERT INTO bulwark_rbac.role_permissions (role, permission) VALUES ($1, $2) ON CONFLICT DO NOTHING',
          [role, permission.name],
        );
      }
    }
    if (loginRole && loginRole !== appRole) {
      // The login role inherits the app role's grants and may SET ROLE to it.
      await client.query(`GRANT "${appRole}" TO "${loginRole.replace(/"/g, '""')}"`);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Opens the database: starts embedded PGlite when no `DATABASE_URL` is set, runs the migrations,
 * and checks that tenant queries run as a role that is neither superuser nor BYPASSRLS. In
 * production every finding is fatal; in development it is a note in the banner.
 *
 * @throws {DatabaseStartupError} when a startup check fails in production, or the app role is unsafe.
 */
export async function openDatabase(config: AppConfig): Promise<Database> {
  if (!ROLE_NAME.test(config.appRole)) {
    throw new DatabaseStartupError(
      'ERR_IOT_APP_ROLE_NAME',
      `APP_DB_ROLE: ${JSON.stringify(config.appRole)} is not a plain role name. Use lowercase letters, digits and _, such as iot_app.`,
    );
  }
  const notes: string[] = [];
  const fail = (code: `ERR_IOT_APP_${string}`, message: string) => {
    if (config.production) throw new DatabaseStartupError(code, message);
    notes.push(message);
  };
  let embedded: Embedded | undefined;
  let url = config.databaseUrl;
  let migrationUrl = config.migrationDatabaseUrl;
  if (!url) {
    if (config.production) {
      throw new DatabaseStartupError(
        'ERR_IOT_APP_EMBEDDED_DB',
        'DATABASE_URL is not set. The embedded PGlite database is for development only; give a PostgreSQL URL in production.',
      );
    }
    embedded = await startEmbedded(config.dataDir);
    url = embedded.url;
    migrationUrl = embedded.url;
    notes.push(
      'database: embedded PGlite over the PostgreSQL wire protocol. PGlite runs one session for all connections (pool size 1) and ignores statement_timeout, lock_timeout and idle_in_transaction_session_timeout, so no query is cut off. Set DATABASE_URL for PostgreSQL.',
    );
  }
  const ssl = config.databaseSsl ?? (config.production ? !isLoopbackUrl(url) : false);
  const poolOptions = {
    statementTimeoutMs: config.statementTimeoutMs,
    lockTimeoutMs: Math.max(config.statementTimeoutMs * 2, 1000),
    idleInTransactionTimeoutMs: Math.max(config.statementTimeoutMs * 4, 10_000),
    connectionTimeoutMs: 5000,
    applicationName: 'iot-app',
    ssl,
  };
  const pool = createPool({ connectionString: url, max: embedded ? 1 : 10, ...poolOptions });
  // PGlite serves one session, so migrations share the app's single connection there.
  const admin = embedded
    ? pool
    : createPool({
        connectionString: migrationUrl ?? url,
        max: 1,
        ...poolOptions,
        statementTimeoutMs: 60_000,
      });
  const closeAll = async () => {
    await pool.end().catch(() => {});
    if (admin !== pool) await admin.end().catch(() => {});
    await embedded?.close().catch(() => {});
  };
  try {
    const login = await pool.query<{ name: string; rolsuper: boolean; rolbypassrls: boolean }>(
      'SELECT current_user AS name, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user',
    );
    const me = login.rows[0];
    await runMigrations(admin, config.appRole, embedded ? null : (me?.name ?? null));
    if (config.seedDemoData) await seedDemoData(admin);
    if (admin !== pool) await admin.end();
    if (!embedded) {
      try {
        await pool.verify();
      } catch (err) {
        fail('ERR_IOT_APP_DB_TIMEOUTS', err instanceof Error ? err.message : String(err));
      }
    }
    if (me?.rolsuper || me?.rolbypassrls) {
      fail(
        'ERR_IOT_APP_DB_LOGIN_ROLE',
        `database: the app logs in as "${me.name}", which is ${me.rolsuper ? 'a superuser' : 'BYPASSRLS'}. Tenant queries still switch to role ${config.appRole}, but a login role that can undo that is no isolation: connect DATABASE_URL as an ordinary role and run migrations with MIGRATION_DATABASE_URL.`,
      );
    }
    const role = await pool.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
      'SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1',
      [config.appRole],
    );
    const appRole = role.rows[0];
    if (!appRole || appRole.rolsuper || appRole.rolbypassrls) {
      // Row-level security would not apply at all: fatal in every environment.
      throw new DatabaseStartupError(
        'ERR_IOT_APP_DB_APP_ROLE',
        `The app role ${config.appRole} ${appRole ? 'is a superuser or has BYPASSRLS' : 'does not exist'}, so row-level security would not isolate tenants. ALTER ROLE ${config.appRole} NOSUPERUSER NOBYPASSRLS.`,
      );
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  const db = createDb(pool);
  const setRole = sql.raw(`SET LOCAL ROLE "${config.appRole}"`);
  return {
    pool,
    db,
    embedded: embedded !== undefined,
    notes,
    tenant: (tenantId, fn, signal) =>
      db.withTenant(
        tenantId,
        async (tx) => {
          await tx.query(setRole);
          return fn(tx);
        },
        signal ? { signal } : {},
      ),
    close: closeAll,
  };
}
