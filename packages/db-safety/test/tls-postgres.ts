// A throwaway PostgreSQL server with TLS on loopback whose certificate a test can swap, and a CA made with the openssl CLI.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { connect as tlsConnect } from 'node:tls';
import { freePort, waitForPort } from '@bulwark/test-utils';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function binDirCandidates(): string[] {
  const found: string[] = [];
  if (process.env.POSTGRES_BIN) found.push(process.env.POSTGRES_BIN);
  try {
    found.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: 'pipe' }).trim());
  } catch {
    // pg_config comes with the client headers, which a server install may lack.
  }
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const majors = readdirSync(debian).sort((a, b) => Number(b) - Number(a));
    found.push(...majors.map((major) => join(debian, major, 'bin')));
  }
  return found;
}

/** The folder holding `initdb` and `postgres`, or undefined. */
export function postgresBinDir(): string | undefined {
  return binDirCandidates().find(
    (dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres')),
  );
}

/** The OS user the server runs as: `postgres` when the tests run as root (initdb refuses root). */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) =>
    Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: 'pipe' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * Like `requireService`: true when the PostgreSQL server binaries (and, as root, the `postgres`
 * user) are there; under CI=true a missing one throws, so the suite fails instead of passing.
 */
export function requirePostgresBinaries(): boolean {
  let problem: string | undefined;
  if (!postgresBinDir()) {
    problem =
      'the PostgreSQL server binaries (initdb, postgres) are not found. Set POSTGRES_BIN to their folder.';
  } else {
    try {
      serverUser();
    } catch {
      problem = 'the tests run as root and there is no postgres user to run initdb as.';
    }
  }
  if (!problem) return true;
  if (process.env.CI === 'true') throw new Error(`TLS PostgreSQL tests: ${problem}`);
  process.stderr.write(`[bulwark tests] not running this suite: ${problem}\n`);
  return false;
}

export interface Issued {
  certFile: string;
  keyFile: string;
}

/** A CA made with the openssl CLI that issues certificates for any validity period and writes CRLs. */
export interface TestCa {
  caFile: string;
  issue(
    name: string,
    options: { cn: string; hosts?: string[]; notBefore?: number; notAfter?: number },
  ): Issued;
  /** A certificate signed by its own key, outside any CA. */
  selfSigned(name: string, options: { cn: string; hosts: string[] }): Issued;
  revoke(issued: Issued): void;
  /** Writes a CRL of the revoked certificates to `file`; `lastUpdate`/`nextUpdate` in ms. */
  writeCrl(file: string, options?: { lastUpdate?: number; nextUpdate?: number }): string;
}

