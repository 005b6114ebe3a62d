// createPool: a pg.Pool with server-side timeouts, error listeners, leak and slow-query reports, and verify().
import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { type ConnectionStringFacts, inspectConnectionString } from './connection-string.js';
import { channels, type DbLogger, warn } from './diagnostics.js';
import { DbConfigError, DbSafetyError } from './errors.js';
import { CheckoutTracker, captureSite } from './leaks.js';
import { invalidOption, rejectUnknownOptions, requireObject, timeoutOption } from './options.js';
import { instrumentClient } from './slow-queries.js';
import { crlReader, type TlsTarget, tlsConnectError, withCrl } from './tls.js';

/** Options of {@link createPool}. Connection fields not given fall back to `pg`'s `PG*` variables. */
export interface CreatePoolOptions {
  /** `postgres://user@host:5432/db`. Must not hold a password when `passwordFile` is used. */
  connectionString?: string;
  host?: string;
  port?: number;
  user?: string;
  database?: string;
  /** The password, or a function returning it. Prefer `passwordFile`. */
  password?: string | (() => string | Promise<string>);
  /**
   * A file holding the password (a Docker or Kubernetes secret). Read again for every new
   * connection, so a rotated secret is picked up without a restart. A trailing newline is ignored.
   */
  passwordFile?: string;
  /**
   * TLS. Default: `verify-full` (certificate and host name checked) when `NODE_ENV=production`,
   * off otherwise. `true` or `'verify-full'` turns it on; an object is passed to `tls.connect`.
   * `rejectUnauthorized: false` is refused in production.
   */
  ssl?: boolean | 'verify-full' | ConnectionOptions;
  /** A CA bundle (PEM) to verify the server's certificate against. */
  sslCaFile?: string;
  /**
   * A CRL (PEM) from the server certificate's CA: a certificate it lists is refused
   * (`ERR_BULWARK_DB_SSL_CERT_REVOKED`). Read again for every new connection, so a CRL the CA
   * publishes anew is picked up without a restart. Turns verified TLS on, like `sslCaFile`.
   */
  sslCrlFile?: string;
  /** Most connections the pool opens. Default 10. */
  max?: number;
  /** How long a checkout waits for a free connection before failing. Default 5000. Never infinite. */
  connectionTimeoutMs?: number;
  /** How long an unused connection stays open. Default 10000. */
  idleTimeoutMs?: number;
  /** Connections are replaced after this many seconds (after a failover, a credential change). Default 1800. */
  maxLifetimeSeconds?: number;
  /** `statement_timeout`: the server cancels any statement running longer. Default 30000. */
  statementTimeoutMs?: number;
  /** `lock_timeout`: the server gives up waiting for a lock after this long. Default 5000. */
  lockTimeoutMs?: number;
  /** `idle_in_transaction_session_timeout`: the server ends a session idle inside a transaction. Default 60000. */
  idleInTransactionTimeoutMs?: number;
  /**
   * Client-side limit on one query, for when the server cannot answer at all (a network
   * partition). Off by default (0): the server-side timeouts cover everything else.
   */
  queryTimeoutMs?: number;
  /** `application_name`, shown in `pg_stat_activity`. Default `'bulwark'`. */
  applicationName?: string;
  /**
   * How the app reaches PostgreSQL: PgBouncer's `pool_mode`, which a client cannot ask PgBouncer
   * for. `false` (default): directly, timeouts sent as startup parameters. `'session'`: through
   * PgBouncer in session mode, timeouts set with `SET` on each new connection. `'transaction'`:
   * through PgBouncer in transaction mode, nothing set per session; each helper transaction
   * starts with `set_config(..., true)`. A setting the connection contradicts is refused with
   * `ERR_BULWARK_DB_PGBOUNCER_MISMATCH`, at login or by `verify()`.
   */
  pgbouncer?: false | 'session' | 'transaction';
  /** Queries taking at least this long are reported on `bulwark:db:slow-query`. Default 1000. */
  slowQueryMs?: number;
  /** A client checked out this long is reported with the stack that took it. Default 30000; 0 turns it off. */
  leakWarningMs?: number;
  /** Let the process exit while only idle connections remain. Default false. */
  allowExitOnIdle?: boolean;
  /** Custom type parsers, passed to `pg`. */
  types?: pg.CustomTypesConfig;
  /** Winston-shaped logger for warnings. Default: `process.emitWarning`. */
  logger?: DbLogger;
}

/** The settings `verify()` found on the server, in milliseconds. */
export interface VerifiedSettings {
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
}

/** What the helpers in this package need to know about a pool made by {@link createPool}. */
export interface PoolSafety {
  readonly statementTimeoutMs: number;
  readonly lockTimeoutMs: number;
  readonly idleInTransactionTimeoutMs: number;
  readonly pgbouncer: false | 'session' | 'transaction';
  readonly slowQueryMs: number;
  readonly leakWarningMs: number;
  readonly logger: DbLogger | undefined;
}

