// Reconnecting: a broker restart, a plaintext impostor on the same port, and a rotated device certificate.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import {
  freePort,
  type RunningMosquitto,
  requireService,
  startMosquitto,
} from '@bulwark/test-utils';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { record, until } from '../test/fixtures.js';
import {
  addDevice,
  type CertificateSet,
  connectSecure,
  createCertificates,
  deviceTopic,
  type MqttConnectionError,
  mosquittoConfig,
  publishSafe,
} from './index.js';

const hasMosquitto = await requireService('mosquitto');

interface ReconnectEvent {
  attempt: number;
  delayMs: number;
  code?: string;
}

describe.runIf(hasMosquitto)('reconnecting to a restarted broker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-mqtt-restart-'));
  let certs: CertificateSet;
  let broker: RunningMosquitto;
  let client: MqttClient | undefined;

  beforeAll(async () => {
    certs = await createCertificates({
      dir: join(dir, 'pki'),
      devices: ['rotor'],
      validityDays: 2,
    });
    broker = await startMosquitto({
      dir: join(dir, 'broker'),
      config: (port) => mosquittoConfig(certs, { port, bindAddress: '127.0.0.1' }),
    });
  });

  afterAll(async () => {
    await client?.endAsync(true);
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('survives a broker restart with growing, capped delays and never falls back to plaintext', async () => {
    const errors: MqttConnectionError[] = [];
    client = await connectSecure({
      url: `mqtts://127.0.0.1:${broker.port}`,
      caFile: certs.caFile,
      certFile: certs.devices.rotor?.certFile as string,
      keyFile: certs.devices.rotor?.keyFile as string,
      reconnect: { initialDelayMs: 40, maxDelayMs: 160, jitter: 0 },
      connectTimeoutMs: 2000,
    });
    client.on('error', (err) => errors.push(err as MqttConnectionError));
    const reconnects = record<ReconnectEvent>('bulwark:mqtt:reconnect');
    const connects = record('bulwark:mqtt:connect');
    await broker.stop();
    // An impostor speaking plaintext MQTT, with anonymous access, on the same port.
    const impostor = await startMosquitto({
      dir: join(dir, 'impostor'),
      port: broker.port,
      config: (port) => `listener ${port} 127.0.0.1\nallow_anonymous true\n`,
    });
    try {
      await until(() => reconnects.events.length >= 5);
      expect(client.connected).toBe(false);
      expect(connects.events).toEqual([]);
    } finally {
      await impostor.stop();
    }
    await broker.start();
    await until(() => client?.connected === true);
    reconnects.stop();
    connects.stop();
    const delays = reconnects.events.slice(0, 5).map((event) => event.delayMs);
    expect(delays).toEqual([40, 80, 160, 160, 160]);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((err) => err.name === 'MqttConnectionError')).toBe(true);
    expect(connects.events).toEqual([
      expect.objectContaining({ clientId: 'rotor', reconnect: true }),
    ]);
    const socket = client.stream as unknown as TLSSocket;
    expect(socket.encrypted).toBe(true);
    expect(socket.authorized).toBe(true);
    await publishSafe(client, deviceTopic('rotor', 'telemetry'), 'back');
  });

  it('uses a rotated certificate file on the next reconnect, without a restart of the client', async () => {
    expect(client?.connected).toBe(true);
    const before = ((client as MqttClient).stream as unknown as TLSSocket).getCertificate();
    // The old certificate is revoked in the same step, so only the new one can get back in.
    const rotated = await addDevice({
      dir: certs.dir,
      deviceId: 'rotor',
      validityDays: 2,
      revokePrevious: true,
    });
    const connects = record('bulwark:mqtt:connect');
    await broker.restart();
    await until(() => connects.events.length === 1 && client?.connected === true);
    connects.stop();
    const after = ((client as MqttClient).stream as unknown as TLSSocket).getCertificate();
    expect(after && 'serialNumber' in after ? after.serialNumber.toLowerCase() : undefined).toBe(
      rotated.serialNumber,
    );
    expect(
      before && 'serialNumber' in before ? before.serialNumber.toLowerCase() : undefined,
    ).not.toBe(rotated.serialNumber);
    await publishSafe(client as MqttClient, deviceTopic('rotor', 'telemetry'), 'rotated');
  });

  it('subscribes again after a reconnect that lost the session, so messages keep arriving', async () => {
    const live = client as MqttClient;
    const topic = deviceTopic('rotor', 'commands');
    await live.subscribeAsync(topic, { qos: 1 });
    const received: string[] = [];
    live.on('message', (from, payload) => {
      if (from === topic) received.push(payload.toString());
    });
    await publishSafe(live, topic, 'before');
    await until(() => received.includes('before'));
    const connects = record('bulwark:mqtt:connect');
    await broker.restart();
    await until(() => connects.events.length === 1 && live.connected);
    connects.stop();
    // The broker restarted without the session; the message arrives only if the client subscribed again.
    await publishSafe(live, topic, 'after');
    await until(() => received.includes('after'));
    expect(received).toEqual(['before', 'after']);
  });

  it('keeps retrying a failed first connection with retryFirstConnect, logging each failure', async () => {
    const port = await freePort();
    const warnings: string[] = [];
    const pending = connectSecure({
      url: `mqtts://127.0.0.1:${port}`,
      caFile: certs.caFile,
      certFile: certs.devices.rotor?.certFile as string,
      keyFile: certs.devices.rotor?.keyFile as string,
      reconnect: { initialDelayMs: 40, maxDelayMs: 80, jitter: 0 },
      retryFirstConnect: true,
      logger: { warn: (_message, meta) => warnings.push(String(meta?.code)) },
    });
    await until(() => warnings.length >= 2);
    const late = await startMosquitto({
      dir: join(dir, 'late'),
      port,
      config: (p) => mosquittoConfig(certs, { port: p, bindAddress: '127.0.0.1' }),
    });
    try {
      const retried = await pending;
      expect(retried.connected).toBe(true);
      expect(warnings.filter((code) => code !== 'BULWARK_MQTT_CONNECTION')).toEqual([]);
      await retried.endAsync(true);
    } finally {
      await late.stop();
    }
  });
});
