// startPgBouncer runs a real PgBouncer in the pool mode asked for, and leaves nothing behind.
import { existsSync } from 'node:fs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, requireService, startPgBouncer } from './index.js';

const ready = await requireService('postgres', 'pgbouncer');

/** The server process a new client's first statement runs on. */
async function backendPid(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
  } finally {
    await client.end();
  }
}

describe.runIf(ready)('startPgBouncer', () => {
  it('pools in transaction mode, where two clients share one server connection, and stops leaving no process or folder behind', async () => {
    const db = await createTestDatabase('helpers_pgbouncer');
    const bouncer = await startPgBouncer({ mode: 'transaction' });
    try {
      const a = new pg.Client({ connectionString: bouncer.url(db.name) });
      const b = new pg.Client({ connectionString: bouncer.url(db.name) });
      await Promise.all([a.connect(), b.connect()]);
      try {
        const [first, second] = [
          (await a.query('SELECT pg_backend_pid() AS pid')).rows[0].pid,
          (await b.query('SELECT pg_backend_pid() AS pid')).rows[0].pid,
        ];
        expect(second).toBe(first);
        // PgBouncer answers the login with a process id of its own.
        expect((a as unknown as { processID: number }).processID).not.toBe(first);
        expect((await a.query('SELECT current_database() AS name')).rows[0].name).toBe(db.name);
      } finally {
        await Promise.all([a.end(), b.end()]);
      }
      expect(bouncer.output()).toContain('listening on 127.0.0.1');
    } finally {
      await bouncer.stop();
      await db.drop();
    }
    expect(() => process.kill(bouncer.pid, 0)).toThrow();
    expect(existsSync(bouncer.dir)).toBe(false);
  });

  it('keeps a server connection for each client in session mode', async () => {
    const db = await createTestDatabase('helpers_pgbouncer');
    const bouncer = await startPgBouncer({ mode: 'session', poolSize: 2 });
    try {
      const url = bouncer.url(db.name);
      const held = new pg.Client({ connectionString: url });
      await held.connect();
      try {
        const mine = (await held.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
        expect(await backendPid(url)).not.toBe(mine);
      } finally {
        await held.end();
      }
    } finally {
      await bouncer.stop();
      await db.drop();
    }
  });
});
