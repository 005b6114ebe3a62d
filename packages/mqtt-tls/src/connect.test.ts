// connectSecure against a real Mosquitto started with the config and certificates createCertificates wrote.
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
import { record, until } from '../test/fixtures.js';
import {
  addDevice,
  type CertificateSet,
  type ConnectSecureOptions,
  connectSecure,
  createCertificates,
  deviceTopic,
  MqttConnectionError,
  MqttPublishError,
  mosquittoConfig,
  publishSafe,
  revokeDevice,
} from './index.js';

const hasMosquitto = await requireService('mosquitto');
const DAY = 86_400_000;
const FAST = { initialDelayMs: 50, maxDelayMs: 400, jitter: 0 };

describe.runIf(hasMosquitto)(
  'connectSecure against Mosquitto with the generated mTLS config',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-mqtt-'));
    const clients: MqttClient[] = [];
    let certs: CertificateSet;
    let rogue: CertificateSet;
    let broker: RunningMosquitto;
    let servicePort: number;
    let url: string;

    const device = (
      id: string,
      extra: Partial<ConnectSecureOptions> = {},
    ): ConnectSecureOptions => {
      const files = certs.devices[id] ?? {
        certFile: join(certs.dir, 'devices', id, 'device.crt'),
        keyFile: join(certs.dir, 'devices', id, 'device.key'),
      };
      return {
        url,
        caFile: certs.caFile,
        certFile: files.certFile,
        keyFile: files.keyFile,
        reconnect: FAST,
        connectTimeoutMs: 3000,
        ...extra,
      };
    };
    const open = async (options: ConnectSecureOptions): Promise<MqttClient> => {
      const client = await connectSecure(options);
      clients.push(client);
      return client;
    };
    const refusal = async (options: ConnectSecureOptions): Promise<MqttConnectionError> => {
      const error = await connectSecure(options).then(
        (client) => {
          clients.push(client);
          throw new Error('connected, but a refusal was expected');
        },
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(MqttConnectionError);
      return error as MqttConnectionError;
    };
    // Waits until `client` has received `topic`: every message the broker routed to it earlier has arrived too.
    const barrier = async (client: MqttClient, topic: string): Promise<void> => {
      const seen = new Promise<void>((resolve) => {
        const onMessage = (received: string) => {
          if (received === topic) {
            client.removeListener('message', onMessage);
            resolve();
          }
        };
        client.on('message', onMessage);
      });
      await publishSafe(client, topic, 'barrier');
      await seen;
    };

    beforeAll(async () => {
      certs = await createCertificates({
        dir: join(dir, 'pki'),
        caName: 'Bulwark Test CA',
        devices: ['dev-a', 'dev-b', 'lost'],
        services: ['ingest'],
        validityDays: 2,
      });
      await addDevice({
        dir: certs.dir,
        deviceId: 'old',
        notBefore: new Date(Date.now() - 10 * DAY),
        validityDays: 1,
      });
      await revokeDevice({ dir: certs.dir, deviceId: 'lost' });
      rogue = await createCertificates({
        dir: join(dir, 'rogue'),
        caName: 'Bulwark Test CA',
        devices: ['dev-a'],
      });
      servicePort = await freePort();
      broker = await startMosquitto({
        dir: join(dir, 'broker'),
        config: (port) => mosquittoConfig(certs, { port, servicePort, bindAddress: '127.0.0.1' }),
      });
      url = `mqtts://127.0.0.1:${broker.port}`;
    });

    afterEach(async () => {
      await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
    });

    afterAll(async () => {
      await broker?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('connects a device with its certificate over TLS and publishes to its own topic', async () => {
      const connects = record('bulwark:mqtt:connect');
      const client = await open(device('dev-a'));
      connects.stop();
      expect(client.options.clientId).toBe('dev-a');
      expect(connects.events).toEqual([
        expect.objectContaining({ clientId: 'dev-a', protocol: 'mqtts', reconnect: false }),
      ]);
      const topic = deviceTopic('dev-a', 'telemetry');
      await client.subscribeAsync('devices/dev-a/#', { qos: 1 });
      const received = new Promise<string>((resolve) =>
        client.once('message', (_t, payload) => resolve(payload.toString())),
      );
      await publishSafe(client, topic, '{"t":21.5}');
      expect(await received).toBe('{"t":21.5}');
    });

    it('refuses a client without a certificate with client_certificate_required', async () => {
      const error = await refusal({ url, caFile: certs.caFile, connectTimeoutMs: 3000 });
      expect(error.code).toBe('client_certificate_required');
    });

    it('refuses a client certificate from a rogue CA with the same name with client_certificate_untrusted', async () => {
      const tlsErrors = record('bulwark:mqtt:tls-error');
      const error = await refusal(
        device('dev-a', {
          certFile: rogue.devices['dev-a']?.certFile as string,
          keyFile: rogue.devices['dev-a']?.keyFile as string,
        }),
      );
      tlsErrors.stop();
      expect(error.code).toBe('client_certificate_untrusted');
      expect(tlsErrors.events).toContainEqual(
        expect.objectContaining({ code: 'client_certificate_untrusted', clientId: 'dev-a' }),
      );
    });

    it('refuses a broker that the pinned CA did not sign with server_certificate_untrusted', async () => {
      const error = await refusal(device('dev-a', { caFile: rogue.caFile }));
      expect(error.code).toBe('server_certificate_untrusted');
    });

    it('refuses an expired client certificate with client_certificate_expired', async () => {
      const error = await refusal(device('old'));
      expect(error.code).toBe('client_certificate_expired');
    });

    it('refuses a revoked client certificate (CRL) with client_certificate_revoked', async () => {
      const error = await refusal(device('lost'));
      expect(error.code).toBe('client_certificate_revoked');
    });

    it('refuses a broker whose certificate does not name the host with server_hostname_mismatch', async () => {
      const error = await refusal(device('dev-a', { servername: 'broker.example' }));
      expect(error.code).toBe('server_hostname_mismatch');
    });

    it('reports a plaintext client on the TLS port as a typed connection_closed error, not a silent close', async () => {
      const error = await refusal({
        url: `mqtt://127.0.0.1:${broker.port}`,
        allowInsecure: true,
        connectTimeoutMs: 3000,
      });
      expect(error.code).toBe('connection_closed');
    });

    it('refuses device A publishing to device B with publish_rejected 0x87 and B never receives it', async () => {
      const b = await open(device('dev-b'));
      const a = await open(device('dev-a'));
      const delivered: string[] = [];
      await b.subscribeAsync('devices/dev-b/#', { qos: 1 });
      b.on('message', (topic) => delivered.push(topic));
      const rejected = record('bulwark:mqtt:publish-rejected');
      const error = await publishSafe(a, deviceTopic('dev-b', 'commands', 'unlock'), 'open').catch(
        (err: unknown) => err,
      );
      rejected.stop();
      expect(error).toBeInstanceOf(MqttPublishError);
      expect(error).toMatchObject({ code: 'publish_rejected', reasonCode: 0x87 });
      expect(rejected.events).toContainEqual(
        expect.objectContaining({ code: 'publish_rejected', reasonCode: 0x87, clientId: 'dev-a' }),
      );
      await barrier(b, deviceTopic('dev-b', 'barrier'));
      expect(delivered).toEqual([deviceTopic('dev-b', 'barrier')]);
    });

    it('drops device A publishing to device B under MQTT 3.1.1, where the broker cannot say so', async () => {
      const b = await open(device('dev-b'));
      const a = await open(device('dev-a', { protocolVersion: 4 }));
      const delivered: string[] = [];
      await b.subscribeAsync('devices/dev-b/#', { qos: 1 });
      b.on('message', (topic) => delivered.push(topic));
      await publishSafe(a, deviceTopic('dev-b', 'commands', 'unlock'), 'open');
      await barrier(b, deviceTopic('dev-b', 'barrier'));
      expect(delivered).toEqual([deviceTopic('dev-b', 'barrier')]);
    });

    it('does not let device A subscribe to or receive device B topics', async () => {
      const a = await open(device('dev-a'));
      const b = await open(device('dev-b'));
      const delivered: string[] = [];
      a.on('message', (topic) => delivered.push(topic));
      // Mosquitto may grant the SUBACK; what matters is that it never delivers B's messages to A.
      await a.subscribeAsync('devices/dev-b/#', { qos: 1 }).catch(() => undefined);
      await a.subscribeAsync('devices/+/telemetry', { qos: 1 }).catch(() => undefined);
      await a.subscribeAsync('#', { qos: 1 }).catch(() => undefined);
      await a.subscribeAsync('devices/dev-a/#', { qos: 1 });
      await publishSafe(b, deviceTopic('dev-b', 'telemetry'), 'secret reading');
      await barrier(a, deviceTopic('dev-a', 'barrier'));
      expect(delivered).toContain(deviceTopic('dev-a', 'barrier'));
      expect(delivered.filter((topic) => topic !== deviceTopic('dev-a', 'barrier'))).toEqual([]);
    });

    it('refuses wildcard and $SYS publishes before they reach the wire', async () => {
      const a = await open(device('dev-a'));
      const sent: string[] = [];
      a.on('packetsend', (packet) => sent.push(packet.cmd));
      for (const topic of [
        'devices/dev-a/#',
        'devices/+/telemetry',
        '$SYS/broker/clients',
        'devices//x',
      ]) {
        await expect(publishSafe(a, topic, 'x')).rejects.toMatchObject({ code: 'topic_invalid' });
        const raw = await new Promise<unknown>((resolve) =>
          a.publish(topic, 'x', { qos: 1 }, resolve),
        );
        expect(raw).toMatchObject({ code: 'topic_invalid' });
      }
      expect(sent).not.toContain('publish');
    });

    it('lets a service log in with its password file on the service listener and read device telemetry', async () => {
      const service = await open({
        url: `mqtts://127.0.0.1:${servicePort}`,
        caFile: certs.caFile,
        username: 'ingest',
        passwordFile: certs.services.ingest?.passwordFile as string,
        reconnect: FAST,
      });
      await service.subscribeAsync('devices/+/telemetry', { qos: 1 });
      const received = new Promise<string>((resolve) =>
        service.once('message', (topic) => resolve(topic)),
      );
      const a = await open(device('dev-a'));
      await publishSafe(a, deviceTopic('dev-a', 'telemetry'), '1');
      expect(await received).toBe('devices/dev-a/telemetry');
    });

    it('reports a certificate file that vanished before a reconnect, and recovers once it is back', async () => {
      const { copyFileSync, renameSync } = await import('node:fs');
      const own = join(dir, 'own');
      const { mkdirSync } = await import('node:fs');
      mkdirSync(own, { recursive: true });
      copyFileSync(certs.devices['dev-a']?.certFile as string, join(own, 'device.crt'));
      copyFileSync(certs.devices['dev-a']?.keyFile as string, join(own, 'device.key'));
      const client = await open(
        device('dev-a', { certFile: join(own, 'device.crt'), keyFile: join(own, 'device.key') }),
      );
      const errors: string[] = [];
      client.on('error', (err) => errors.push((err as MqttConnectionError).code));
      renameSync(join(own, 'device.crt'), join(own, 'moved.crt'));
      client.stream.destroy();
      await until(() => errors.includes('credentials_unreadable'));
      const connects = record('bulwark:mqtt:connect');
      renameSync(join(own, 'moved.crt'), join(own, 'device.crt'));
      await until(() => connects.events.length === 1);
      connects.stop();
      expect(client.connected).toBe(true);
    });

    it('negotiates TLS 1.3 when asked for it as the minimum', async () => {
      const connects = record<{ tlsVersion?: string }>('bulwark:mqtt:connect');
      await open(device('dev-a', { minVersion: 'TLSv1.3' }));
      connects.stop();
      expect(connects.events[0]?.tlsVersion).toBe('TLSv1.3');
    });

    it('stops a pending first connection when its signal aborts', async () => {
      const controller = new AbortController();
      controller.abort(new Error('shutting down'));
      await expect(connectSecure(device('dev-a', { signal: controller.signal }))).rejects.toThrow(
        'shutting down',
      );
    });

    it('withdraws a publish whose signal aborts', async () => {
      const a = await open(device('dev-a'));
      const controller = new AbortController();
      const pending = publishSafe(a, deviceTopic('dev-a', 'x'), 'x', { signal: controller.signal });
      controller.abort(new Error('cancelled'));
      await expect(pending).rejects.toThrow('cancelled');
      expect(Object.keys(a.outgoing)).toEqual([]);
    });

    it('refuses a service with a wrong password with broker_bad_credentials', async () => {
      const error = await refusal({
        url: `mqtts://127.0.0.1:${servicePort}`,
        caFile: certs.caFile,
        username: 'ingest',
        password: 'not-the-password',
      });
      expect(['broker_bad_credentials', 'broker_not_authorized']).toContain(error.code);
    });
  },
);

describe.runIf(hasMosquitto)('connectSecure and a broker certificate without the IP', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-mqtt-san-'));
  let certs: CertificateSet;
  let broker: RunningMosquitto;

  beforeAll(async () => {
    certs = await createCertificates({
      dir: join(dir, 'pki'),
      serverHosts: ['localhost'],
      devices: ['dev-a'],
      validityDays: 2,
    });
    broker = await startMosquitto({
      dir: join(dir, 'broker'),
      config: (port) => mosquittoConfig(certs, { port, bindAddress: '127.0.0.1' }),
    });
  });

  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to connect by an IP address that is not in the SANs with server_hostname_mismatch', async () => {
    const options = {
      caFile: certs.caFile,
      certFile: certs.devices['dev-a']?.certFile as string,
      keyFile: certs.devices['dev-a']?.keyFile as string,
      reconnect: false as const,
    };
    const error = await connectSecure({
      url: `mqtts://127.0.0.1:${broker.port}`,
      ...options,
    }).catch((err: unknown) => err);
    expect(error).toMatchObject({ name: 'MqttConnectionError', code: 'server_hostname_mismatch' });
    const client = await connectSecure({
      url: `mqtts://127.0.0.1:${broker.port}`,
      servername: 'localhost',
      ...options,
    });
    await client.endAsync(true);
  });
});

