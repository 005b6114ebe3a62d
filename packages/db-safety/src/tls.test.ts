// TLS to PostgreSQL: typed errors for each way a server certificate is refused, for a server without TLS, and sslCrlFile, against real servers.
import { copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireService, SERVICES } from '@bulwark/test-utils';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin } from '../test/support.js';
import {
  createTestCa,
  type Issued,
  requirePostgresBinaries,
  startTlsPostgres,
  type TestCa,
  type TlsPostgres,
} from '../test/tls-postgres.js';
import { DbConfigError, DbSafetyError } from './errors.js';
import { type CreatePoolOptions, createPool } from './pool.js';
import { tlsConnectError } from './tls.js';

const DAY = 86_400_000;
const silent = { warn: () => {} };

describe('tlsConnectError', () => {
  it('leaves errors that are not about the server certificate alone', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
    });
    expect(tlsConnectError(refused)).toBeUndefined();
    expect(tlsConnectError(new Error('Connection terminated unexpectedly'))).toBeUndefined();
    expect(tlsConnectError(undefined)).toBeUndefined();
  });
});

const hasPg = await requireService('postgres');

describe.runIf(hasPg)('createPool against a PostgreSQL server without TLS', () => {
  const nodeEnv = process.env.NODE_ENV;
  const server = new URL(SERVICES.postgres.url);
  const urlWithPassword = (): string => {
    const url = new URL(server.href);
    url.password = 'hunter2';
    return url.href;
  };

  beforeAll(async () => {
    // The test service is the plain loopback PostgreSQL of a development machine.
    const { rows } = await asAdmin((admin) => admin.query<{ ssl: string }>('SHOW ssl'));
    expect(rows[0]?.ssl, 'the test PostgreSQL must run without TLS for this suite').toBe('off');
  });

  afterEach(() => {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  });

  const expectUnavailable = (error: unknown, production: boolean): void => {
    expect(error).toBeInstanceOf(DbSafetyError);
    expect(error).toMatchObject({
      code: 'ERR_BULWARK_DB_SSL_UNAVAILABLE',
      cause: expect.objectContaining({ message: 'The server does not support SSL connections' }),
    });
    const { message } = error as Error;
    expect(message).toContain(`The database server at "${server.hostname}" does not offer TLS`);
    expect(message).toContain('ssl = on');
    expect(message).toContain('sslCaFile');
    expect(message).not.toMatch(/rejectUnauthorized|no-verify|disable|prefer|ssl: false/);
    expect(message).not.toContain('hunter2');
    if (production) {
      expect(message).toContain('sslmode=verify-full');
      expect(message).toContain('run the app without NODE_ENV=production');
    } else {
      expect(message).not.toContain('NODE_ENV');
    }
  };

  it('refuses in production with ERR_BULWARK_DB_SSL_UNAVAILABLE naming the fix, not with pg\'s bare "does not support SSL" error, from verify(), the first checkout and a query', async () => {
    process.env.NODE_ENV = 'production';
    const pool = createPool({ connectionString: urlWithPassword(), max: 1, logger: silent });
    try {
      expectUnavailable(await pool.verify().catch((err: unknown) => err), true);
      expectUnavailable(await pool.connect().catch((err: unknown) => err), true);
      expectUnavailable(await pool.query('SELECT 1').catch((err: unknown) => err), true);
      const viaCallback = await new Promise<unknown>((resolve) => {
        pool.connect((err) => resolve(err));
      });
      expectUnavailable(viaCallback, true);
    } finally {
      await pool.end();
    }
  });

  it('refuses in production with ERR_BULWARK_DB_SSL_UNAVAILABLE when the host comes from the host option', async () => {
    process.env.NODE_ENV = 'production';
    const pool = createPool({
      host: server.hostname,
      port: Number(server.port || 5432),
      user: decodeURIComponent(server.username) || 'postgres',
      database: server.pathname.slice(1) || 'postgres',
      max: 1,
      logger: silent,
    });
    try {
      expectUnavailable(await pool.verify().catch((err: unknown) => err), true);
    } finally {
      await pool.end();
    }
  });

  it('refuses ssl: true outside production with ERR_BULWARK_DB_SSL_UNAVAILABLE, without the NODE_ENV hint', async () => {
    process.env.NODE_ENV = 'development';
    const pool = createPool({ connectionString: server.href, ssl: true, max: 1, logger: silent });
    try {
      expectUnavailable(await pool.verify().catch((err: unknown) => err), false);
    } finally {
      await pool.end();
    }
  });

  it('still connects in plaintext outside production when TLS is not asked for', async () => {
    delete process.env.NODE_ENV;
    const pool = createPool({ connectionString: server.href, max: 1, logger: silent });
    try {
      await pool.verify();
      const { rows } = await pool.query<{ ssl: boolean }>(
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
      );
      expect(rows).toEqual([{ ssl: false }]);
    } finally {
      await pool.end();
    }
  });
});

