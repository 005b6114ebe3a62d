// publishSafe against Mosquitto through a proxy that can stall or cut the connection.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningMosquitto, requireService, startMosquitto } from '@bulwark/test-utils';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { record, type StallingProxy, startProxy } from '../test/fixtures.js';
import {
  type CertificateSet,
  connectSecure,
  createCertificates,
  deviceTopic,
  MqttConfigError,
  MqttPublishError,
  mosquittoConfig,
  publishSafe,
} from './index.js';

const hasMosquitto = await requireService('mosquitto');

describe.runIf(hasMosquitto)('publishSafe', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-mqtt-publish-'));
  let certs: CertificateSet;
  let broker: RunningMosquitto;
  let proxy: StallingProxy;
  let client: MqttClient;

  beforeAll(async () => {
    certs = await createCertificates({
      dir: join(dir, 'pki'),
      devices: ['dev-p'],
      validityDays: 2,
    });
    broker = await startMosquitto({
      dir: join(dir, 'broker'),
      config: (port) =>
        mosquittoConfig(certs, { port, bindAddress: '127.0.0.1', maxPacketSize: 4096 }),
    });
  });

  const connect = async () => {
    proxy = await startProxy(broker.port);
    client = await connectSecure({
      url: `mqtts://127.0.0.1:${proxy.port}`,
      caFile: certs.caFile,
      certFile: certs.devices['dev-p']?.certFile as string,
      keyFile: certs.devices['dev-p']?.keyFile as string,
      reconnect: false,
      connectTimeoutMs: 2000,
    });
    client.on('error', () => {});
  };

  afterEach(async () => {
    await client?.endAsync(true);
    await proxy?.close();
  });

  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('settles once the broker acknowledges the message', async () => {
    await connect();
    await expect(
      publishSafe(client, deviceTopic('dev-p', 'telemetry'), 'ok'),
    ).resolves.toBeUndefined();
    await expect(
      publishSafe(client, deviceTopic('dev-p', 'telemetry'), 'ok', { qos: 2 }),
    ).resolves.toBeUndefined();
  });

  it('rejects with connection_lost, instead of hanging, when the broker drops the connection', async () => {
    await connect();
    proxy.stall();
    const pending = publishSafe(client, deviceTopic('dev-p', 'telemetry'), 'lost', {
      timeoutMs: 30_000,
    });
    proxy.cut();
    const error = await pending.catch((err: unknown) => err);
    expect(error).toBeInstanceOf(MqttPublishError);
    expect(error).toMatchObject({ code: 'connection_lost' });
    expect(Object.keys(client.outgoing)).toEqual([]);
  });

  it('rejects with publish_timeout when the broker never acknowledges, and withdraws the message', async () => {
    await connect();
    proxy.stall();
    const rejected = record('bulwark:mqtt:publish-rejected');
    const error = await publishSafe(client, deviceTopic('dev-p', 'telemetry'), 'slow', {
      timeoutMs: 150,
    }).catch((err: unknown) => err);
    rejected.stop();
    expect(error).toMatchObject({ code: 'publish_timeout' });
    expect(rejected.events).toEqual([
      expect.objectContaining({ code: 'publish_timeout', clientId: 'dev-p' }),
    ]);
    expect(Object.keys(client.outgoing)).toEqual([]);
  });

  it('rejects with not_connected when the client is offline', async () => {
    await connect();
    await client.endAsync(true);
    await expect(publishSafe(client, deviceTopic('dev-p', 'telemetry'), 'x')).rejects.toMatchObject(
      { code: 'not_connected' },
    );
  });

  it('refuses a payload over maxPayloadBytes before sending it', async () => {
    await connect();
    await expect(
      publishSafe(client, deviceTopic('dev-p', 'telemetry'), Buffer.alloc(2048), {
        maxPayloadBytes: 1024,
      }),
    ).rejects.toMatchObject({ code: 'payload_too_large' });
  });

  it('refuses bad options at the call with a configuration error', async () => {
    await connect();
    expect(() => publishSafe(client, deviceTopic('dev-p', 'x'), 'x', { qos: 3 as 1 })).toThrow(
      MqttConfigError,
    );
    expect(() =>
      publishSafe(client, deviceTopic('dev-p', 'x'), 'x', { timeout: 5 } as never),
    ).toThrow(/Did you mean "timeoutMs"/);
  });
});