describe('connectSecure options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-mqtt-options-'));
  let certs: CertificateSet;
  const env = process.env.NODE_ENV;

  beforeAll(async () => {
    certs = await createCertificates({
      dir: join(dir, 'pki'),
      devices: ['dev-a', 'dev-b'],
      validityDays: 2,
    });
  });

  afterEach(() => {
    process.env.NODE_ENV = env;
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const files = () => ({
    caFile: certs.caFile,
    certFile: certs.devices['dev-a']?.certFile as string,
    keyFile: certs.devices['dev-a']?.keyFile as string,
  });
  const codeOf = (options: unknown): string | undefined => {
    try {
      void connectSecure(options as ConnectSecureOptions);
    } catch (err) {
      return (err as { code?: string }).code;
    }
    return undefined;
  };

  it('refuses plaintext URLs unless allowInsecure is set', () => {
    expect(codeOf({ url: 'mqtt://127.0.0.1:1883' })).toBe('ERR_BULWARK_MQTT_INSECURE');
    expect(codeOf({ url: 'ws://127.0.0.1:80' })).toBe('ERR_BULWARK_MQTT_INSECURE');
  });

  it('refuses plaintext in production even with allowInsecure', () => {
    process.env.NODE_ENV = 'production';
    expect(() => connectSecure({ url: 'mqtt://127.0.0.1:1883', allowInsecure: true })).toThrow(
      /production/,
    );
  });

  it('refuses to turn certificate verification off', () => {
    expect(codeOf({ url: 'mqtts://127.0.0.1', rejectUnauthorized: false })).toBe(
      'ERR_BULWARK_MQTT_UNVERIFIED_TLS',
    );
  });

  it('refuses options mqtt.js would ignore silently, naming the right one', () => {
    expect(() => connectSecure({ url: 'mqtts://127.0.0.1', certPath: 'x' } as never)).toThrow(
      /unknown option "certPath". Did you mean "certFile"\?/,
    );
    expect(() => connectSecure({ url: 'mqtts://127.0.0.1', caPaths: ['x'] } as never)).toThrow(
      /Did you mean "caFile"/,
    );
    expect(() => connectSecure({ url: 'mqtts://127.0.0.1', keyFlie: 'x' } as never)).toThrow(
      /Did you mean "keyFile"/,
    );
    expect(() =>
      connectSecure({ url: 'mqtts://127.0.0.1', reconnectPeriod: 1000 } as never),
    ).toThrow(/Did you mean "reconnect"/);
  });

  it.each([
    [{ url: 'tls://127.0.0.1' }, 'ERR_BULWARK_MQTT_URL'],
    [{ url: 'not a url' }, 'ERR_BULWARK_MQTT_URL'],
    [{ url: 'mqtts://user:hunter2@127.0.0.1' }, 'ERR_BULWARK_MQTT_URL_CREDENTIALS'],
    [{ url: 'mqtts://127.0.0.1', minVersion: 'TLSv1.1' }, 'ERR_BULWARK_MQTT_TLS_VERSION'],
    [{ url: 'mqtts://127.0.0.1', servername: '10.0.0.1' }, 'ERR_BULWARK_MQTT_SERVERNAME'],
    [
      { url: 'mqtts://127.0.0.1', certFile: '/nope.crt' },
      'ERR_BULWARK_MQTT_CLIENT_CERT_INCOMPLETE',
    ],
    [{ url: 'mqtts://127.0.0.1', caFile: '/nope/ca.crt' }, 'ERR_BULWARK_MQTT_FILE_UNREADABLE'],
    [{ url: 'mqtts://127.0.0.1', ca: 'x', caFile: '/x' }, 'ERR_BULWARK_MQTT_CONFLICT'],
    [{ url: 'mqtts://127.0.0.1', password: 'hunter2' }, 'ERR_BULWARK_MQTT_USERNAME'],
    [{ url: 'mqtts://127.0.0.1', protocolVersion: 3 }, 'ERR_BULWARK_MQTT_PROTOCOL_VERSION'],
    [{ url: 'mqtts://127.0.0.1', reconnect: { initialDelayMs: -1 } }, 'ERR_BULWARK_MQTT_RECONNECT'],
    [{ url: 'mqtts://127.0.0.1', reconnect: { jitter: 2 } }, 'ERR_BULWARK_MQTT_RECONNECT'],
    [{ url: 'mqtts://127.0.0.1', reconnect: { maxDelay: 5 } }, 'ERR_BULWARK_MQTT_UNKNOWN_OPTION'],
    [{ url: 'mqtts://127.0.0.1', keepalive: -5 }, 'ERR_BULWARK_MQTT_KEEPALIVE'],
    [{ url: 'mqtt://127.0.0.1', allowInsecure: true, caFile: '/x' }, 'ERR_BULWARK_MQTT_INSECURE'],
    [{ url: 'mqtt://127.0.0.1', allowInsecure: true, crlFile: '/x' }, 'ERR_BULWARK_MQTT_INSECURE'],
    [{ url: 'mqtts://127.0.0.1', crl: 'x', crlFile: '/x' }, 'ERR_BULWARK_MQTT_CONFLICT'],
    [{ url: 'mqtts://127.0.0.1', crl: [] }, 'ERR_BULWARK_MQTT_CRL'],
    [{ url: 'mqtts://127.0.0.1', crlFile: '/nope/ca.crl' }, 'ERR_BULWARK_MQTT_FILE_UNREADABLE'],
    [{ url: 'mqtts://127.0.0.1', allowInsecure: 'yes' }, 'ERR_BULWARK_MQTT_OPTIONS'],
  ])('refuses %j with %s', (options, code) => {
    expect(codeOf(options)).toBe(code);
  });

  it('never puts a password in an error message', () => {
    for (const options of [
      { url: 'mqtts://user:hunter2@127.0.0.1' },
      { url: 'mqtts://127.0.0.1', password: 'hunter2' },
      { url: 'mqtts://127.0.0.1', username: 'svc', password: 'hunter2', passwordFile: '/x' },
    ]) {
      expect(() => connectSecure(options as ConnectSecureOptions)).toThrow(
        expect.objectContaining({ message: expect.not.stringContaining('hunter2') }),
      );
    }
  });

  it('refuses a crlFile that holds a certificate instead of a CRL', () => {
    const { caFile } = files();
    expect(codeOf({ url: 'mqtts://127.0.0.1', caFile, crlFile: caFile })).toBe(
      'ERR_BULWARK_MQTT_CRL',
    );
  });

  it('refuses a key that does not belong to the certificate', () => {
    expect(
      codeOf({ url: 'mqtts://127.0.0.1', ...files(), keyFile: certs.devices['dev-b']?.keyFile }),
    ).toBe('ERR_BULWARK_MQTT_CLIENT_CERT');
  });

  it('warns, with a code, when a key file is readable by other users', async () => {
    const { chmodSync } = await import('node:fs');
    const { keyFile } = files();
    chmodSync(keyFile, 0o644);
    const warnings: Array<Record<string, unknown> | undefined> = [];
    const pending = connectSecure({
      url: 'mqtts://127.0.0.1:1',
      ...files(),
      reconnect: false,
      logger: { warn: (_message, meta) => warnings.push(meta) },
    });
    chmodSync(keyFile, 0o600);
    await pending.catch(() => undefined);
    expect(warnings).toContainEqual(
      expect.objectContaining({ code: 'BULWARK_MQTT_SECRET_FILE_MODE', option: 'keyFile' }),
    );
  });

  it('aborts a first connection that hangs, and reports a silent broker as connect_timeout', async () => {
    const { createServer } = await import('node:net');
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const url = `mqtts://127.0.0.1:${(silent.address() as { port: number }).port}`;
    try {
      const controller = new AbortController();
      const pending = connectSecure({
        url,
        ...files(),
        reconnect: false,
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(new Error('gave up')), 50);
      await expect(pending).rejects.toThrow('gave up');
      const timedOut = await connectSecure({
        url,
        ...files(),
        reconnect: false,
        connectTimeoutMs: 100,
      }).catch((err: unknown) => err);
      expect(timedOut).toMatchObject({ code: 'connect_timeout' });
    } finally {
      silent.close();
    }
  });

  it('reports a port where nothing listens as connection_refused', async () => {
    const error = await connectSecure({
      url: 'mqtts://127.0.0.1:1',
      ...files(),
      reconnect: false,
    }).catch((err: unknown) => err);
    expect(error).toMatchObject({ code: 'connection_refused' });
  });
});