describe('createPool sslCrlFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-db-crl-'));
  let crlFile: string;

  beforeAll(() => {
    crlFile = createTestCa(join(dir, 'ca'), 'Bulwark DB CA').writeCrl(join(dir, 'ca.crl'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const codeOf = (options: CreatePoolOptions): string | undefined => {
    try {
      void createPool({ logger: silent, ...options }).end();
    } catch (err) {
      expect(err).toBeInstanceOf(DbConfigError);
      return (err as DbConfigError).code;
    }
    return undefined;
  };

  it('refuses a CRL file that cannot be read, or that holds no CRL', () => {
    expect(codeOf({ sslCrlFile: join(dir, 'missing.crl') })).toBe('ERR_BULWARK_DB_SSL_CRL_FILE');
    const notACrl = join(dir, 'ca', 'ca.crt');
    expect(codeOf({ sslCrlFile: notACrl })).toBe('ERR_BULWARK_DB_SSL_CRL_FILE');
    expect(codeOf({ sslCrlFile: '' })).toBe('ERR_BULWARK_DB_INVALID_OPTION');
  });

  it('refuses sslCrlFile with ssl: false, with ssl.crl, and next to TLS parameters in the connection string', () => {
    expect(codeOf({ sslCrlFile: crlFile, ssl: false })).toBe('ERR_BULWARK_DB_INVALID_OPTION');
    expect(codeOf({ sslCrlFile: crlFile, ssl: { crl: 'x' } })).toBe(
      'ERR_BULWARK_DB_INVALID_OPTION',
    );
    expect(
      codeOf({
        sslCrlFile: crlFile,
        connectionString: 'postgres://app@db.internal/app?sslmode=verify-full',
      }),
    ).toBe('ERR_BULWARK_DB_SSL_CONFLICT');
  });

  it('turns verified TLS on outside production, like sslCaFile', () => {
    const pool = createPool({ sslCrlFile: crlFile, logger: silent });
    const ssl = pool.options.ssl as { rejectUnauthorized?: boolean; crl?: unknown };
    expect(ssl.rejectUnauthorized).toBe(true);
    expect(String(ssl.crl)).toContain('-----BEGIN X509 CRL-----');
    void pool.end();
  });
});

const hasPostgres = requirePostgresBinaries();

describe.runIf(hasPostgres)('createPool against a PostgreSQL server with TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-db-tls-'));
  const hosts = ['localhost', '127.0.0.1'];
  let ca: TestCa;
  let server: TlsPostgres;
  const certs = {} as Record<
    'valid' | 'expired' | 'notYetValid' | 'wrongHost' | 'revoked' | 'selfSigned' | 'otherCa',
    Issued
  >;
  const crls = {} as Record<'current' | 'beforeRevocation' | 'expired' | 'otherCa', string>;

  beforeAll(async () => {
    ca = createTestCa(join(dir, 'ca'), 'Bulwark DB CA');
    // Another CA with the same name: only its key tells it apart.
    const other = createTestCa(join(dir, 'other'), 'Bulwark DB CA');
    certs.valid = ca.issue('valid', { cn: 'localhost', hosts });
    certs.expired = ca.issue('expired', {
      cn: 'localhost',
      hosts,
      notBefore: Date.now() - 10 * DAY,
      notAfter: Date.now() - 9 * DAY,
    });
    certs.notYetValid = ca.issue('not-yet-valid', {
      cn: 'localhost',
      hosts,
      notBefore: Date.now() + DAY,
      notAfter: Date.now() + 2 * DAY,
    });
    certs.wrongHost = ca.issue('wrong-host', { cn: 'db.example', hosts: ['db.example'] });
    certs.revoked = ca.issue('revoked', { cn: 'localhost', hosts });
    certs.selfSigned = ca.selfSigned('self-signed', { cn: 'localhost', hosts });
    certs.otherCa = other.issue('other-ca', { cn: 'localhost', hosts });
    crls.beforeRevocation = ca.writeCrl(join(dir, 'before-revocation.crl'));
    ca.revoke(certs.revoked);
    crls.current = ca.writeCrl(join(dir, 'current.crl'));
    crls.expired = ca.writeCrl(join(dir, 'expired.crl'), {
      lastUpdate: Date.now() - 3 * DAY,
      nextUpdate: Date.now() - DAY,
    });
    crls.otherCa = other.writeCrl(join(dir, 'other-ca.crl'));
    server = await startTlsPostgres(certs.valid);
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** What `pool.verify()` (a new connection) gives while the server presents `certificate`. */
  const verifyWith = async (
    certificate: Issued,
    options: CreatePoolOptions = {},
  ): Promise<unknown> => {
    await server.serve(certificate);
    const pool = createPool({
      host: '127.0.0.1',
      port: server.port,
      user: 'postgres',
      database: 'postgres',
      sslCaFile: ca.caFile,
      max: 1,
      logger: silent,
      ...options,
    });
    try {
      return await pool.verify().then(
        () => undefined,
        (err: unknown) => err,
      );
    } finally {
      await pool.end();
    }
  };

  it('connects over verified TLS to a server whose certificate is valid, with its CA and CRL given', async () => {
    await server.serve(certs.valid);
    const pool = createPool({
      host: '127.0.0.1',
      port: server.port,
      user: 'postgres',
      database: 'postgres',
      sslCaFile: ca.caFile,
      sslCrlFile: crls.current,
      max: 1,
    });
    try {
      await pool.verify();
      const { rows } = await pool.query<{ ssl: boolean }>(
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
      );
      expect(rows).toEqual([{ ssl: true }]);
    } finally {
      await pool.end();
    }
  });

  it('refuses a server whose certificate has expired with ERR_BULWARK_DB_SSL_CERT_EXPIRED', async () => {
    const error = await verifyWith(certs.expired);
    expect(error).toBeInstanceOf(DbSafetyError);
    expect(error).toMatchObject({
      code: 'ERR_BULWARK_DB_SSL_CERT_EXPIRED',
      cause: expect.objectContaining({ code: 'CERT_HAS_EXPIRED' }),
    });
  });

  it('refuses a server whose certificate is not valid yet with ERR_BULWARK_DB_SSL_CERT_NOT_YET_VALID', async () => {
    const error = await verifyWith(certs.notYetValid);
    expect(error).toMatchObject({
      code: 'ERR_BULWARK_DB_SSL_CERT_NOT_YET_VALID',
      cause: expect.objectContaining({ code: 'CERT_NOT_YET_VALID' }),
    });
  });

  it('refuses a server whose certificate the CRL in sslCrlFile lists with ERR_BULWARK_DB_SSL_CERT_REVOKED', async () => {
    const error = await verifyWith(certs.revoked, { sslCrlFile: crls.current });
    expect(error).toMatchObject({
      code: 'ERR_BULWARK_DB_SSL_CERT_REVOKED',
      cause: expect.objectContaining({ code: 'CERT_REVOKED' }),
    });
  });

  it('refuses a server whose certificate another CA with the same name issued with ERR_BULWARK_DB_SSL_CERT_UNTRUSTED', async () => {
    const error = await verifyWith(certs.otherCa);
    expect(error).toMatchObject({
      code: 'ERR_BULWARK_DB_SSL_CERT_UNTRUSTED',
      cause: expect.objectContaining({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
    });
  });

  it('refuses a server with a self-signed certificate with ERR_BULWARK_DB_SSL_CERT_UNTRUSTED', async () => {
    const error = await verifyWith(certs.selfSigned);
    expect(error).toMatchObject({
      code: 'ERR_BULWARK_DB_SSL_CERT_UNTRUSTED',
      cause: expect.objectContaining({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
    });
  });

  it('refuses a server whose certificate names another host with ERR_BULWARK_DB_SSL_HOSTNAME_MISMATCH, on a query too, and never shows the password', async () => {
    await server.serve(certs.wrongHost);
    const pool = createPool({
      connectionString: `postgres://postgres:hunter2@127.0.0.1:${server.port}/postgres`,
      sslCaFile: ca.caFile,
      max: 1,
    });
    try {
      const error = await pool.query('SELECT 1').catch((err: unknown) => err);
      expect(error).toBeInstanceOf(DbSafetyError);
      expect(error).toMatchObject({
        code: 'ERR_BULWARK_DB_SSL_HOSTNAME_MISMATCH',
        message: expect.stringContaining('"127.0.0.1"'),
        cause: expect.objectContaining({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' }),
      });
      expect((error as Error).message).not.toContain('hunter2');
    } finally {
      await pool.end();
    }
  });

  it('refuses a CRL that has expired or that another CA issued with ERR_BULWARK_DB_SSL_CRL_UNUSABLE', async () => {
    expect(await verifyWith(certs.valid, { sslCrlFile: crls.expired })).toMatchObject({
      code: 'ERR_BULWARK_DB_SSL_CRL_UNUSABLE',
      cause: expect.objectContaining({ code: 'CRL_HAS_EXPIRED' }),
    });
    expect(await verifyWith(certs.valid, { sslCrlFile: crls.otherCa })).toMatchObject({
      code: 'ERR_BULWARK_DB_SSL_CRL_UNUSABLE',
      cause: expect.objectContaining({ code: 'CRL_SIGNATURE_FAILURE' }),
    });
  });

  it('reads sslCrlFile again for each new connection, so a newly published CRL revokes without a restart', async () => {
    const crlFile = join(dir, 'published.crl');
    copyFileSync(crls.beforeRevocation, crlFile);
    const warnings: string[] = [];
    await server.serve(certs.revoked);
    const pool = createPool({
      host: '127.0.0.1',
      port: server.port,
      user: 'postgres',
      database: 'postgres',
      sslCaFile: ca.caFile,
      sslCrlFile: crlFile,
      max: 1,
      logger: { warn: (_message, meta) => warnings.push(String(meta?.code)) },
    });
    const newConnection = async (): Promise<unknown> => {
      const client = await pool.connect().catch((err: unknown) => err);
      if (client instanceof Error) return client;
      (client as { release(destroy: boolean): void }).release(true);
      return undefined;
    };
    try {
      expect(await newConnection()).toBeUndefined();
      copyFileSync(crls.current, crlFile);
      expect(await newConnection()).toMatchObject({ code: 'ERR_BULWARK_DB_SSL_CERT_REVOKED' });
      // A CRL being replaced (or gone) keeps the one read before, with a warning; never none.
      renameSync(crlFile, `${crlFile}.old`);
      expect(await newConnection()).toMatchObject({ code: 'ERR_BULWARK_DB_SSL_CERT_REVOKED' });
      writeFileSync(crlFile, 'half a CRL');
      expect(await newConnection()).toMatchObject({ code: 'ERR_BULWARK_DB_SSL_CERT_REVOKED' });
      expect(warnings).toEqual(['BULWARK_DB_SSL_CRL_FILE']);
    } finally {
      await pool.end();
    }
  });
});
