// The bulwark-certs commands.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCertsCli } from './certs-cli.js';

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
