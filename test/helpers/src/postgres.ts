// A throwaway PostgreSQL database per suite: created on demand, dropped (with its sessions) after.
import { randomBytes } from 'node:crypto';
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
      asAdmin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(
        () => {},
      ),
  };
}
