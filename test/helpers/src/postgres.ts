// A throwaway PostgreSQL database per suite: created on demand, dropped (with its sessions) after.
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { SERVICES } from './services.js';

export interface TestDatabase {
  /** Database name, `bulwark_<label>_<random>`. */
  name: string;
  /** Connection string for the new database. */
  url: string;
  /** Drops the database, terminating its remaining sessions. */
  drop(): Promise<void>;
}

async function asAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: SERVICES.postgres.url });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database on the test server. Call `drop()` in `afterAll`. */
export async function createTestDatabase(label = 'test'): Promise<TestDatabase> {
  const safeLabel = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 30);
  const name = `bulwark_${safeLabel}_${randomBytes(4).toString('hex')}`;
  await asAdmin((client) => client.query(`CREATE DATABASE "${name}"`));
  const url = new URL(SERVICES.postgres.url);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () =>
      asAdmin(async (client) => {
        // pg's pool.end() resolves before its sockets have closed; terminating those sessions
        // now would surface as an uncaught FATAL 57P01 in the suite. Let them leave first, then
        // force out only what is really left (a connection a test leaked).
        const deadline = Date.now() + 2000;
        while (Date.now() < deadline) {
          const { rows } = await client.query(
            'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
            [name],
          );
          if (rows[0].n === 0) break;
          await delay(25);
        }
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      }),
  };
}
