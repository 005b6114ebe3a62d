// createCertificates, addDevice and revokeDevice write a working, private PKI.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addDevice,
  type CertificateSet,
  createCertificates,
  MqttConfigError,
  mosquittoPasswordLine,
  revokeDevice,
  writeMosquittoConfig,
} from './index.js';

const mode = (path: string) => statSync(path).mode & 0o777;
const openssl = (...args: string[]) =>
  execFileSync('openssl', args, { encoding: 'utf8', stdio: 'pipe' });

describe('createCertificates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-certs-'));
  let certs: CertificateSet;

  beforeAll(async () => {
    certs = await createCertificates({
      dir: join(dir, 'pki'),
      caName: 'Plant 7 CA',
      serverHosts: ['broker.internal', '10.0.0.5', 'localhost'],
      devices: ['dev-1', 'e4:fd:45:f6:54:be'],
      services: [
        'ingest',
        { name: 'alerts', read: ['devices/+/alarm/#'], write: ['devices/+/commands/#'] },
      ],
      validityDays: 30,
    });
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes private keys and passwords with mode 0600 and the folder with 0700', () => {
    for (const file of [
      certs.caKeyFile,
      certs.serverKeyFile,
      certs.devices['dev-1']?.keyFile,
      certs.services.ingest?.passwordFile,
      certs.passwordFile,
    ]) {
      expect(mode(file as string)).toBe(0o600);
    }
    expect(mode(certs.dir)).toBe(0o700);
  });

  it('issues a broker certificate with DNS and IP SANs, signed by the CA', () => {
    const server = new X509Certificate(readFileSync(certs.serverCertFile));
    const ca = new X509Certificate(readFileSync(certs.caFile));
    expect(server.subjectAltName).toBe('DNS:broker.internal, IP Address:10.0.0.5, DNS:localhost');
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe('CN=Plant 7 CA');
    expect(server.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  it('issues one client certificate per device with CN = device id and clientAuth only', () => {
    for (const id of ['dev-1', 'e4:fd:45:f6:54:be']) {
      const device = certs.devices[id];
      const certificate = new X509Certificate(readFileSync(device?.certFile as string));
      expect(certificate.subject).toBe(`CN=${id}`);
      expect(certificate.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
      expect(certificate.serialNumber.toLowerCase()).toBe(device?.serialNumber);
      expect(
        openssl(
          'verify',
          '-CAfile',
          certs.caFile,
          '-purpose',
          'sslclient',
          device?.certFile as string,
        ),
      ).toContain('OK');
    }
  });

  it('uses ECDSA P-256 with SHA-256', () => {
    const text = openssl(
      'x509',
      '-in',
      certs.devices['dev-1']?.certFile as string,
      '-noout',
      '-text',
    );
    expect(text).toContain('ecdsa-with-SHA256');
    expect(text).toContain('prime256v1');
  });

  it('writes Mosquitto password hashes that match the service password files', () => {
    const lines = readFileSync(certs.passwordFile as string, 'utf8')
      .trim()
      .split('\n');
    expect(lines.map((line) => line.split(':')[0])).toEqual(['ingest', 'alerts']);
    expect(
      lines.every((line) => /^[a-z]+:\$7\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.test(line)),
    ).toBe(true);
    expect(readFileSync(certs.services.ingest?.passwordFile as string, 'utf8').trim()).toMatch(
      /^[A-Za-z0-9_-]{43}$/,
    );
    expect(mosquittoPasswordLine('svc', 'pw')).toMatch(/^svc:\$7\$1000\$/);
  });

  it('writes the ACLs: devices by pattern, services by user', () => {
    expect(readFileSync(certs.aclFile, 'utf8')).toContain('pattern readwrite devices/%u/#');
    const services = readFileSync(certs.servicesAclFile as string, 'utf8');
    expect(services).toContain(
      'user ingest\ntopic read devices/+/telemetry\ntopic write devices/+/alerts\ntopic write devices/+/commands',
    );
    expect(services).toContain(
      'user alerts\ntopic read devices/+/alarm/#\ntopic write devices/+/commands/#',
    );
  });

  it('refuses to overwrite an existing CA unless asked', async () => {
    await expect(createCertificates({ dir: certs.dir })).rejects.toMatchObject({
      code: 'ERR_BULWARK_MQTT_CA_EXISTS',
    });
  });

  it('rotates a device certificate in place and revokes the old one into the CRL', async () => {
    const before = certs.devices['dev-1']?.serialNumber as string;
    const rotated = await addDevice({ dir: certs.dir, deviceId: 'dev-1', validityDays: 10 });
    expect(rotated.certFile).toBe(certs.devices['dev-1']?.certFile);
    expect(rotated.serialNumber).not.toBe(before);
    const { revoked } = await revokeDevice({
      dir: certs.dir,
      deviceId: 'dev-1',
      serialNumber: before,
    });
    expect(revoked).toEqual([before]);
    const crl = openssl('crl', '-in', certs.crlFile, '-noout', '-text');
    expect(crl.toLowerCase()).toContain(before.replace(/^0+/, ''));
    expect(crl).toContain('X509v3 CRL Number');
    expect(() =>
      openssl(
        'verify',
        '-CAfile',
        certs.caFile,
        '-CRLfile',
        certs.crlFile,
        '-crl_check',
        rotated.certFile,
      ),
    ).not.toThrow();
    await revokeDevice({ dir: certs.dir, deviceId: 'dev-1' });
    expect(() =>
      openssl(
        'verify',
        '-CAfile',
        certs.caFile,
        '-CRLfile',
        certs.crlFile,
        '-crl_check',
        rotated.certFile,
      ),
    ).toThrow(/revoked/);
  });

  it('refuses to revoke a device it never issued', async () => {
    await expect(revokeDevice({ dir: certs.dir, deviceId: 'ghost' })).rejects.toMatchObject({
      code: 'ERR_BULWARK_MQTT_UNKNOWN_DEVICE',
    });
  });

  it('refuses a device id equal to a service name', async () => {
    await expect(addDevice({ dir: certs.dir, deviceId: 'ingest' })).rejects.toMatchObject({
      code: 'ERR_BULWARK_MQTT_IDENTITY',
    });
  });
});

describe('createCertificates options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-certs-opts-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    [{ devices: ['a/b'] }, 'ERR_BULWARK_MQTT_IDENTITY'],
    [{ devices: ['+'] }, 'ERR_BULWARK_MQTT_IDENTITY'],
    [{ devices: ['dup', 'dup'] }, 'ERR_BULWARK_MQTT_IDENTITY'],
    [{ services: ['../etc'] }, 'ERR_BULWARK_MQTT_IDENTITY'],
    [{ serverHosts: ['bad host'] }, 'ERR_BULWARK_MQTT_SERVER_HOSTS'],
    [{ serverHosts: [] }, 'ERR_BULWARK_MQTT_SERVER_HOSTS'],
    [{ validityDays: 0 }, 'ERR_BULWARK_MQTT_VALIDITY'],
    [{ caName: 'CN=evil,O=x' }, 'ERR_BULWARK_MQTT_CA_NAME'],
    [{ port: 70_000 }, 'ERR_BULWARK_MQTT_PORT'],
    [{ devicePath: 'x' }, 'ERR_BULWARK_MQTT_UNKNOWN_OPTION'],
  ])('refuses %j with %s before writing anything', async (options, code) => {
    const target = join(dir, code);
    const error = await createCertificates({ dir: target, ...options } as never).catch(
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(MqttConfigError);
    expect(error).toMatchObject({ code });
    expect(() => statSync(target)).toThrow();
  });
});