const OPTION_NAMES = [
  'connectionString',
  'host',
  'port',
  'user',
  'database',
  'password',
  'passwordFile',
  'ssl',
  'sslCaFile',
  'sslCrlFile',
  'max',
  'connectionTimeoutMs',
  'idleTimeoutMs',
  'maxLifetimeSeconds',
  'statementTimeoutMs',
  'lockTimeoutMs',
  'idleInTransactionTimeoutMs',
  'queryTimeoutMs',
  'applicationName',
  'pgbouncer',
  'slowQueryMs',
  'leakWarningMs',
  'allowExitOnIdle',
  'types',
  'logger',
] as const;

const WHERE = 'createPool';
const SETTINGS = {
  statementTimeoutMs: 'statement_timeout',
  lockTimeoutMs: 'lock_timeout',
  idleInTransactionTimeoutMs: 'idle_in_transaction_session_timeout',
} as const;
const SETTINGS_SQL = `SELECT name, setting FROM pg_settings WHERE name IN ('statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout')`;
const BACKEND_PID_SQL = 'SELECT pg_backend_pid() AS pid';
/** PgBouncer's answer to a startup parameter it does not pass on. */
const UNSUPPORTED_PARAMETER = /unsupported startup parameter:\s*"?([A-Za-z_]+)/i;
const MISMATCH_FIX =
  "Set pgbouncer: 'transaction' on createPool (or 'session' when PgBouncer's pool_mode is session).";

const safetyOfPool = new WeakMap<
  pg.Pool,
  { safety: PoolSafety; clientConfig: pg.PoolConfig; tls: TlsTarget }
>();
/** The pool settings of each connection a {@link SafePool} opened, for a client passed on its own. */
const safetyOfClient = new WeakMap<pg.ClientBase, PoolSafety>();

/** True for a `pg.Pool` (also one from another copy of `pg`), false for a client. */
export function isPool(value: unknown): value is pg.Pool {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as pg.Pool).connect === 'function' &&
    typeof (value as pg.Pool).query === 'function' &&
    typeof (value as pg.Pool).totalCount === 'number' &&
    !('release' in value)
  );
}

/** The safety settings of a pool made by {@link createPool}, or undefined for a plain `pg.Pool`. */
export function poolSafety(pool: pg.Pool): PoolSafety | undefined {
  return safetyOfPool.get(pool)?.safety;
}

/**
 * The safety settings of the pool a client was checked out from, when that pool was made by
 * {@link createPool}.
 */
export function clientSafety(client: pg.ClientBase): PoolSafety | undefined {
  return safetyOfClient.get(client);
}

/** The config a pool's clients are made from, for side connections (cancel requests). */
export function poolClientConfig(pool: pg.Pool): pg.ClientConfig | undefined {
  return safetyOfPool.get(pool)?.clientConfig ?? (pool as { options?: pg.ClientConfig }).options;
}

/**
 * `SELECT set_config(...)` for the three timeouts, `is_local` so they end with the transaction.
 * The values are whole numbers checked at construction, never input.
 */
export function localTimeoutsSql(
  timeouts: {
    statementTimeoutMs: number;
    lockTimeoutMs: number;
    idleInTransactionTimeoutMs: number;
  },
  local = true,
): string {
  const set = (name: string, ms: number) => `set_config('${name}', '${Math.trunc(ms)}', ${local})`;
  return `SELECT ${set(SETTINGS.statementTimeoutMs, timeouts.statementTimeoutMs)}, ${set(SETTINGS.lockTimeoutMs, timeouts.lockTimeoutMs)}, ${set(SETTINGS.idleInTransactionTimeoutMs, timeouts.idleInTransactionTimeoutMs)}`;
}

function isLoopback(host: string | undefined): boolean {
  if (!host) return true;
  return host === 'localhost' || host.startsWith('/') || host === '::1' || /^127\./.test(host);
}

function readCaFile(file: unknown): string {
  if (typeof file !== 'string' || file === '') {
    invalidOption(WHERE, 'sslCaFile', file, 'Give the path of a PEM CA bundle.');
  }
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new DbConfigError(
      'ERR_BULWARK_DB_SSL_CA_FILE',
      `${WHERE}: sslCaFile: cannot read ${JSON.stringify(file)} (${(err as NodeJS.ErrnoException).code ?? 'error'}). Point it at a readable PEM CA bundle.`,
    );
  }
}

const WEAK_SSLMODES = ['disable', 'allow', 'prefer', 'no-verify'];
const TLS_EFFECT = {
  off: 'turns TLS off, so queries and the password travel in plaintext',
  unverified: 'accepts any certificate, so anyone on the path can read and change queries',
  'no-host-check':
    "does not check the server's host name, so any server holding a certificate from the same CA is accepted",
} as const;

