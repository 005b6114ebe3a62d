// The bulwark-certs commands, and the broker config they write run by the real mosquitto.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, requireService, SERVICES, waitForPort } from '@bulwark/test-utils';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCertsCli } from './certs-cli.js';
import { connectSecure } from './connect.js';

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCertsCli(
    argv,
    (line) => out.push(line),
    (line) => err.push(line),
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('bulwark-certs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
  const pki = join(dir, 'pki');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('init writes a CA, devices, services and a mosquitto.conf on the given port', async () => {
    const result = await run(
      'init',
      '--dir',
      pki,
      '--host',
      'localhost',
      '--device',
      'dev-1',
      '--service',
      'ingest',
      '--port',
      '9993',
    );
    expect(result.code).toBe(0);
    expect(result.out).toContain(`mosquitto -c ${join(pki, 'mosquitto.conf')}`);
    expect(readFileSync(join(pki, 'mosquitto.conf'), 'utf8')).toContain('listener 9993\n');
    expect(statSync(join(pki, 'devices', 'dev-1', 'device.key')).mode & 0o777).toBe(0o600);
  });

  it('add-device, revoke and config work on the same folder', async () => {
    expect((await run('add-device', '--dir', pki, '--device', 'dev-2')).code).toBe(0);
    const revoked = await run('revoke', '--dir', pki, '--device', 'dev-2');
    expect(revoked.out).toContain('Revoked 1 certificate(s)');
    expect((await run('config', '--dir', pki, '--port', '9994', '--bind', '127.0.0.1')).code).toBe(
      0,
    );
    expect(readFileSync(join(pki, 'mosquitto.conf'), 'utf8')).toContain(
      'listener 9994 127.0.0.1\n',
    );
  });

  it('fails with the error code, not a stack trace, on bad input', async () => {
    const again = await run('init', '--dir', pki);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/^ERR_BULWARK_MQTT_CA_EXISTS: /);
    const bad = await run('add-device', '--dir', pki, '--device', 'a/b');
    expect(bad.err).toMatch(/^ERR_BULWARK_MQTT_IDENTITY: /);
    expect(bad.err).not.toContain('    at ');
    expect((await run('frobnicate')).code).toBe(2);
    expect((await run('init', '--bogus')).code).toBe(2);
  });

  it('prints its usage', async () => {
    expect((await run('help')).out).toContain('Usage: bulwark-certs');
  });
});

const hasMosquitto = await requireService('mosquitto');
const asRoot = process.getuid?.() === 0;

/** The account with this uid, as the password database names it. */
function accountOf(uid: number): string {
  if (uid === userInfo().uid) return userInfo().username;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.split(':')[2] === String(uid));
  return line?.split(':')[0] ?? String(uid);
}

