// Start and stop a private Mosquitto broker on a free port from a config the test provides.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestPki } from './pki.js';
import { freePort, waitForPort } from './ports.js';
import { SERVICES } from './services.js';

export interface MosquittoOptions {
  /** Folder for the config and log files. */
  dir: string;
  /** The whole mosquitto.conf for a given port. */
  config: (port: number) => string;
  /** Port to use; a free one by default. */
  port?: number;
}

export interface RunningMosquitto {
  port: number;
  configFile: string;
  /** Everything the broker printed so far. */
  output(): string;
  stop(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
}

/** A TLS listener config for `port` using a test PKI. `requireCertificate` makes it mTLS. */
export function tlsListenerConfig(
  port: number,
  pki: TestPki,
  {
    requireCertificate = true,
    aclFile,
    extra = '',
  }: { requireCertificate?: boolean; aclFile?: string; extra?: string } = {},
): string {
  return [
    'per_listener_settings true',
    `listener ${port} 127.0.0.1`,
    `cafile ${pki.caFile}`,
    `certfile ${pki.serverCertFile}`,
    `keyfile ${pki.serverKeyFile}`,
    'tls_version tlsv1.2',
    requireCertificate ? 'require_certificate true' : 'require_certificate false',
    requireCertificate ? 'use_identity_as_username true' : '',
    requireCertificate ? 'use_username_as_clientid true' : '',
    requireCertificate ? 'allow_anonymous false' : 'allow_anonymous true',
    aclFile ? `acl_file ${aclFile}` : '',
    extra,
    '',
  ]
    .filter((line, i, all) => line !== '' || i === all.length - 1)
    .join('\n');
}

/** Writes the config into `dir` and starts `mosquitto -c` on it; resolves once the port accepts. */
export async function startMosquitto({
  dir,
  config,
  port: fixedPort,
}: MosquittoOptions): Promise<RunningMosquitto> {
  mkdirSync(dir, { recursive: true });
  const port = fixedPort ?? (await freePort());
  const configFile = join(dir, 'mosquitto.conf');
  // Run as root, Mosquitto drops to the `mosquitto` user, which cannot read keys in a private
  // temp folder; tests keep the broker as the user that owns the files.
  const text = config(port);
  const asOwner = process.getuid?.() === 0 && !/^user /m.test(text) ? 'user root\n' : '';
  writeFileSync(configFile, asOwner + text);
  let child: ChildProcess | undefined;
  let printed = '';
  const start = async () => {
    child = spawn(SERVICES.mosquitto.url, ['-c', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const exited = new Promise<never>((_, reject) =>
      child?.once('exit', (code) => reject(new Error(`mosquitto exited with ${code}: ${printed}`))),
    );
    exited.catch(() => {});
    await Promise.race([waitForPort(port), exited]);
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGTERM');
    });
  };
  await start();
  return {
    port,
    configFile,
    output: () => printed,
    stop,
    start,
    restart: async () => {
      await stop();
      await start();
    },
  };
}