function resolveSsl(
  options: CreatePoolOptions,
  production: boolean,
  logger: DbLogger | undefined,
  facts: ConnectionStringFacts,
): pg.PoolConfig['ssl'] {
  const { ssl, sslCaFile, sslCrlFile } = options;
  // pg connects to the connection string's host when it names one, whatever the host option says.
  const host = facts.host ?? options.host;
  const ca = sslCaFile === undefined ? undefined : readCaFile(sslCaFile);
  const crl = sslCrlFile === undefined ? undefined : crlReader(WHERE, sslCrlFile, logger);
  if (facts.tls !== undefined) {
    // pg replaces the ssl option with what the connection string says, so only one may speak.
    if (ssl !== undefined || ca !== undefined || crl !== undefined) {
      throw new DbConfigError(
        'ERR_BULWARK_DB_SSL_CONFLICT',
        `${WHERE}: the connection string sets TLS (${facts.tlsParameters}) and the ssl, sslCaFile or sslCrlFile option is set too; pg lets the connection string win, so the option would be ignored. Keep one: remove those parameters from the connection string, or drop the option.`,
      );
    }
    const weakMode =
      facts.sslmode !== undefined && WEAK_SSLMODES.includes(facts.sslmode) ? facts.sslmode : '';
    if (production && (facts.tls !== 'verified' || weakMode)) {
      const effect =
        facts.tls === 'verified'
          ? `asks for sslmode=${weakMode}, which does not promise a verified server`
          : TLS_EFFECT[facts.tls];
      throw new DbConfigError(
        'ERR_BULWARK_DB_SSL_INSECURE',
        `${WHERE}: in production the connection string's ${facts.tlsParameters} ${effect}; it is refused. Remove it and let the pool verify the server (give its CA with sslCaFile), or use sslmode=verify-full with sslrootcert=<ca file>.`,
      );
    }
    if (facts.tls === 'unverified' || facts.tls === 'no-host-check') {
      warn(
        logger,
        'BULWARK_DB_SSL_UNVERIFIED',
        `${WHERE}: the connection string's ${facts.tlsParameters} ${TLS_EFFECT[facts.tls]}.`,
      );
    }
    return undefined;
  }
  const verified = (): ConnectionOptions =>
    withCrl(
      ca === undefined ? { rejectUnauthorized: true } : { rejectUnauthorized: true, ca },
      crl,
    );
  if (ssl === undefined) {
    if (!production && ca === undefined && crl === undefined) return undefined;
    return verified();
  }
  if (ssl === false) {
    if (ca !== undefined || crl !== undefined) {
      invalidOption(
        WHERE,
        'ssl',
        ssl,
        `${ca !== undefined ? 'sslCaFile' : 'sslCrlFile'} is set but ssl is false. Remove one of them.`,
      );
    }
    if (production && !isLoopback(host)) {
      warn(
        logger,
        'BULWARK_DB_PLAINTEXT',
        `${WHERE}: ssl is false in production; traffic to ${host} is not encrypted.`,
      );
    }
    return false;
  }
  if (ssl === true || ssl === 'verify-full') return verified();
  if (typeof ssl !== 'object' || ssl === null || Array.isArray(ssl)) {
    invalidOption(
      WHERE,
      'ssl',
      ssl,
      "Use true, 'verify-full', false, or a tls.connect options object.",
    );
  }
  if (ssl.rejectUnauthorized === false) {
    if (production) {
      throw new DbConfigError(
        'ERR_BULWARK_DB_SSL_INSECURE',
        `${WHERE}: ssl.rejectUnauthorized: false accepts any certificate, so anyone on the path can read and change queries; it is refused in production. Remove it and give the server's CA with sslCaFile.`,
      );
    }
    warn(
      logger,
      'BULWARK_DB_SSL_UNVERIFIED',
      `${WHERE}: ssl.rejectUnauthorized is false; the server's certificate is not checked.`,
    );
  }
  if (crl !== undefined && ssl.crl !== undefined) {
    invalidOption(
      WHERE,
      'sslCrlFile',
      sslCrlFile,
      'ssl.crl is set too, and only one of them can be checked against. Keep sslCrlFile, which is read again for new connections.',
    );
  }
  const merged: ConnectionOptions = { rejectUnauthorized: true, ...ssl };
  if (ca !== undefined && merged.ca === undefined) merged.ca = ca;
  return withCrl(merged, crl);
}