describe.runIf(hasMosquitto)('bulwark-certs and the real mosquitto', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-broker-'));
  const brokers: ChildProcess[] = [];

  afterEach(async () => {
    await Promise.all(
      brokers.splice(0).map(async (broker) => {
        if (broker.exitCode !== null || broker.signalCode !== null) return;
        const exited = new Promise((resolve) => broker.once('exit', resolve));
        broker.kill('SIGTERM');
        await exited;
      }),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Starts `mosquitto -c conf` as this process's account; resolves once `port` accepts. */
  async function startBroker(conf: string, port: number): Promise<() => string> {
    const broker = spawn(SERVICES.mosquitto.url, ['-c', conf], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    brokers.push(broker);
    let printed = '';
    broker.stdout?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    broker.stderr?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const exited = new Promise<never>((_, reject) =>
      broker.once('exit', (code) => reject(new Error(`mosquitto exited with ${code}: ${printed}`))),
    );
    exited.catch(() => {});
    await Promise.race([waitForPort(port), exited]);
    return () => printed;
  }

  /** A device over mTLS and the service over its password listener, each connected and closed. */
  async function connectBoth(pki: string, port: number, servicePort: number): Promise<void> {
    const device = await connectSecure({
      url: `mqtts://127.0.0.1:${port}`,
      caFile: join(pki, 'ca.crt'),
      certFile: join(pki, 'devices', 'dev-1', 'device.crt'),
      keyFile: join(pki, 'devices', 'dev-1', 'device.key'),
      reconnect: false,
    });
    expect(device.connected).toBe(true);
    await device.endAsync();
    const service = await connectSecure({
      url: `mqtts://127.0.0.1:${servicePort}`,
      caFile: join(pki, 'ca.crt'),
      username: 'ingest',
      passwordFile: join(pki, 'services', 'ingest.password'),
      reconnect: false,
    });
    expect(service.connected).toBe(true);
    await service.endAsync();
  }

  it("names the owner of the broker key as mosquitto's user, so the broker started as root reads its key, password file and ACLs instead of switching to the mosquitto user", async () => {
    const pki = join(dir, 'own');
    const [port, servicePort] = [await freePort(), await freePort()];
    const init = await run(
      'init',
      '--dir',
      pki,
      '--host',
      '127.0.0.1',
      '--device',
      'dev-1',
      '--service',
      'ingest',
      '--port',
      String(port),
      '--service-port',
      String(servicePort),
    );
    expect(init.code, init.err).toBe(0);
    const owner = accountOf(statSync(join(pki, 'server.key')).uid);
    expect(owner).toBe(userInfo().username);
    const conf = readFileSync(join(pki, 'mosquitto.conf'), 'utf8');
    expect(conf.match(/^user .*$/gm)).toEqual([`user ${owner}`]);
    expect(init.out).toContain(`Broker user:     ${owner}`);
    const printed = await startBroker(join(pki, 'mosquitto.conf'), port);
    await connectBoth(pki, port, servicePort);
    if (asRoot) expect(printed()).toContain('should not be run as root');
  });

  it.runIf(asRoot)(
    'after the folder is given to an unprivileged account and config runs again, mosquitto started as root switches to that account and serves',
    async () => {
      const unprivileged = ['mosquitto', 'nobody'].find((name) =>
        readFileSync('/etc/passwd', 'utf8')
          .split('\n')
          .some((line) => line.startsWith(`${name}:`)),
      );
      expect(unprivileged, 'neither mosquitto nor nobody exists').toBeDefined();
      const [, , uid = '', gid = ''] =
        readFileSync('/etc/passwd', 'utf8')
          .split('\n')
          .find((line) => line.startsWith(`${unprivileged}:`))
          ?.split(':') ?? [];
      // The account must reach the folder: mkdtemp makes the parent private to root.
      chmodSync(dir, 0o711);
      const pki = join(dir, 'given');
      const [port, servicePort] = [await freePort(), await freePort()];
      const init = await run(
        'init',
        '--dir',
        pki,
        '--host',
        '127.0.0.1',
        '--device',
        'dev-1',
        '--service',
        'ingest',
        '--port',
        String(port),
        '--service-port',
        String(servicePort),
      );
      expect(init.code, init.err).toBe(0);
      expect(readFileSync(join(pki, 'mosquitto.conf'), 'utf8')).toMatch(/^user root$/m);
      // What the broker reads and only its owner may: the folder, the key and the password file.
      for (const file of [pki, join(pki, 'server.key'), join(pki, 'passwd')]) {
        chownSync(file, Number(uid), Number(gid));
      }
      const config = await run('config', '--dir', pki);
      expect(config.code, config.err).toBe(0);
      expect(config.out).toContain(`Broker user:     ${unprivileged}`);
      const conf = readFileSync(join(pki, 'mosquitto.conf'), 'utf8');
      expect(conf.match(/^user .*$/gm)).toEqual([`user ${unprivileged}`]);
      const printed = await startBroker(join(pki, 'mosquitto.conf'), port);
      await connectBoth(pki, port, servicePort);
      expect(printed()).not.toContain('should not be run as root');
      // The CA key stays with root.
      expect(statSync(join(pki, 'ca.key')).uid).toBe(0);
    },
  );
});