describe('a PKI whose CA expires soon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-certs-short-'));
  let certs: CertificateSet;
  const snapshot = () =>
    [certs.mosquittoConfFile, join(certs.dir, 'registry.json')].map((file) =>
      readFileSync(file, 'utf8'),
    );

  beforeAll(async () => {
    certs = await createCertificates({
      dir: join(dir, 'pki'),
      devices: ['dev-1'],
      services: ['ingest'],
      caValidityDays: 30,
      validityDays: 30,
    });
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses to issue a device certificate that outlives the CA', async () => {
    const caExpiry = new Date(new X509Certificate(readFileSync(certs.caFile)).validTo);
    const error = await addDevice({ dir: certs.dir, deviceId: 'dev-9', validityDays: 365 }).catch(
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(MqttConfigError);
    expect(error).toMatchObject({
      code: 'ERR_BULWARK_MQTT_VALIDITY',
      message: expect.stringContaining(caExpiry.toISOString()),
    });
    expect((error as Error).message).toMatch(/at most 29, or rotate the CA/);
    expect(existsSync(join(certs.dir, 'devices', 'dev-9'))).toBe(false);
    expect(readFileSync(join(certs.dir, 'registry.json'), 'utf8')).not.toContain('dev-9');

    const fitting = await addDevice({ dir: certs.dir, deviceId: 'dev-9', validityDays: 29 });
    expect(fitting.notAfter.getTime()).toBeLessThanOrEqual(caExpiry.getTime());
  });

  it('does not save a bad bindAddress into registry.json, so later rewrites still work', () => {
    const before = snapshot();
    expect(() => writeMosquittoConfig(certs.dir, { bindAddress: 'not-an-ip' })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_MQTT_BIND_ADDRESS' }),
    );
    expect(() => writeMosquittoConfig(certs.dir, { port: 8884 })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_MQTT_PORT' }),
    );
    expect(snapshot()).toEqual(before);
    writeMosquittoConfig(certs.dir, { port: 9999, bindAddress: '127.0.0.1' });
    expect(readFileSync(certs.mosquittoConfFile, 'utf8')).toContain('listener 9999 127.0.0.1');
  });
});