function resolvePassword(
  options: CreatePoolOptions,
  logger: DbLogger | undefined,
  facts: ConnectionStringFacts,
): pg.PoolConfig['password'] {
  const { password, passwordFile } = options;
  const inUrl = facts.hasPassword;
  if (facts.hasPasswordParameter) {
    // pg takes ?password= over the password and passwordFile options and the user-info part.
    if (password !== undefined || passwordFile !== undefined) {
      throw new DbConfigError(
        'ERR_BULWARK_DB_PASSWORD_CONFLICT',
        `${WHERE}: the connection string has a password parameter and ${password !== undefined ? 'password' : 'passwordFile'} is set too; pg would use the one in the connection string. Remove the password parameter from the connection string.`,
      );
    }
    throw new DbConfigError(
      'ERR_BULWARK_DB_CONNECTION_PARAMETER',
      `${WHERE}: the connection string has a password parameter, which pg prefers over every other source of the password. Remove it and use passwordFile (a mounted secret), or put the password in the user-info part (postgres://user:password@host/db).`,
    );
  }
  if (password !== undefined && passwordFile !== undefined) {
    throw new DbConfigError(
      'ERR_BULWARK_DB_PASSWORD_CONFLICT',
      `${WHERE}: both password and passwordFile are set. Keep passwordFile (read from a secret file) and remove password.`,
    );
  }
  if (inUrl && (password !== undefined || passwordFile !== undefined)) {
    throw new DbConfigError(
      'ERR_BULWARK_DB_PASSWORD_CONFLICT',
      `${WHERE}: the connection string holds a password and ${password !== undefined ? 'password' : 'passwordFile'} is set too; pg would use the one in the connection string. Remove the password from the connection string.`,
    );
  }
  if (password !== undefined && typeof password !== 'string' && typeof password !== 'function') {
    throw new DbConfigError(
      'ERR_BULWARK_DB_INVALID_OPTION',
      `${WHERE}: password must be a string or a function returning one (got ${typeof password}).`,
    );
  }
  if (passwordFile === undefined) return password;
  if (typeof passwordFile !== 'string' || passwordFile === '') {
    invalidOption(
      WHERE,
      'passwordFile',
      passwordFile,
      'Give the path of the file that holds the password.',
      { secret: true },
    );
  }
  try {
    const mode = statSync(passwordFile).mode;
    readFileSync(passwordFile);
    if ((mode & 0o077) !== 0 && process.platform !== 'win32') {
      warn(
        logger,
        'BULWARK_DB_PASSWORD_FILE_MODE',
        `${WHERE}: passwordFile ${JSON.stringify(passwordFile)} can be read by other users (mode ${(mode & 0o777).toString(8)}). Make it 600 or 400.`,
      );
    }
  } catch (err) {
    throw new DbConfigError(
      'ERR_BULWARK_DB_PASSWORD_FILE',
      // The value is not quoted: a password put in passwordFile by mistake would end up in logs.
      `${WHERE}: passwordFile: cannot read the file it names (${(err as NodeJS.ErrnoException).code ?? 'error'}). Point it at the mounted secret file.`,
    );
  }
  return async () => (await readFile(passwordFile, 'utf8')).replace(/\r?\n$/, '');
}

function resolvePort(port: unknown): number | undefined {
  if (port === undefined) return undefined;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    invalidOption(WHERE, 'port', port, 'Use a TCP port from 1 to 65535, such as 5432.');
  }
  return port;
}

/** Options as given, checked and merged over the defaults. */
function resolveOptions(options: CreatePoolOptions) {
  requireObject(WHERE, options, '{ connectionString: process.env.DATABASE_URL }');
  rejectUnknownOptions(WHERE, options, OPTION_NAMES);
  const production = process.env.NODE_ENV === 'production';
  const { logger } = options;
  if (
    logger !== undefined &&
    (typeof logger !== 'object' || logger === null || typeof logger.warn !== 'function')
  ) {
    invalidOption(
      WHERE,
      'logger',
      logger,
      'Pass a logger with a warn(message, meta) method, such as a winston logger.',
    );
  }
  const pgbouncer = options.pgbouncer ?? false;
  if (pgbouncer !== false && pgbouncer !== 'session' && pgbouncer !== 'transaction') {
    invalidOption(WHERE, 'pgbouncer', pgbouncer, "Use false (direct), 'session' or 'transaction'.");
  }
  const applicationName = options.applicationName ?? 'bulwark';
  if (
    typeof applicationName !== 'string' ||
    applicationName.length === 0 ||
    Buffer.byteLength(applicationName) > 63 ||
    /[^\x20-\x7e]/.test(applicationName)
  ) {
    invalidOption(
      WHERE,
      'applicationName',
      applicationName,
      'Use 1 to 63 printable ASCII characters, such as "iot-api".',
    );
  }
  for (const name of ['connectionString', 'host', 'user', 'database'] as const) {
    const value: unknown = options[name];
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      invalidOption(
        WHERE,
        name,
        value,
        value instanceof URL ? 'Pass a string: url.href.' : 'Use a non-empty string.',
        // A connection string may hold a password: show a URL redacted, anything else by type.
        { secret: name === 'connectionString' && !(value instanceof URL) },
      );
    }
  }
  const facts = inspectConnectionString(WHERE, options.connectionString);
  if (options.allowExitOnIdle !== undefined && typeof options.allowExitOnIdle !== 'boolean') {
    invalidOption(WHERE, 'allowExitOnIdle', options.allowExitOnIdle, 'Use true or false.');
  }
  const ms = (name: keyof CreatePoolOptions, fallback: number, min = 1, example = '5_000') =>
    timeoutOption(WHERE, name, options[name], fallback, { min, example });
  const max = options.max ?? 10;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > 10_000) {
    throw new DbConfigError(
      'ERR_BULWARK_DB_INVALID_POOL_SIZE',
      `${WHERE}: max: ${JSON.stringify(max)} is not a valid pool size. Use a whole number of connections from 1 up, such as 10; keep the sum over all app instances below the server's max_connections.`,
    );
  }
  return {
    production,
    logger,
    pgbouncer,
    applicationName,
    max,
    port: resolvePort(options.port),
    statementTimeoutMs: ms('statementTimeoutMs', 30_000, 1, '30_000'),
    lockTimeoutMs: ms('lockTimeoutMs', 5_000),
    idleInTransactionTimeoutMs: ms('idleInTransactionTimeoutMs', 60_000, 1, '60_000'),
    connectionTimeoutMs: ms('connectionTimeoutMs', 5_000),
    idleTimeoutMs: ms('idleTimeoutMs', 10_000, 1, '10_000'),
    maxLifetimeSeconds: timeoutOption(
      WHERE,
      'maxLifetimeSeconds',
      options.maxLifetimeSeconds,
      1800,
      { unit: 'seconds', example: '1800' },
    ),
    queryTimeoutMs: ms('queryTimeoutMs', 0, 0, '35_000'),
    slowQueryMs: ms('slowQueryMs', 1000, 1, '1000'),
    leakWarningMs: ms('leakWarningMs', 30_000, 0, '30_000'),
    ssl: resolveSsl(options, production, logger, facts),
    // pg connects to the connection string's host when it names one, else to the option or PGHOST.
    host: facts.host ?? options.host ?? process.env.PGHOST ?? 'localhost',
    password: resolvePassword(options, logger, facts),
  };
}

