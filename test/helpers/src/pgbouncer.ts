// A private PgBouncer on a free loopback port, in front of the test PostgreSQL, in the pool mode a test asks for.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { SERVICES } from './services.js';

export interface PgBouncerOptions {
  /** PgBouncer's `pool_mode`. */
  mode: 'transaction' | 'session';
  /** `default_pool_size`: server connections per database and user. Default 1, so clients share one. */
  poolSize?: number;
  /**
   * `ignore_startup_parameters`. Default `['extra_float_digits']`. A parameter listed here is
   * dropped silently; any other one PgBouncer does not know fails the login.
   */
  ignoreStartupParameters?: readonly string[];
}

export interface RunningPgBouncer {
  mode: 'transaction' | 'session';
  port: number;
  /** The PgBouncer process. */
  pid: number;
  /** The folder holding its config and auth file, removed by `stop()`. */
  dir: string;
  /** Connection string for `database` through this PgBouncer (the test server's user and password). */
  url(database: string): string;
  /** Everything PgBouncer printed so far. */
  output(): string;
  /** Stops PgBouncer and removes its folder. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** PgBouncer refuses to run as root: as root, it is started with `-u` as this user. */
function unprivilegedUser(): string {
  const users = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':')[0]);
  const user = ['postgres', 'nobody'].find((name) => users.includes(name));
  if (!user)
    throw new Error('PgBouncer cannot run as root, and neither postgres nor nobody exists');
  return user;
}

function quoted(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}

/**
 * Starts PgBouncer in front of the test PostgreSQL (`SERVICES.postgres.url`) on a free loopback
 * port: every database name passes through, clients log in without a password, and PgBouncer
 * logs in to PostgreSQL as the test server's user. Call `stop()` in `afterAll`.
 */
export async function startPgBouncer({
  mode,
  poolSize = 1,
  ignoreStartupParameters = ['extra_float_digits'],
}: PgBouncerOptions): Promise<RunningPgBouncer> {
  const server = new URL(SERVICES.postgres.url);
  const user = decodeURIComponent(server.username || 'postgres');
  const password = decodeURIComponent(server.password);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-pgbouncer-'));
  const asRoot = process.getuid?.() === 0;
  // The user PgBouncer switches to must read its config; nothing in it is secret beyond a test password.
  if (asRoot) chmodSync(dir, 0o755);
  const authFile = join(dir, 'users.txt');
  const configFile = join(dir, 'pgbouncer.ini');
  writeFileSync(authFile, `${quoted(user)} ${quoted(password)}\n`, { mode: 0o644 });
  writeFileSync(
    configFile,
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${authFile}`,
      `pool_mode = ${mode}`,
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 200',
      `ignore_startup_parameters = ${ignoreStartupParameters.join(',')}`,
      'server_login_retry = 1',
      'query_wait_timeout = 30',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const args = asRoot ? ['-u', unprivilegedUser(), configFile] : [configFile];
  const child = spawn(SERVICES.pgbouncer.url, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let printed = '';
  child.stdout?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  exited.then(() => running.delete(child));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const failed = exited.then(() => {
    throw new Error(`pgbouncer exited with ${child.exitCode}: ${printed}`);
  });
  failed.catch(() => {});
  try {
    await Promise.race([waitForPort(port), failed]);
  } catch (err) {
    await stop();
    throw err;
  }
  const url = (database: string) => {
    const through = new URL(SERVICES.postgres.url);
    through.hostname = '127.0.0.1';
    through.port = String(port);
    through.password = '';
    through.pathname = `/${encodeURIComponent(database)}`;
    return through.toString();
  };
  return { mode, port, pid: child.pid ?? 0, dir, url, output: () => printed, stop };
}
