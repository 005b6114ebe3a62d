// createPool against the real server: timeouts, verify, dropped connections, acquire timeout, leaks, slow queries.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTestDatabase,
  type RunningPgBouncer,
  requireService,
  startPgBouncer,
  type TestDatabase,
} from '@bulwark/test-utils';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin, eventually, type StrippingProxy, startStrippingProxy } from '../test/support.js';
import { createDb } from './db.js';
import type { LeakEvent, PoolErrorEvent, SlowQueryEvent } from './diagnostics.js';
import { DbConfigError } from './errors.js';
import { createPool, type SafePool } from './pool.js';
import { sql } from './sql.js';
import { withTransaction } from './transaction.js';

const hasPg = await requireService('postgres');
const hasPgBouncer = hasPg && (await requireService('pgbouncer'));

function listen<T>(name: string): { events: T[]; stop(): void } {
  const events: T[] = [];
  const handler = (message: unknown) => events.push(message as T);
  subscribe(name, handler);
  return { events, stop: () => unsubscribe(name, handler) };
}

const silent = { warn: () => {} };

describe('createPool options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-db-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const nodeEnv = process.env.NODE_ENV;
  afterEach(() => {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  });

  it('refuses a misspelled option and suggests the right name', () => {
    expect(() => createPool({ statementTimeout: 1000 } as never)).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_DB_UNKNOWN_OPTION',
        message: expect.stringContaining('`statementTimeoutMs`'),
      }),
    );
  });

  it('refuses a connection string passed instead of an options object', () => {
    expect(() => createPool('postgres://localhost/app' as never)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_DB_INVALID_OPTION' }),
    );
  });

  it.each([
    ['statementTimeoutMs', 0],
    ['statementTimeoutMs', -1],
    ['lockTimeoutMs', 1.5],
    ['idleInTransactionTimeoutMs', '60s'],
    ['connectionTimeoutMs', 0],
  ])('refuses %s: %j, quoting the value and naming the fix', (name, value) => {
    let error: unknown;
    try {
      createPool({ [name]: value } as never);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DbConfigError);
    expect(error).toMatchObject({ code: 'ERR_BULWARK_DB_INVALID_TIMEOUT' });
    expect((error as Error).message).toContain(`${name}: ${JSON.stringify(value)}`);
    expect((error as Error).message).toMatch(/Use a whole number/);
  });

  it('refuses a pool size that is not a positive whole number', () => {
    expect(() => createPool({ max: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_DB_INVALID_POOL_SIZE' }),
    );
  });

  it('refuses password and passwordFile together, without quoting the password', () => {
    const file = join(dir, 'pw');
    writeFileSync(file, 's3cret-value\n', { mode: 0o600 });
    let error: Error | undefined;
    try {
      createPool({ password: 'hunter2-secret', passwordFile: file });
    } catch (err) {
      error = err as Error;
    }
    expect(error).toMatchObject({ code: 'ERR_BULWARK_DB_PASSWORD_CONFLICT' });
    expect(error?.message).not.toContain('hunter2-secret');
  });

  it('refuses a password file that cannot be read', () => {
    expect(() => createPool({ passwordFile: join(dir, 'missing') })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_DB_PASSWORD_FILE' }),
    );
  });

  it('refuses a passwordFile when the connection string already holds a password', () => {
    const file = join(dir, 'pw2');
    writeFileSync(file, 'x', { mode: 0o600 });
    expect(() =>
      createPool({ connectionString: 'postgres://app:inline@db/app', passwordFile: file }),
    ).toThrow(expect.objectContaining({ code: 'ERR_BULWARK_DB_PASSWORD_CONFLICT' }));
  });

  it('warns when the password file is readable by other users', () => {
    const file = join(dir, 'pw-open');
    writeFileSync(file, 'x');
    chmodSync(file, 0o644);
    const warnings: string[] = [];
    createPool({ passwordFile: file, logger: { warn: (message) => warnings.push(message) } });
    expect(warnings.join('\n')).toMatch(/can be read by other users/);
  });

  it('refuses rejectUnauthorized: false in production', () => {
    process.env.NODE_ENV = 'production';
    expect(() => createPool({ host: 'db.internal', ssl: { rejectUnauthorized: false } })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_DB_SSL_INSECURE' }),
    );
  });

  it('refuses sslmode=no-verify in the connection string in production', () => {
    process.env.NODE_ENV = 'production';
    expect(() =>
      createPool({ connectionString: 'postgres://app@db.internal/app?sslmode=no-verify' }),
    ).toThrow(expect.objectContaining({ code: 'ERR_BULWARK_DB_SSL_INSECURE' }));
  });

  it('verifies the server certificate and host name by default in production', () => {
    process.env.NODE_ENV = 'production';
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const pool = createPool({ host: 'db.internal', sslCaFile: caFile });
    expect(pool.options.ssl).toMatchObject({
      rejectUnauthorized: true,
      ca: expect.stringContaining('BEGIN CERTIFICATE'),
    });
    const withoutCa = createPool({ host: 'db.internal' });
    expect(withoutCa.options.ssl).toEqual({ rejectUnauthorized: true });
  });

  it('refuses an ssl option that the connection string would silently override', () => {
    expect(() =>
      createPool({ connectionString: 'postgres://app@db/app?sslmode=require', ssl: true }),
    ).toThrow(expect.objectContaining({ code: 'ERR_BULWARK_DB_SSL_CONFLICT' }));
  });

  it('refuses an unreadable CA file', () => {
    expect(() => createPool({ sslCaFile: join(dir, 'nope.pem') })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_DB_SSL_CA_FILE' }),
    );
  });

  it('refuses an unknown pgbouncer mode', () => {
    expect(() => createPool({ pgbouncer: 'statement' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_DB_INVALID_OPTION' }),
    );
  });

  it('sends the timeouts as startup parameters, with an acquire timeout that is never infinite', () => {
    const pool = createPool({});
    expect(pool.options).toMatchObject({
      statement_timeout: 30_000,
      lock_timeout: 5_000,
      idle_in_transaction_session_timeout: 60_000,
      connectionTimeoutMillis: 5_000,
      maxLifetimeSeconds: 1800,
      application_name: 'bulwark',
    });
    expect(pool.listenerCount('error')).toBeGreaterThan(0);
  });

  it('sends no timeout startup parameters in PgBouncer transaction mode', () => {
    const pool = createPool({ pgbouncer: 'transaction' });
    expect(pool.options.statement_timeout).toBeUndefined();
    expect(pool.options.lock_timeout).toBeUndefined();
  });
});

describe.runIf(hasPg)('createPool against PostgreSQL', () => {
  let database: TestDatabase;
  let proxy: StrippingProxy;
  const pools: SafePool[] = [];
  const make = (options: Parameters<typeof createPool>[0] = {}) => {
    const pool = createPool({ connectionString: database.url, logger: silent, ...options });
    pools.push(pool);
    return pool;
  };

  beforeAll(async () => {
    database = await createTestDatabase('dbsafety_pool');
    proxy = await startStrippingProxy();
  });
  afterAll(async () => {
    await Promise.all(pools.map((pool) => (pool.ending ? undefined : pool.end())));
    await proxy?.close();
    await database?.drop();
  });

  it('cancels a statement running past statementTimeoutMs with SQLSTATE 57014 and stays usable', async () => {
    const pool = make({ statementTimeoutMs: 200, max: 2 });
    const db = createDb(pool);
    await expect(db.query(sql`SELECT pg_sleep(1)`)).rejects.toMatchObject({ code: '57014' });
    await expect(pool.query('SELECT pg_sleep(1)')).rejects.toMatchObject({ code: '57014' });
    expect(await db.one(sql`SELECT ${41}::int + 1 AS answer`)).toEqual({ answer: 42 });
    expect(pool.totalCount).toBeLessThanOrEqual(2);
    expect(pool.waitingCount).toBe(0);
  });

  it('verify() reads back every timeout from the server', async () => {
    const pool = make({
      statementTimeoutMs: 1234,
      lockTimeoutMs: 567,
      idleInTransactionTimeoutMs: 8910,
    });
    await expect(pool.verify()).resolves.toEqual({
      statementTimeoutMs: 1234,
      lockTimeoutMs: 567,
      idleInTransactionTimeoutMs: 8910,
    });
  });

  it('verify() fails loudly when a proxy dropped the timeouts', async () => {
    const pool = make({ connectionString: proxy.url(database.name), statementTimeoutMs: 1234 });
    const failure = await pool.verify().then(
      () => undefined,
      (err: unknown) => err as Error & { code: string },
    );
    expect(failure?.code).toBe('ERR_BULWARK_DB_TIMEOUTS_NOT_APPLIED');
    expect(failure?.message).toContain(
      'statement_timeout is 0 (no limit) on the server, not 1234 ms',
    );
    expect(failure?.message).toMatch(/PgBouncer/);
  });

  it('survives pg_terminate_backend on an idle connection and reconnects', async () => {
    const pool = make({ max: 1, applicationName: 'dbsafety-idle-kill' });
    const errors = listen<PoolErrorEvent>('bulwark:db:pool-error');
    try {
      const { rows } = await pool.query('SELECT pg_backend_pid() AS pid');
      const pid = rows[0].pid as number;
      expect(pool.idleCount).toBe(1);
      await asAdmin((admin) => admin.query('SELECT pg_terminate_backend($1)', [pid]));
      expect(await eventually(() => pool.totalCount === 0)).toBe(true);
      expect(errors.events).toContainEqual(
        expect.objectContaining({ code: '57P01', checkedOut: false, pid }),
      );
      const again = await pool.query('SELECT pg_backend_pid() AS pid');
      expect(again.rows[0].pid).not.toBe(pid);
    } finally {
      errors.stop();
    }
  });

  it('survives pg_terminate_backend on a checked-out connection, and the pool recovers', async () => {
    const pool = make({ max: 1 });
    const errors = listen<PoolErrorEvent>('bulwark:db:pool-error');
    try {
      const client = await pool.connect();
      const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
      const pid = rows[0].pid as number;
      await asAdmin((admin) => admin.query('SELECT pg_terminate_backend($1)', [pid]));
      expect(await eventually(() => errors.events.some((event) => event.pid === pid))).toBe(true);
      expect(errors.events).toContainEqual(expect.objectContaining({ checkedOut: true, pid }));
      await expect(client.query('SELECT 1')).rejects.toThrow();
      client.release(true);
      const again = await pool.query('SELECT 1 AS ok');
      expect(again.rows).toEqual([{ ok: 1 }]);
    } finally {
      errors.stop();
    }
  });

  it('survives the server closing a session left idle in a transaction', async () => {
    const pool = make({ max: 1, idleInTransactionTimeoutMs: 100 });
    const errors = listen<PoolErrorEvent>('bulwark:db:pool-error');
    try {
      const client = await pool.connect();
      await client.query('BEGIN');
      expect(await eventually(() => errors.events.length > 0)).toBe(true);
      expect(errors.events[0]).toMatchObject({ code: '25P03', checkedOut: true });
      client.release(true);
      expect((await pool.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      errors.stop();
    }
  });

  it('fails a checkout with ERR_BULWARK_DB_ACQUIRE_TIMEOUT when the pool is exhausted', async () => {
    const pool = make({ max: 1, connectionTimeoutMs: 150 });
    const held = await pool.connect();
    try {
      await expect(pool.connect()).rejects.toMatchObject({
        code: 'ERR_BULWARK_DB_ACQUIRE_TIMEOUT',
      });
      await expect(createDb(pool).query(sql`SELECT 1`)).rejects.toMatchObject({
        code: 'ERR_BULWARK_DB_ACQUIRE_TIMEOUT',
      });
      expect(pool.waitingCount).toBe(0);
    } finally {
      held.release();
    }
    expect((await pool.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });

  it('reports a client held past leakWarningMs with the stack of the code that took it', async () => {
    const warnings: Record<string, unknown>[] = [];
    const pool = make({
      leakWarningMs: 60,
      logger: { warn: (_message, meta) => warnings.push(meta ?? {}) },
    });
    const leaks = listen<LeakEvent>('bulwark:db:leak');
    try {
      const client = await pool.connect();
      expect(await eventually(() => leaks.events.length > 0)).toBe(true);
      client.release();
      expect(leaks.events[0]?.heldMs).toBeGreaterThanOrEqual(60);
      expect(leaks.events[0]?.stack).toContain('pool.test.ts');
      expect(warnings).toContainEqual(expect.objectContaining({ code: 'BULWARK_DB_LEAK' }));
    } finally {
      leaks.stop();
    }
  });

  it('names the caller of withTransaction in the leak stack', async () => {
    const pool = make({ leakWarningMs: 60 });
    const leaks = listen<LeakEvent>('bulwark:db:leak');
    try {
      await withTransaction(pool, async () => {
        await eventually(() => leaks.events.length > 0);
      });
      expect(leaks.events[0]?.stack).toContain('pool.test.ts');
    } finally {
      leaks.stop();
    }
  });

  it('does not report a client released in time', async () => {
    const pool = make({ leakWarningMs: 5000 });
    const leaks = listen<LeakEvent>('bulwark:db:leak');
    try {
      const client = await pool.connect();
      client.release();
      await pool.query('SELECT 1');
      expect(leaks.events).toEqual([]);
    } finally {
      leaks.stop();
    }
  });

  it('reports slow queries with parameter types only, and keeps SQL out of the log line', async () => {
    const logged: { message: string; meta: Record<string, unknown> }[] = [];
    const pool = make({
      slowQueryMs: 50,
      logger: { warn: (message, meta) => logged.push({ message, meta: meta ?? {} }) },
    });
    const slow = listen<SlowQueryEvent>('bulwark:db:slow-query');
    try {
      const secret = 'card-4111111111111111';
      await createDb(pool).query(
        sql`SELECT pg_sleep(0.1), ${secret}::text AS card, ${7}::int AS n`,
      );
      await pool.query('SELECT 1');
      expect(slow.events).toHaveLength(1);
      const [event] = slow.events;
      expect(event).toMatchObject({
        params: ['string', 'number'],
        text: expect.stringContaining('pg_sleep(0.1), $1::text'),
      });
      expect(event?.durationMs).toBeGreaterThanOrEqual(50);
      expect(JSON.stringify(event)).not.toContain(secret);
      expect(logged).toHaveLength(1);
      expect(JSON.stringify(logged)).not.toContain(secret);
      expect(JSON.stringify(logged)).not.toContain('pg_sleep');
      expect(logged[0]?.meta).toMatchObject({
        code: 'BULWARK_DB_SLOW_QUERY',
        queryId: event?.queryId,
      });
    } finally {
      slow.stop();
    }
  });

  describe('connection-string parameters', () => {
    const nodeEnv = process.env.NODE_ENV;
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-db-cs-'));
    afterEach(() => {
      if (nodeEnv === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = nodeEnv;
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const withParams = (params: string) => {
      const url = new URL(database.url);
      url.search = params;
      return url.href;
    };
    const failure = (options: Parameters<typeof createPool>[0]) => {
      try {
        make(options);
      } catch (err) {
        return err as DbConfigError;
      }
      return undefined;
    };

    it('refuses ?ssl=0 in production instead of connecting in plaintext', async () => {
      const plain = make({ connectionString: withParams('ssl=0') });
      expect(
        (await plain.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows,
      ).toEqual([{ ssl: false }]);
      process.env.NODE_ENV = 'production';
      const error = failure({ connectionString: withParams('ssl=0') });
      expect(error).toBeInstanceOf(DbConfigError);
      expect(error).toMatchObject({ code: 'ERR_BULWARK_DB_SSL_INSECURE' });
      expect(error?.message).toContain('ssl=0');
      expect(error?.message).toMatch(/plaintext/);
      expect(error?.message).toMatch(/sslmode=verify-full/);
    });

    it.each([
      ['ssl=no-verify', /accepts any certificate/],
      ['uselibpqcompat=true&sslmode=require', /accepts any certificate/],
      ['sslmode=require&uselibpqcompat=true&sslrootcert=CA', /host name/],
      ['ssl=', /plaintext/],
      ['sslmode=disable', /plaintext/],
      ['sslmode=prefer', /sslmode=prefer/],
    ])(
      'refuses ?%s in production, which pg reads as TLS without full verification',
      (params, effect) => {
        const caFile = join(dir, 'ca.pem');
        writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
        process.env.NODE_ENV = 'production';
        const error = failure({ connectionString: withParams(params.replace('CA', caFile)) });
        expect(error).toMatchObject({ code: 'ERR_BULWARK_DB_SSL_INSECURE' });
        expect(error?.message).toMatch(effect);
      },
    );

    it('accepts a connection string that verifies the server in production', () => {
      const caFile = join(dir, 'ca-ok.pem');
      writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
      process.env.NODE_ENV = 'production';
      expect(() => make({ connectionString: withParams('ssl=true') })).not.toThrow();
      expect(() =>
        make({ connectionString: withParams(`sslmode=verify-full&sslrootcert=${caFile}`) }),
      ).not.toThrow();
    });

    it('refuses ?sslmode=verify-full&sslmode=disable, where pg would use the second and connect in plaintext', () => {
      for (const env of ['production', 'development']) {
        process.env.NODE_ENV = env;
        const error = failure({
          connectionString: withParams('sslmode=verify-full&sslmode=disable'),
        });
        expect(error).toMatchObject({ code: 'ERR_BULWARK_DB_CONNECTION_PARAMETER' });
        expect(error?.message).toContain('sslmode more than once');
      }
    });

    it('refuses a TLS parameter the ssl option would be silently replaced by', () => {
      const caFile = join(dir, 'ca-conflict.pem');
      writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
      for (const params of ['ssl=true', 'sslnegotiation=direct', `sslrootcert=${caFile}`]) {
        expect(failure({ connectionString: withParams(params), sslCaFile: caFile })).toMatchObject({
          code: 'ERR_BULWARK_DB_SSL_CONFLICT',
        });
      }
    });

    it('refuses an ssl value pg does not understand, and a TLS file it cannot read', () => {
      expect(failure({ connectionString: withParams('ssl=false') })).toMatchObject({
        code: 'ERR_BULWARK_DB_CONNECTION_PARAMETER',
        message: expect.stringContaining('ssl=false'),
      });
      expect(
        failure({ connectionString: withParams(`sslrootcert=${join(dir, 'missing.pem')}`) }),
      ).toMatchObject({
        code: 'ERR_BULWARK_DB_INVALID_OPTION',
        message: expect.stringContaining('ENOENT'),
      });
    });

    it('warns outside production when the connection string turns certificate checks off', () => {
      const warnings: string[] = [];
      make({
        connectionString: withParams('sslmode=require&uselibpqcompat=true'),
        logger: { warn: (message) => warnings.push(message) },
      });
      expect(warnings.join('\n')).toMatch(/sslmode=require&uselibpqcompat=true accepts any/);
    });

    it('refuses ?statement_timeout=0&lock_timeout=0 instead of letting them lift the pool timeouts', async () => {
      // What the parameters did before: pg sends them over the pool's own startup parameters.
      const raw = new pg.Pool({
        connectionString: withParams('statement_timeout=0&lock_timeout=0'),
        statement_timeout: 1000,
        lock_timeout: 1000,
      });
      try {
        const { rows } = await raw.query(
          "SELECT current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt",
        );
        expect(rows[0]).toEqual({ st: '0', lt: '0' });
      } finally {
        await raw.end();
      }
      const error = failure({
        connectionString: withParams('statement_timeout=0&lock_timeout=0'),
        statementTimeoutMs: 1000,
      });
      expect(error).toMatchObject({ code: 'ERR_BULWARK_DB_CONNECTION_PARAMETER' });
      expect(error?.message).toContain('sets statement_timeout');
      expect(error?.message).toContain('statementTimeoutMs');
    });

    it.each([
      ['lock_timeout=0', 'lockTimeoutMs'],
      ['idle_in_transaction_session_timeout=0', 'idleInTransactionTimeoutMs'],
      ['query_timeout=0', 'queryTimeoutMs'],
      ['options=-c%20statement_timeout%3D0', 'ALTER ROLE'],
    ])(
      'refuses ?%s, which would override a pool setting, and names %s as the fix',
      (params, fix) => {
        const error = failure({ connectionString: withParams(params) });
        expect(error).toMatchObject({ code: 'ERR_BULWARK_DB_CONNECTION_PARAMETER' });
        expect(error?.message).toContain(fix);
      },
    );

    it('keeps the pool timeouts, and verify() passes, with harmless parameters in the connection string', async () => {
      const pool = make({
        connectionString: withParams('application_name=dbsafety-params'),
        statementTimeoutMs: 1234,
      });
      await expect(pool.verify()).resolves.toMatchObject({ statementTimeoutMs: 1234 });
    });

    it('refuses ?password= instead of letting it win over passwordFile', () => {
      const file = join(dir, 'pw');
      writeFileSync(file, 'from-file\n', { mode: 0o600 });
      const withFile = failure({
        connectionString: withParams('password=UrlSecret99'),
        passwordFile: file,
      });
      expect(withFile).toMatchObject({ code: 'ERR_BULWARK_DB_PASSWORD_CONFLICT' });
      expect(withFile?.message).not.toContain('UrlSecret99');
      const alone = failure({ connectionString: withParams('password=UrlSecret99') });
      expect(alone).toMatchObject({ code: 'ERR_BULWARK_DB_CONNECTION_PARAMETER' });
      expect(alone?.message).toContain('passwordFile');
      expect(alone?.message).not.toContain('UrlSecret99');
    });

    it('keeps the password out of the message when connectionString is a URL object', () => {
      const url = new URL(database.url);
      url.password = 'S3cretPw';
      const error = failure({ connectionString: url as never });
      expect(error).toMatchObject({ code: 'ERR_BULWARK_DB_INVALID_OPTION' });
      expect(error?.message).not.toContain('S3cretPw');
      expect(error?.message).toContain(':***@');
      expect(() => createPool(url as never)).toThrow(
        expect.objectContaining({
          code: 'ERR_BULWARK_DB_INVALID_OPTION',
          message: expect.not.stringContaining('S3cretPw'),
        }),
      );
      const wrongType = failure({ connectionString: { href: url.href } as never });
      expect(wrongType).toMatchObject({ code: 'ERR_BULWARK_DB_INVALID_OPTION' });
      expect(wrongType?.message).toContain('an object');
      expect(wrongType?.message).not.toContain('S3cretPw');
    });

    it('keeps the password out of every connection-string and password-file error', () => {
      process.env.NODE_ENV = 'production';
      const url = new URL(database.url);
      url.password = 'S3cretPw';
      for (const params of ['ssl=0', 'ssl=maybe', 'statement_timeout=0', 'a=1&a=2']) {
        url.search = params;
        const error = failure({ connectionString: url.href });
        expect(error).toBeInstanceOf(DbConfigError);
        expect(error?.message).not.toContain('S3cretPw');
      }
      const misplaced = failure({ passwordFile: 'S3cretPw' });
      expect(misplaced).toMatchObject({ code: 'ERR_BULWARK_DB_PASSWORD_FILE' });
      expect(misplaced?.message).not.toContain('S3cretPw');
      const unreadable = failure({ connectionString: 'postgres://app:S3cretPw@db:bad-port/app' });
      expect(unreadable).toMatchObject({ code: 'ERR_BULWARK_DB_INVALID_OPTION' });
      expect(unreadable?.message).not.toContain('S3cretPw');
    });
  });

  it('reads the password file again for every new connection, so a rotated secret is picked up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-db-pw-'));
    const file = join(dir, 'password');
    writeFileSync(file, 'first\n', { mode: 0o600 });
    const role = `bulwark_pw_${Math.random().toString(16).slice(2, 10)}`;
    await asAdmin((admin) => admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'first'`));
    try {
      const url = new URL(database.url);
      url.username = role;
      const pool = make({ connectionString: url.toString(), passwordFile: file, max: 1 });
      expect((await pool.query('SELECT current_user AS u')).rows[0].u).toBe(role);
      await pool.end();
      writeFileSync(file, 'second\n', { mode: 0o600 });
      const password = pool.options.password as () => Promise<string>;
      expect(await password()).toBe('second');
    } finally {
      await asAdmin((admin) => admin.query(`DROP ROLE IF EXISTS ${role}`));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.runIf(hasPgBouncer)('createPool behind PgBouncer', () => {
  // `plain` has no timeouts of its own; in `limited` the role carries them, as transaction
  // pooling needs for statements outside a transaction.
  let plain: TestDatabase;
  let limited: TestDatabase;
  let transactionBouncer: RunningPgBouncer;
  let sessionBouncer: RunningPgBouncer;
  let droppingBouncer: RunningPgBouncer;
  const pools: SafePool[] = [];
  const make = (options: Parameters<typeof createPool>[0]) => {
    const pool = createPool({ logger: silent, ...options });
    pools.push(pool);
    return pool;
  };
  /** What a plain pg client through `url` sees, with the server process that answered. */
  const seen = async (url: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query(
        'SELECT pg_backend_pid() AS pid, current_setting($1) AS statement_timeout',
        ['statement_timeout'],
      );
      return rows[0] as { pid: number; statement_timeout: string };
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    [plain, limited] = await Promise.all([
      createTestDatabase('dbsafety_bouncer'),
      createTestDatabase('dbsafety_bouncer_role'),
    ]);
    await asAdmin(async (admin) => {
      for (const [name, value] of [
        ['statement_timeout', '10s'],
        ['lock_timeout', '2s'],
        ['idle_in_transaction_session_timeout', '30s'],
      ]) {
        await admin.query(
          `ALTER ROLE CURRENT_USER IN DATABASE "${limited.name}" SET ${name} = '${value}'`,
        );
      }
    });
    [transactionBouncer, sessionBouncer, droppingBouncer] = await Promise.all([
      startPgBouncer({ mode: 'transaction' }),
      startPgBouncer({ mode: 'session', poolSize: 2 }),
      startPgBouncer({
        mode: 'transaction',
        ignoreStartupParameters: [
          'extra_float_digits',
          'statement_timeout',
          'lock_timeout',
          'idle_in_transaction_session_timeout',
        ],
      }),
    ]);
  });
  afterAll(async () => {
    await Promise.all(pools.map((pool) => (pool.ending ? undefined : pool.end())));
    await Promise.all([
      transactionBouncer?.stop(),
      sessionBouncer?.stop(),
      droppingBouncer?.stop(),
    ]);
    await Promise.all([plain?.drop(), limited?.drop()]);
  });

  it('refuses the login through PgBouncer without the pgbouncer option, naming the option that fixes it', async () => {
    const pool = make({ connectionString: transactionBouncer.url(plain.name) });
    const failure = await pool.verify().then(
      () => undefined,
      (err: unknown) => err as Error & { code: string; cause: { code?: string } },
    );
    expect(failure?.code).toBe('ERR_BULWARK_DB_PGBOUNCER_MISMATCH');
    expect(failure?.message).toContain('startup parameter statement_timeout');
    expect(failure?.message).toContain("pgbouncer: 'transaction'");
    expect(failure?.cause).toMatchObject({ code: '08P01' });
    await expect(pool.query('SELECT 1')).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_PGBOUNCER_MISMATCH',
    });
  });

  it('refuses pgbouncer: false through a PgBouncer that drops the timeout startup parameters', async () => {
    const pool = make({ connectionString: droppingBouncer.url(plain.name) });
    await expect(pool.verify()).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_PGBOUNCER_MISMATCH',
      message: expect.stringContaining('connection pooler such as PgBouncer'),
    });
  });

  it("refuses pgbouncer: 'session' behind transaction pooling before any session SET reaches a server connection", async () => {
    const url = transactionBouncer.url(plain.name);
    const pool = make({ connectionString: url, pgbouncer: 'session', statementTimeoutMs: 4321 });
    await expect(pool.verify()).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_PGBOUNCER_MISMATCH',
      message: expect.stringContaining("Set pgbouncer: 'transaction'"),
    });
    expect((await seen(url)).statement_timeout).toBe('0');
  });

  it("applies the timeouts with SET on each connection in pgbouncer: 'session' mode, and the next client of that server connection starts without them or it is closed", async () => {
    const url = sessionBouncer.url(plain.name);
    const pool = make({
      connectionString: url,
      pgbouncer: 'session',
      statementTimeoutMs: 200,
      max: 1,
    });
    await expect(pool.verify()).resolves.toMatchObject({ statementTimeoutMs: 200 });
    expect((await pool.query('SHOW statement_timeout')).rows).toEqual([
      { statement_timeout: '200ms' },
    ]);
    // pg's pool closes a connection whose query failed; its replacement gets the SET too.
    await expect(pool.query('SELECT pg_sleep(1)')).rejects.toMatchObject({ code: '57014' });
    const { rows } = await pool.query(
      `SELECT pg_backend_pid() AS pid, current_setting('statement_timeout') AS statement_timeout`,
    );
    expect(rows[0].statement_timeout).toBe('200ms');
    await pool.end();
    // Two clients at once take both of PgBouncer's server connections. The one the pool left is
    // among them once PgBouncer has seen the pool's client leave and run DISCARD ALL on it,
    // unless PgBouncer closed it instead.
    const clients = [
      new pg.Client({ connectionString: url }),
      new pg.Client({ connectionString: url }),
    ];
    await Promise.all(clients.map((client) => client.connect()));
    try {
      const next = await Promise.all(
        clients.map(async (client) => {
          const answer = await client.query(
            `SELECT pg_backend_pid() AS pid, current_setting('statement_timeout') AS statement_timeout`,
          );
          return answer.rows[0];
        }),
      );
      expect(next.map((row) => row.statement_timeout)).toEqual(['0', '0']);
      if (!next.some((row) => row.pid === rows[0].pid)) {
        const gone = async () =>
          (
            await asAdmin((admin) =>
              admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [rows[0].pid]),
            )
          ).rowCount === 0;
        expect(await eventually(gone)).toBe(true);
      }
    } finally {
      await Promise.all(clients.map((client) => client.end()));
    }
  });

  it("in pgbouncer: 'transaction' mode, refuses a server whose sessions have no timeouts", async () => {
    const pool = make({
      connectionString: transactionBouncer.url(plain.name),
      pgbouncer: 'transaction',
    });
    await expect(pool.verify()).rejects.toMatchObject({
      code: 'ERR_BULWARK_DB_TIMEOUTS_NOT_APPLIED',
      message: expect.stringContaining("ALTER ROLE <app user> SET statement_timeout = '30000ms'"),
    });
  });

  it("in pgbouncer: 'transaction' mode, verify() passes once the role carries the timeouts", async () => {
    const pool = make({
      connectionString: transactionBouncer.url(limited.name),
      pgbouncer: 'transaction',
      statementTimeoutMs: 10_000,
      lockTimeoutMs: 2000,
      idleInTransactionTimeoutMs: 30_000,
    });
    await expect(pool.verify()).resolves.toEqual({
      statementTimeoutMs: 10_000,
      lockTimeoutMs: 2000,
      idleInTransactionTimeoutMs: 30_000,
    });
  });

  it("in pgbouncer: 'transaction' mode, sets the timeouts inside each helper transaction only", async () => {
    const pool = make({
      connectionString: transactionBouncer.url(limited.name),
      pgbouncer: 'transaction',
      statementTimeoutMs: 300,
      lockTimeoutMs: 100,
      idleInTransactionTimeoutMs: 1000,
    });
    const settings = async (client: pg.ClientBase) =>
      (
        await client.query(
          `SELECT current_setting('statement_timeout') AS statement, current_setting('lock_timeout') AS lock, current_setting('idle_in_transaction_session_timeout') AS idle`,
        )
      ).rows[0];
    const inside = { statement: '300ms', lock: '100ms', idle: '1s' };
    expect(await withTransaction(pool, settings)).toEqual(inside);
    const client = await pool.connect();
    try {
      expect(await withTransaction(client, settings)).toEqual(inside);
      expect(await settings(client)).toEqual({ statement: '10s', lock: '2s', idle: '30s' });
    } finally {
      client.release();
    }
    await expect(
      withTransaction(pool, (tx) => tx.query('SELECT pg_sleep(2)')),
    ).rejects.toMatchObject({ code: '57014' });
  });
});