type ConnectCallback = (
  err: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: unknown) => void,
) => void;

/**
 * The pool {@link createPool} returns: a `pg.Pool` whose every connection carries the timeouts
 * and an `error` listener, with `verify()` to prove the timeouts apply.
 */
export class SafePool extends pg.Pool {
  /** The resolved settings (no secrets). */
  readonly safety: PoolSafety;
  readonly #tracker: CheckoutTracker;
  readonly #initialized = new WeakSet<pg.PoolClient>();
  readonly #sessionSetup: string | undefined;
  /** True while pg's own `pool.query` checks out (and will release) a client. */
  #releasesItself = false;

  /** Use {@link createPool}, which checks the options first. */
  constructor(config: pg.PoolConfig, safety: PoolSafety) {
    super(config);
    this.safety = safety;
    this.#tracker = new CheckoutTracker(safety.leakWarningMs, safety.logger);
    this.#sessionSetup =
      safety.pgbouncer === 'session' ? localTimeoutsSql(safety, false) : undefined;
    // A pg.Pool with no 'error' listener crashes the process when an idle connection drops.
    this.on('error', (err, client) => this.#reportError(err, client, false));
    this.on('connect', (client) => {
      safetyOfClient.set(client, safety);
      // A checked-out client is not covered by the pool's listener; without this one, a
      // connection terminated while the app holds it would throw from the socket handler.
      client.on('error', (err) => {
        if (this.#tracker.isCheckedOut(client)) this.#reportError(err, client, true);
      });
      instrumentClient(client, safety.slowQueryMs, safety.logger);
      this.#tracker.expose(client);
    });
    this.on('release', (_err, client) => this.#tracker.released(client));
    // pool.query checks a client out and releases it itself, so its checkouts cannot leak and
    // need no acquire stack; capturing one per query would cost more than the query's own work.
    const query = pg.Pool.prototype.query as (...args: unknown[]) => unknown;
    const pool = this;
    this.query = function safeQuery(...args: unknown[]) {
      pool.#releasesItself = true;
      try {
        return query.apply(pool, args);
      } finally {
        pool.#releasesItself = false;
      }
    } as typeof this.query;
    this.on('remove', (client) => this.#tracker.released(client));
  }

  /**
   * Checked-out clients their holders declared long-lived with `Symbol.for('bulwark.db.held')`
   * (a LISTEN connection). They count in `totalCount`, never in `idleCount`, are waited for by
   * `end()`, and are not reported as leaks.
   */
  get heldCount(): number {
    return this.#tracker.heldCount;
  }

  #reportError(err: Error, client: pg.PoolClient | undefined, checkedOut: boolean): void {
    const code = (err as { code?: unknown }).code;
    const pid = (client as { processID?: number } | undefined)?.processID;
    const event = {
      ...(typeof code === 'string' ? { code } : {}),
      message: err.message,
      checkedOut,
      ...(typeof pid === 'number' ? { pid } : {}),
    };
    if (channels.poolError.hasSubscribers) channels.poolError.publish(event);
    warn(
      this.safety.logger,
      'BULWARK_DB_POOL_ERROR',
      `A pooled database connection failed${checkedOut ? ' while checked out' : ' while idle and was removed'}: ${err.message}`,
      event,
    );
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | undefined {
    const site =
      this.#tracker.tracksLeaks && !this.#releasesItself
        ? captureSite(SafePool.prototype.connect)
        : undefined;
    if (callback) {
      super.connect((err, client, done) => {
        this.#afterAcquire(err, client, site, (e, c) => callback(e, c, done));
      });
      return undefined;
    }
    return new Promise<pg.PoolClient>((resolve, reject) => {
      super.connect((err, client) => {
        this.#afterAcquire(err, client, site, (e, c) => (e || !c ? reject(e) : resolve(c)));
      });
    });
  }

  #afterAcquire(
    err: Error | undefined,
    client: pg.PoolClient | undefined,
    site: { stack?: string } | undefined,
    done: (err: Error | undefined, client: pg.PoolClient | undefined) => void,
  ): void {
    if (err || !client) {
      done(this.#explain(err), undefined);
      return;
    }
    this.#tracker.acquired(client, site);
    if (this.#sessionSetup === undefined || this.#initialized.has(client)) {
      done(undefined, client);
      return;
    }
    client.query(this.#sessionSetup, (setupErr: Error | undefined) => {
      if (setupErr) {
        client.release(setupErr);
        done(setupErr, undefined);
        return;
      }
      this.#initialized.add(client);
      done(undefined, client);
    });
  }

  #explain(err: Error | undefined): Error {
    if (!err) return new Error('The pool returned no client.');
    const tls = tlsConnectError(err, safetyOfPool.get(this)?.tls);
    if (tls) return tls;
    const refused = UNSUPPORTED_PARAMETER.exec(err.message)?.[1];
    if (
      this.safety.pgbouncer === false &&
      refused !== undefined &&
      (Object.values(SETTINGS) as string[]).includes(refused)
    ) {
      return new DbSafetyError(
        'ERR_BULWARK_DB_PGBOUNCER_MISMATCH',
        `The login was refused over the startup parameter ${refused} ("unsupported startup parameter"): this pool connects through PgBouncer, which passes no timeout on from the login, and pgbouncer is false. ${MISMATCH_FIX}`,
        { cause: err },
      );
    }
    if (err.message === 'timeout exceeded when trying to connect') {
      return new DbSafetyError(
        'ERR_BULWARK_DB_ACQUIRE_TIMEOUT',
        `No database connection became free within ${this.options.connectionTimeoutMillis} ms (all ${this.options.max} in use, ${this.waitingCount} waiting). Look for slow queries or clients not released, or raise max.`,
        { cause: err },
      );
    }
    if (err.message === 'Connection terminated due to connection timeout') {
      return new DbSafetyError(
        'ERR_BULWARK_DB_CONNECT_TIMEOUT',
        `Could not connect to the database within ${this.options.connectionTimeoutMillis} ms.`,
        { cause: err },
      );
    }
    return err;
  }

  override end(): Promise<void>;
  override end(callback: () => void): void;
  override end(callback?: () => void): Promise<void> | undefined {
    this.#tracker.stop();
    if (callback) {
      super.end(callback);
      return undefined;
    }
    return super.end();
  }

  /**
   * True when two connections made from this pool's config run on one PostgreSQL server
   * process: transaction (or statement) pooling. Direct, or in session mode, that cannot happen.
   * The connections are made outside the pool, so no session SET is sent, and a busy pooler
   * makes the answer false rather than slow.
   */
  async #poolsTransactions(): Promise<boolean> {
    const config = poolClientConfig(this) ?? {};
    const waitMs = Math.min(this.options.connectionTimeoutMillis || 2000, 2000);
    const open = async () => {
      const client = new pg.Client({
        ...config,
        connectionTimeoutMillis: waitMs,
        query_timeout: waitMs,
        application_name: `${config.application_name ?? 'bulwark'} (verify)`.slice(0, 63),
      });
      client.on('error', () => {});
      await client.connect();
      return client;
    };
    const clients: pg.Client[] = [];
    try {
      const held = await open();
      clients.push(held);
      if (!(await behindPooler(held))) return false;
      const other = await open();
      clients.push(other);
      // A pooler hands the server connection a client has just left to the next one that asks,
      // unless someone else took it first: a few turns make a shared one show up.
      for (let turn = 0; turn < 3; turn++) {
        const mine = await backendPid(held);
        if ((await backendPid(other)) === mine) return true;
      }
      return false;
    } catch (err) {
      const explained = this.#explain(err as Error);
      if (explained instanceof DbSafetyError) throw explained;
      return false;
    } finally {
      await Promise.all(clients.map((client) => client.end().catch(() => {})));
    }
  }

  /**
   * Reads the timeouts back from the server (`pg_settings`, what `SHOW` reports) and fails if
   * they are not what this pool asked for: a proxy may have dropped the startup parameters.
   * Call it once at startup.
   *
   * @throws {DbSafetyError} `ERR_BULWARK_DB_TIMEOUTS_NOT_APPLIED`, naming each setting, its value
   * on the server and the fix; `ERR_BULWARK_DB_PGBOUNCER_MISMATCH` when the connection goes
   * through a pooler and `pgbouncer` is false, or through transaction pooling and `pgbouncer` is
   * `'session'`.
   * @example
   * const pool = createPool({ connectionString: process.env.DATABASE_URL });
   * await pool.verify();
   */
  async verify(): Promise<VerifiedSettings> {
    // Before any connection of this pool sends its session SET: behind transaction pooling, that
    // SET would stay on a server connection other clients use.
    if (this.safety.pgbouncer === 'session' && (await this.#poolsTransactions())) {
      throw new DbSafetyError(
        'ERR_BULWARK_DB_PGBOUNCER_MISMATCH',
        "pgbouncer is 'session', but two connections of this pool ran on the same PostgreSQL server process, so the pooler in front of it (PgBouncer) hands out server connections per transaction: a session SET would stay behind for other clients and be missing from this pool's next transaction. Set pgbouncer: 'transaction', or pool_mode = session in pgbouncer.ini.",
      );
    }
    const client = await this.connect();
    let destroy = false;
    try {
      if (this.safety.pgbouncer === false && (await behindPooler(client))) {
        throw new DbSafetyError(
          'ERR_BULWARK_DB_PGBOUNCER_MISMATCH',
          `This pool reaches PostgreSQL through a connection pooler such as PgBouncer (the process id announced at login is not the server's pg_backend_pid()), and pgbouncer is false, so the timeouts went as startup parameters, which the pooler drops. ${MISMATCH_FIX}`,
        );
      }
      const read = async (): Promise<VerifiedSettings> => {
        const { rows } = await client.query<{ name: string; setting: string }>(SETTINGS_SQL);
        const value = (name: string) => Number(rows.find((row) => row.name === name)?.setting ?? 0);
        return {
          statementTimeoutMs: value(SETTINGS.statementTimeoutMs),
          lockTimeoutMs: value(SETTINGS.lockTimeoutMs),
          idleInTransactionTimeoutMs: value(SETTINGS.idleInTransactionTimeoutMs),
        };
      };
      const problems: string[] = [];
      const keys = Object.keys(SETTINGS) as (keyof VerifiedSettings)[];
      const session = await read();
      if (this.safety.pgbouncer !== 'transaction') {
        for (const key of keys) {
          if (session[key] !== this.safety[key]) {
            problems.push(
              `${SETTINGS[key]} is ${describe(session[key])} on the server, not ${this.safety[key]} ms`,
            );
          }
        }
        if (problems.length > 0) {
          throw new DbSafetyError(
            'ERR_BULWARK_DB_TIMEOUTS_NOT_APPLIED',
            `The database timeouts did not apply: ${problems.join('; ')}. Something between this app and PostgreSQL dropped them (PgBouncer with ignore_startup_parameters does, and so does an options= override in the connection string). Behind PgBouncer use pgbouncer: 'session' or 'transaction'.`,
          );
        }
        return session;
      }
      await client.query(`BEGIN; ${localTimeoutsSql(this.safety)}`);
      let local: VerifiedSettings;
      try {
        local = await read();
      } finally {
        await client.query('ROLLBACK').catch(() => {
          destroy = true;
        });
      }
      for (const key of keys) {
        if (local[key] !== this.safety[key]) {
          problems.push(
            `${SETTINGS[key]} is ${describe(local[key])} inside a transaction, not ${this.safety[key]} ms`,
          );
        }
        if (session[key] === 0 || session[key] > this.safety[key]) {
          problems.push(
            `${SETTINGS[key]} is ${describe(session[key])} outside transactions (set it on the role: ALTER ROLE <app user> SET ${SETTINGS[key]} = '${this.safety[key]}ms')`,
          );
        }
      }
      if (problems.length > 0) {
        throw new DbSafetyError(
          'ERR_BULWARK_DB_TIMEOUTS_NOT_APPLIED',
          `The database timeouts do not all apply behind PgBouncer in transaction mode: ${problems.join('; ')}. Statements outside a transaction run with the role's settings.`,
        );
      }
      return session;
    } catch (err) {
      if (!(err instanceof DbSafetyError)) destroy = true;
      throw err;
    } finally {
      client.release(destroy);
    }
  }
}

function describe(ms: number): string {
  return ms === 0 ? '0 (no limit)' : `${ms} ms`;
}

async function backendPid(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ pid: number }>(BACKEND_PID_SQL);
  return rows[0]!.pid;
}

/**
 * True when the process id the server announced at login is not the one running the queries:
 * a pooler (PgBouncer and its kind) answered the login with keys of its own. A TCP proxy passes
 * PostgreSQL's through.
 */
async function behindPooler(client: pg.ClientBase): Promise<boolean> {
  const announced = (client as { processID?: unknown }).processID;
  if (typeof announced !== 'number') return false;
  return (await backendPid(client)) !== announced;
}

/**
 * Creates a `pg.Pool` with the safety settings applied: statement, lock and idle-in-transaction
 * timeouts on every connection, an acquire timeout, connection recycling, TLS verified in
 * production, a password read from a secret file, and `error` listeners on the pool and on every
 * client, so a dropped connection never crashes the process.
 *
 * @param options Connection and safety options; every default is listed on {@link CreatePoolOptions}.
 * @returns A {@link SafePool} (a `pg.Pool`); call `await pool.verify()` at startup.
 * @throws {DbConfigError} `ERR_BULWARK_DB_UNKNOWN_OPTION`, `ERR_BULWARK_DB_INVALID_TIMEOUT`,
 * `ERR_BULWARK_DB_INVALID_POOL_SIZE`, `ERR_BULWARK_DB_INVALID_OPTION`,
 * `ERR_BULWARK_DB_PASSWORD_CONFLICT`, `ERR_BULWARK_DB_PASSWORD_FILE`,
 * `ERR_BULWARK_DB_SSL_INSECURE`, `ERR_BULWARK_DB_SSL_CONFLICT`, `ERR_BULWARK_DB_SSL_CA_FILE`,
 * `ERR_BULWARK_DB_SSL_CRL_FILE`, `ERR_BULWARK_DB_CONNECTION_PARAMETER`. Through PgBouncer with
 * `pgbouncer` false, checkouts and queries reject with `ERR_BULWARK_DB_PGBOUNCER_MISMATCH` (a
 * {@link DbSafetyError}) when PgBouncer refuses the timeout startup parameters. When TLS refuses
 * the server's certificate, checkouts, queries and `verify()` reject with a {@link DbSafetyError}:
 * `ERR_BULWARK_DB_SSL_CERT_EXPIRED`, `..._CERT_NOT_YET_VALID`, `..._CERT_REVOKED`,
 * `..._CERT_UNTRUSTED`, `..._HOSTNAME_MISMATCH` or `..._CRL_UNUSABLE`; when TLS is asked for (as
 * it is by default in production) and the server offers none, with
 * `ERR_BULWARK_DB_SSL_UNAVAILABLE`, whose message names the fix.
 * @example
 * const pool = createPool({
 *   connectionString: process.env.DATABASE_URL,
 *   passwordFile: '/run/secrets/db_password',
 *   statementTimeoutMs: 10_000,
 * });
 * await pool.verify();
 */
export function createPool(options: CreatePoolOptions = {}): SafePool {
  const resolved = resolveOptions(options);
  const config: pg.PoolConfig = {
    max: resolved.max,
    connectionTimeoutMillis: resolved.connectionTimeoutMs,
    idleTimeoutMillis: resolved.idleTimeoutMs,
    maxLifetimeSeconds: resolved.maxLifetimeSeconds,
    application_name: resolved.applicationName,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
  if (options.connectionString !== undefined) config.connectionString = options.connectionString;
  if (options.host !== undefined) config.host = options.host;
  if (resolved.port !== undefined) config.port = resolved.port;
  if (options.user !== undefined) config.user = options.user;
  if (options.database !== undefined) config.database = options.database;
  if (resolved.password !== undefined) config.password = resolved.password;
  if (resolved.ssl !== undefined) config.ssl = resolved.ssl;
  if (resolved.queryTimeoutMs > 0) config.query_timeout = resolved.queryTimeoutMs;
  if (options.allowExitOnIdle !== undefined) config.allowExitOnIdle = options.allowExitOnIdle;
  if (options.types !== undefined) config.types = options.types;
  if (resolved.pgbouncer === false) {
    // Startup parameters: applied by the server before the first query, no extra round trip.
    config.statement_timeout = resolved.statementTimeoutMs;
    config.lock_timeout = resolved.lockTimeoutMs;
    config.idle_in_transaction_session_timeout = resolved.idleInTransactionTimeoutMs;
  }
  const safety: PoolSafety = Object.freeze({
    statementTimeoutMs: resolved.statementTimeoutMs,
    lockTimeoutMs: resolved.lockTimeoutMs,
    idleInTransactionTimeoutMs: resolved.idleInTransactionTimeoutMs,
    pgbouncer: resolved.pgbouncer,
    slowQueryMs: resolved.slowQueryMs,
    leakWarningMs: resolved.leakWarningMs,
    logger: resolved.logger,
  });
  const pool = new SafePool(config, safety);
  safetyOfPool.set(pool, {
    safety,
    clientConfig: config,
    tls: { host: resolved.host, production: resolved.production },
  });
  return pool;
}