const stamp = (ms: number) => `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
const sans = (hosts: string[]) =>
  hosts.map((host) => (/^[\d.]+$|:/.test(host) ? `IP:${host}` : `DNS:${host}`)).join(', ');

/** Writes a CA named `name` into `dir`. */
export function createTestCa(dir: string, name: string): TestCa {
  mkdirSync(dir, { recursive: true });
  // Arguments are split on spaces: only file names chosen here go into `command`.
  const run = (command: string, ...rest: string[]) =>
    execFileSync('openssl', [...command.split(' '), ...rest], { cwd: dir, stdio: 'pipe' });
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '1000\n');
  writeFileSync(join(dir, 'crlnumber'), '1000\n');
  // A config of its own, so the machine's openssl.cnf cannot change what is issued.
  writeFileSync(
    join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = this_ca',
      '[this_ca]',
      `dir = ${dir}`,
      'database = $dir/index.txt',
      'new_certs_dir = $dir',
      'serial = $dir/serial',
      'crlnumber = $dir/crlnumber',
      'certificate = $dir/ca.crt',
      'private_key = $dir/ca.key',
      'default_md = sha256',
      'default_crl_days = 2',
      'policy = any_name',
      'unique_subject = no',
      'copy_extensions = none',
      '[any_name]',
      'commonName = supplied',
      '[req]',
      'distinguished_name = dn',
      'x509_extensions = ca_extensions',
      '[dn]',
      '[ca_extensions]',
      'basicConstraints = critical, CA:true',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  const newKey = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';
  run(`req -config ca.cnf -x509 ${newKey} -keyout ca.key -days 2 -out ca.crt -subj`, `/CN=${name}`);
  const files = (file: string): Issued => ({
    certFile: join(dir, `${file}.crt`),
    keyFile: join(dir, `${file}.key`),
  });
  // Usable both as `ca -extfile` and as `req -config` (which needs the [req] part).
  const leaf = (file: string, hosts: string[]) =>
    writeFileSync(
      join(dir, `${file}.ext`),
      [
        '[req]',
        'distinguished_name = dn',
        '[dn]',
        '[leaf]',
        'basicConstraints = CA:false',
        'extendedKeyUsage = serverAuth',
        ...(hosts.length > 0 ? [`subjectAltName = ${sans(hosts)}`] : []),
        '',
      ].join('\n'),
    );
  return {
    caFile: join(dir, 'ca.crt'),
    issue(file, { cn, hosts = [], notBefore = Date.now() - HOUR, notAfter = Date.now() + DAY }) {
      leaf(file, hosts);
      run(
        `req -config ca.cnf -new ${newKey} -keyout ${file}.key -out ${file}.csr -subj`,
        `/CN=${cn}`,
      );
      run(
        `ca -config ca.cnf -batch -notext -in ${file}.csr -out ${file}.crt -extfile ${file}.ext -extensions leaf -startdate ${stamp(notBefore)} -enddate ${stamp(notAfter)}`,
      );
      return files(file);
    },
    selfSigned(file, { cn, hosts }) {
      leaf(file, hosts);
      run(
        `req -config ${file}.ext -x509 -extensions leaf ${newKey} -keyout ${file}.key -out ${file}.crt -days 1 -subj`,
        `/CN=${cn}`,
      );
      return files(file);
    },
    revoke(issued) {
      run('ca -config ca.cnf -revoke', issued.certFile);
    },
    writeCrl(file, { lastUpdate = Date.now() - HOUR, nextUpdate = Date.now() + DAY } = {}) {
      run(
        `ca -config ca.cnf -gencrl -crl_lastupdate ${stamp(lastUpdate)} -crl_nextupdate ${stamp(nextUpdate)} -out`,
        file,
      );
      return file;
    },
  };
}

export interface TlsPostgres {
  port: number;
  /** Serves `certificate` from now on: reloads the server and waits until it presents it. */
  serve(certificate: Issued): Promise<void>;
  /** Everything the server printed so far. */
  output(): string;
  /** Stops the server and removes its folder. */
  stop(): Promise<void>;
}

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** SHA-256 fingerprint of the certificate the server on `port` presents, read without checking it. */
async function servedFingerprint(port: number): Promise<string> {
  const socket = netConnect({ host: '127.0.0.1', port });
  try {
    await once(socket, 'connect');
    socket.write(SSL_REQUEST);
    const [answer] = (await once(socket, 'data')) as [Buffer];
    if (answer[0] !== 0x53) throw new Error('the server refused TLS');
    // Only looks at which certificate is served; every test connection verifies it.
    const secure = tlsConnect({ socket, rejectUnauthorized: false });
    try {
      await once(secure, 'secureConnect');
      return secure.getPeerCertificate().fingerprint256;
    } finally {
      secure.destroy();
    }
  } finally {
    socket.destroy();
  }
}

/**
 * Runs initdb (trust authentication, user `postgres`) in a folder of its own under the system
 * temp folder, where the server's user can reach it, and starts PostgreSQL with `ssl=on` on a
 * free loopback port, presenting `certificate`.
 */
export async function startTlsPostgres(certificate: Issued): Promise<TlsPostgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL server binaries not found');
  const user = serverUser();
  const asServer = user ? { uid: user.uid, gid: user.gid } : {};
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-db-tls-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const certFile = join(dir, 'server.crt');
  const keyFile = join(dir, 'server.key');
  const install = (issued: Issued) => {
    copyFileSync(issued.certFile, certFile);
    copyFileSync(issued.keyFile, keyFile);
    // The server reads its key only when it owns it and nobody else can read it.
    chmodSync(keyFile, 0o600);
    if (user) {
      chownSync(certFile, user.uid, user.gid);
      chownSync(keyFile, user.uid, user.gid);
    }
  };
  let child: ChildProcess | undefined;
  let printed = '';
  const stop = async () => {
    const running = child;
    child = undefined;
    if (running && running.exitCode === null && running.signalCode === null) {
      const gone = once(running, 'exit');
      // Fast shutdown; an immediate one if that takes longer than a test should wait.
      running.kill('SIGINT');
      const timer = setTimeout(() => running.kill('SIGQUIT'), 3000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    execFileSync(
      join(bin, 'initdb'),
      ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync'],
      { cwd: dir, stdio: 'pipe', ...asServer },
    );
    install(certificate);
    const port = await freePort();
    const settings = {
      listen_addresses: '127.0.0.1',
      port: String(port),
      unix_socket_directories: '',
      ssl: 'on',
      ssl_cert_file: certFile,
      ssl_key_file: keyFile,
      fsync: 'off',
      max_connections: '10',
      shared_buffers: '8MB',
      autovacuum: 'off',
    };
    const args = ['-D', data, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const started = spawn(join(bin, 'postgres'), args, {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...asServer,
    });
    child = started;
    started.stdout?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    started.stderr?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const exited = new Promise<never>((_, reject) =>
      started.once('exit', (code) => reject(new Error(`postgres exited with ${code}: ${printed}`))),
    );
    exited.catch(() => {});
    await Promise.race([waitForPort(port, '127.0.0.1', 10_000), exited]);
    return {
      port,
      output: () => printed,
      stop,
      async serve(issued) {
        const wanted = new X509Certificate(readFileSync(issued.certFile)).fingerprint256;
        install(issued);
        // On SIGHUP PostgreSQL reads its certificate and key again, for new connections.
        started.kill('SIGHUP');
        const deadline = Date.now() + 5000;
        while ((await servedFingerprint(port)) !== wanted) {
          if (Date.now() > deadline) throw new Error(`the server did not reload: ${printed}`);
          await delay(20);
        }
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
