// rbac's permission store on a db-safety pool: its LISTEN connection is held on purpose, not reported as a leak; a client never released still is.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { setTimeout as delay } from 'node:timers/promises';
import { createPool, type LeakEvent, type SafePool } from '@bulwark/db-safety';
import { createPermissionStore, migrate, type PermissionStore } from '@bulwark/rbac';
import { createTestDatabase, requireService, type TestDatabase } from '@bulwark/test-utils';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const ready = await requireService('postgres');
const quiet = { warn() {}, error() {}, info() {} };

/** Polls `check` every 25 ms until it holds, or fails once `timeoutMs` has passed. */
async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await delay(25);
  }
}

describe.runIf(ready)('a permission store on a createPool() pool with leak reports on', () => {
  let database: TestDatabase;
  let admin: pg.Pool;
  let pool: SafePool;
  let store: PermissionStore;
  const leaks: LeakEvent[] = [];
  const warnings: { message: string; code: unknown }[] = [];
  const onLeak = (message: unknown) => leaks.push(message as LeakEvent);
  const leakWarnings = () => warnings.filter((w) => w.code === 'BULWARK_DB_LEAK');

  beforeAll(async () => {
    database = await createTestDatabase('e2e_held');
    // Set up and watched from outside, so that the pool under test opens no connection but the store's.
    admin = new pg.Pool({ connectionString: database.url, max: 2 });
    await migrate(admin);
    await admin.query(`INSERT INTO bulwark_rbac.tenants (id, name) VALUES ('acme', 'Acme')`);
    subscribe('bulwark:db:leak', onLeak);
    pool = createPool({
      connectionString: database.url,
      max: 3,
      leakWarningMs: 200,
      applicationName: 'e2e-held',
      logger: { warn: (message, meta) => warnings.push({ message, code: meta?.code }) },
    });
    store = createPermissionStore({ db: pool, logger: quiet });
    await store.ready();
  });

  afterEach(() => {
    leaks.length = 0;
    warnings.length = 0;
  });

  afterAll(async () => {
    unsubscribe('bulwark:db:leak', onLeak);
    await store?.close();
    await pool?.end();
    await admin?.end();
    await database?.drop();
  });

  it('reports no leak for its LISTEN connection over a second, five times leakWarningMs', async () => {
    await delay(1_000);
    expect(leaks).toEqual([]);
    expect(leakWarnings()).toEqual([]);
    expect(store.caching).toBe(true);
    // Held, and still counted: checked out, not idle.
    expect(pool.heldCount).toBe(1);
    expect(pool.totalCount - pool.idleCount).toBe(1);
  });

  it('reports no leak for the LISTEN connection it opens after the first one is lost', async () => {
    const restored: unknown[] = [];
    const onRestored = (message: unknown) => restored.push(message);
    subscribe('bulwark:rbac:listener-restored', onRestored);
    try {
      const { rows } = await admin.query(
        `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
          WHERE application_name = 'e2e-held'`,
      );
      expect(rows).toEqual([{ ended: true }]);
      await until(() => restored.length > 0, 10_000, 'the LISTEN reconnect');
      await delay(1_000);
      expect(leaks).toEqual([]);
      expect(leakWarnings()).toEqual([]);
      expect(store.caching).toBe(true);
      expect(pool.heldCount).toBe(1);
    } finally {
      unsubscribe('bulwark:rbac:listener-restored', onRestored);
    }
  });

  it('still reports a client taken with pool.connect() and never released, once, with the stack that took it', async () => {
    const leaked = await pool.connect();
    try {
      const pid = (leaked as unknown as { processID: number }).processID;
      await until(() => leaks.length > 0, 5_000, 'the leak report');
      await delay(500);
      expect(leaks).toEqual([{ heldMs: expect.any(Number), stack: expect.any(String), pid }]);
      expect(leaks[0]?.heldMs).toBeGreaterThanOrEqual(200);
      expect(leaks[0]?.stack).toContain('held-connection.test.ts');
      expect(leakWarnings()).toEqual([
        {
          message: expect.stringContaining('checked out for'),
          code: 'BULWARK_DB_LEAK',
        },
      ]);
    } finally {
      leaked.release();
    }
    expect(await store.permissionsFor('nobody', 'acme')).toEqual([]);
  });
});
