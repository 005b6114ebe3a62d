// The generated mosquitto.conf: mTLS only, identities from certificates, no plaintext unless asked.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  type RunningMosquitto,
  requireService,
  startMosquitto,
} from '@bulwark/test-utils';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CertificateSet,
  type ConnectSecureOptions,
  connectSecure,
  createCertificates,
  deviceTopic,
  MqttConfigError,
  MqttPublishError,
  mosquittoAcl,
  mosquittoConfig,
  publishSafe,
  servicesAcl,
  TLS12_CIPHERS,
  TLS13_CIPHERSUITES,
} from './index.js';

const files = {
  caFile: '/pki/ca.crt',
  serverCertFile: '/pki/server.crt',
  serverKeyFile: '/pki/server.key',
  aclFile: '/pki/devices.acl',
  crlFile: '/pki/ca.crl',
};

describe('mosquittoConfig', () => {
  it('writes one mTLS device listener with identity from the certificate and the ACL', () => {
    const text = mosquittoConfig(files, { port: 9883, bindAddress: '127.0.0.1' });
    const lines = text.split('\n');
    expect(lines).toContain('per_listener_settings true');
    expect(lines).toContain('listener 9883 127.0.0.1');
    for (const line of [
      'require_certificate true',
      'use_identity_as_username true',
      'use_username_as_clientid true',
      'tls_version tlsv1.2',
      'allow_anonymous false',
      'acl_file /pki/devices.acl',
      'crlfile /pki/ca.crl',
      'max_packet_size 262144',
    ]) {
      expect(lines).toContain(line);
    }
    expect(lines.filter((line) => line.startsWith('listener '))).toHaveLength(1);
  });

  it('puts use_username_as_clientid inside the listener block, never at top level', () => {
    const text = mosquittoConfig(files);
    expect(text.indexOf('use_username_as_clientid')).toBeGreaterThan(text.indexOf('listener 8883'));
  });

  it('adds a password listener for services and a plaintext one only when asked', () => {
    const withServices = {
      ...files,
      passwordFile: '/pki/passwd',
      servicesAclFile: '/pki/services.acl',
    };
    expect(mosquittoConfig(withServices, { servicePort: 9884 })).toContain('listener 9884\n');
    expect(mosquittoConfig(withServices)).not.toContain('127.0.0.1\nallow_anonymous');
    const plaintext = mosquittoConfig(withServices, { plaintextPort: 1883 });
    expect(plaintext).toContain(
      'listener 1883 127.0.0.1\nallow_anonymous false\npassword_file /pki/passwd',
    );
    expect(() => mosquittoConfig(files, { plaintextPort: 1883 })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_MQTT_INSECURE' }),
    );
  });

  it('refuses bad ports, addresses, paths and unknown options', () => {
    expect(() => mosquittoConfig(files, { port: 0 })).toThrow(MqttConfigError);
    expect(() => mosquittoConfig(files, { bindAddress: 'localhost' })).toThrow(MqttConfigError);
    expect(() => mosquittoConfig({ ...files, aclFile: '/x\nallow_anonymous true' })).toThrow(
      MqttConfigError,
    );
    expect(() => mosquittoConfig(files, { listener: 1 } as never)).toThrow(
      /unknown option "listener"/,
    );
  });

  it('writes the device ACL rule', () => {
    expect(mosquittoAcl()).toContain('pattern readwrite devices/%u/#');
  });

  it('names only ECDHE suites with AEAD encryption for TLS 1.2, and the TLS 1.3 suites, on every TLS listener', () => {
    const text = mosquittoConfig(
      { ...files, passwordFile: '/pki/passwd', servicesAclFile: '/pki/services.acl' },
      { plaintextPort: 1883 },
    );
    const lines = text.split('\n');
    const ciphers = lines.filter((line) => line.startsWith('ciphers '));
    // The device and service listeners, not the loopback plaintext one.
    expect(ciphers).toEqual([`ciphers ${TLS12_CIPHERS}`, `ciphers ${TLS12_CIPHERS}`]);
    for (const suite of TLS12_CIPHERS.split(':')) {
      expect(suite).toMatch(
        /^ECDHE-(?:ECDSA|RSA)-(?:AES(?:128|256)-GCM-SHA(?:256|384)|CHACHA20-POLY1305)$/,
      );
    }
    expect(lines.filter((line) => line === `ciphers_tls1.3 ${TLS13_CIPHERSUITES}`)).toHaveLength(2);
    expect(TLS13_CIPHERSUITES).not.toMatch(/CCM/);
  });

  it('refuses retained messages broker-wide unless allowRetained asks for them', () => {
    const lines = mosquittoConfig(files).split('\n');
    expect(lines).toContain('retain_available false');
    // A global option: before the first listener, or Mosquitto would read it as the listener's.
    expect(lines.indexOf('retain_available false')).toBeLessThan(
      lines.findIndex((line) => line.startsWith('listener ')),
    );
    expect(mosquittoConfig(files, { allowRetained: true })).toContain('retain_available true\n');
    expect(() => mosquittoConfig(files, { allowRetained: 'no' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_MQTT_RETAIN' }),
    );
  });

  it('gives a service without its own rights telemetry to read and alerts and commands to write, never all device topics', () => {
    const acl = servicesAcl({ ingest: {}, audit: { read: ['devices/+/status'], write: [] } });
    expect(acl).toContain(
      'user ingest\ntopic read devices/+/telemetry\ntopic write devices/+/alerts\ntopic write devices/+/commands\n',
    );
    expect(acl).toContain('user audit\ntopic read devices/+/status\n');
    expect(acl).not.toContain('devices/#');
  });
});

const hasMosquitto = await requireService('mosquitto');

describe.runIf(hasMosquitto)('the generated mosquitto.conf on a real Mosquitto', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-mosquitto-config-'));
  const clients: MqttClient[] = [];
  let certs: CertificateSet;
  let broker: RunningMosquitto;
  let servicePort: number;

  const device = (id: string, extra: Partial<ConnectSecureOptions> = {}): ConnectSecureOptions => ({
    url: `mqtts://127.0.0.1:${broker.port}`,
    caFile: certs.caFile,
    certFile: certs.devices[id]?.certFile as string,
    keyFile: certs.devices[id]?.keyFile as string,
    servername: 'localhost',
    reconnect: false,
    connectTimeoutMs: 5000,
    ...extra,
  });
  const open = async (options: ConnectSecureOptions) => {
    const client = await connectSecure(options);
    client.on('error', () => {});
    clients.push(client);
    return client;
  };
  /** Publishes on `topic` as `from` and waits until `to` has it: what the broker routed earlier has arrived. */
  const barrier = async (from: MqttClient, to: MqttClient, topic: string) => {
    const seen = new Promise<void>((resolve) => {
      const onMessage = (received: string) => {
        if (received !== topic) return;
        to.removeListener('message', onMessage);
        resolve();
      };
      to.on('message', onMessage);
    });
    await publishSafe(from, topic, 'barrier');
    await seen;
  };
  /** One TLS handshake with the openssl CLI as dev-a: the negotiated protocol and cipher, or null. */
  const handshake = (port: number, args: string[]) => {
    const run = spawnSync(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${port}`,
        '-servername',
        'localhost',
        '-CAfile',
        certs.caFile,
        '-cert',
        certs.devices['dev-a']?.certFile as string,
        '-key',
        certs.devices['dev-a']?.keyFile as string,
        ...args,
      ],
      { input: '', encoding: 'utf8', timeout: 10_000 },
    );
    const cipher = /Cipher is (\S+)/.exec(run.stdout)?.[1];
    const protocol =
      /Protocol *: *(\S+)/.exec(run.stdout)?.[1] ?? /^New, (\S+),/m.exec(run.stdout)?.[1];
    return run.status === 0 && cipher && cipher !== '(NONE)' ? { cipher, protocol } : null;
  };

  beforeAll(async () => {
    certs = await createCertificates({
      dir: join(dir, 'pki'),
      devices: ['dev-a', 'dev-b'],
      services: ['ingest'],
      validityDays: 2,
    });
    servicePort = await freePort();
    broker = await startMosquitto({
      dir: join(dir, 'broker'),
      config: (port) => mosquittoConfig(certs, { port, servicePort, bindAddress: '127.0.0.1' }),
    });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  });

  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a TLS 1.2 handshake with a CBC-SHA1 suite and accepts the default TLS 1.2 and 1.3 handshakes', async () => {
    expect(handshake(broker.port, ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA'])).toBeNull();
    expect(handshake(broker.port, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA'])).toBeNull();
    expect(handshake(broker.port, ['-tls1_2', '-cipher', 'AES128-SHA256'])).toBeNull();
    const tls12 = handshake(broker.port, ['-tls1_2']);
    expect(tls12?.protocol).toBe('TLSv1.2');
    expect(TLS12_CIPHERS.split(':')).toContain(tls12?.cipher);
    const tls13 = handshake(broker.port, []);
    expect(tls13?.protocol).toBe('TLSv1.3');
    expect(TLS13_CIPHERSUITES.split(':')).toContain(tls13?.cipher);
    expect(handshake(servicePort, ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA'])).toBeNull();
  });

  it('accepts that CBC-SHA1 handshake on the same listener without the ciphers line, so the refusal comes from the config', async () => {
    const otherPort = await freePort();
    const without = await startMosquitto({
      dir: join(dir, 'without-ciphers'),
      config: (port) =>
        mosquittoConfig(certs, { port, bindAddress: '127.0.0.1', servicePort: otherPort })
          .split('\n')
          .filter((line) => !line.startsWith('ciphers'))
          .join('\n'),
    });
    try {
      expect(
        handshake(without.port, ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA'])?.cipher,
      ).toBe('ECDHE-ECDSA-AES128-SHA');
    } finally {
      await without.stop();
    }
  });

  it('disconnects a device that publishes retained telemetry, so no later subscriber is replayed it', async () => {
    const a = await open(device('dev-a', { protocolVersion: 4 }));
    const closed = new Promise<void>((resolve) => a.once('close', () => resolve()));
    a.publish(deviceTopic('dev-a', 'telemetry'), '{"t":1}', { qos: 1, retain: true });
    await closed;
    const later = await open(device('dev-a'));
    const delivered: string[] = [];
    later.on('message', (topic, payload) => delivered.push(`${topic} ${payload}`));
    await later.subscribeAsync('devices/dev-a/#', { qos: 1 });
    await barrier(later, later, deviceTopic('dev-a', 'barrier'));
    expect(delivered).toEqual(['devices/dev-a/barrier barrier']);
  });

  it("lets the ingest service read telemetry and send alerts, and refuses it a device's telemetry topic", async () => {
    const service = await open({
      url: `mqtts://127.0.0.1:${servicePort}`,
      caFile: certs.caFile,
      servername: 'localhost',
      username: 'ingest',
      passwordFile: certs.services.ingest?.passwordFile as string,
      reconnect: false,
    });
    await service.subscribeAsync('devices/+/telemetry', { qos: 1 });
    const b = await open(device('dev-b'));
    await b.subscribeAsync('devices/dev-b/#', { qos: 1 });
    const toDevice: string[] = [];
    b.on('message', (topic) => toDevice.push(topic));
    const spoofed = await publishSafe(service, deviceTopic('dev-b', 'telemetry'), '{"t":99}').catch(
      (err: unknown) => err,
    );
    expect(spoofed).toBeInstanceOf(MqttPublishError);
    expect(spoofed).toMatchObject({ code: 'publish_rejected' });
    await publishSafe(service, deviceTopic('dev-b', 'alerts'), '{"id":"a-1"}');
    await publishSafe(service, deviceTopic('dev-b', 'commands'), 'reboot');
    await barrier(b, b, deviceTopic('dev-b', 'barrier'));
    expect(toDevice).toEqual([
      'devices/dev-b/alerts',
      'devices/dev-b/commands',
      'devices/dev-b/barrier',
    ]);
  });
});
