// Test support: an admin connection to the test server, a suite's own database and pool, and a proxy that drops startup parameters like PgBouncer.
import { connect, createServer, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { createTestDatabase, SERVICES, type TestDatabase } from '@bulwark/test-utils';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { createDb, type Db } from '../src/db.js';
import { createPool, type SafePool } from '../src/pool.js';

/** A logger that drops the pool's warnings. */
export const silent = { warn: () => {} };

/** Runs `fn` on a fresh superuser connection to `url` (or the server's default database). */
export async function asAdmin<T>(
  fn: (client: pg.Client) => Promise<T>,
  url: string = SERVICES.postgres.url,
): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** What `suiteDatabase()` hands its `ready` callback once the suite's database is up. */
export interface SuiteDatabase {
  database: TestDatabase;
  pool: SafePool;
  db: Db;
}

/**
 * Gives the calling suite a throwaway database `dbsafety_<label>`, a createPool() pool of `max`
 * connections on it (application_name `dbsafety-<label>`, warnings dropped) and a Db on that
 * pool, before its tests: `ready` receives them. After the tests the pool ends and the database
 * is dropped.
 */
export function suiteDatabase(
  label: string,
  max: number,
  ready: (suite: SuiteDatabase) => Promise<void> | void,
): void {
  let database: TestDatabase | undefined;
  let pool: SafePool | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(`dbsafety_${label}`);
    pool = createPool({
      connectionString: database.url,
      max,
      logger: silent,
      applicationName: `dbsafety-${label}`,
    });
    await ready({ database, pool, db: createDb(pool) });
  });
  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });
}

/** Polls `check` until it returns true (every 20 ms, up to `timeoutMs`); returns the last answer. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 5000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await delay(20);
  }
}

const DROPPED = new Set([
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'options',
]);

/** Rewrites a StartupMessage without the parameters PgBouncer's ignore_startup_parameters drops. */
function stripStartup(message: Buffer): Buffer {
  const protocol = message.readInt32BE(4);
  if (protocol !== 196608) return message;
  const fields = message
    .subarray(8, message.length - 1)
    .toString('utf8')
    .split('\0');
  const kept: string[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (!DROPPED.has(fields[i]!)) kept.push(fields[i]!, fields[i + 1]!);
  }
  const body = Buffer.from(`${kept.join('\0')}\0\0`, 'utf8');
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(protocol, 4);
  return Buffer.concat([head, body]);
}

export interface StrippingProxy {
  port: number;
  /** Connection string for `database` through the proxy. */
  url(database: string): string;
  close(): Promise<void>;
}

/** A TCP proxy to the test server that silently drops timeout startup parameters. */
export async function startStrippingProxy(): Promise<StrippingProxy> {
  const target = new URL(SERVICES.postgres.url);
  const sockets = new Set<Socket>();
  const server = createServer((downstream) => {
    sockets.add(downstream);
    const upstream = connect({ host: target.hostname, port: Number(target.port || 5432) });
    sockets.add(upstream);
    const closeBoth = () => {
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on('error', closeBoth);
    upstream.on('error', closeBoth);
    downstream.on('close', closeBoth);
    upstream.on('close', closeBoth);
    let pending = Buffer.alloc(0);
    const first = (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length < 4 || pending.length < pending.readInt32BE(0)) return;
      downstream.off('data', first);
      const length = pending.readInt32BE(0);
      upstream.write(stripStartup(pending.subarray(0, length)));
      if (pending.length > length) upstream.write(pending.subarray(length));
      downstream.pipe(upstream);
    };
    downstream.on('data', first);
    upstream.pipe(downstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: (database) => `postgres://${target.username || 'postgres'}@127.0.0.1:${port}/${database}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
