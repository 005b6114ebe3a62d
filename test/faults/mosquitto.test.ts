// Mosquitto restarted under the example app: TLS-only reconnects with backoff, and no QoS 1 telemetry lost.
import diagnostics from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectSecure } from '@bulwark/mqtt-tls';
import {
  createTestDatabase,
  type RunningMosquitto,
  redisPrefix,
  requireService,
  startMosquitto,
  type TestDatabase,
} from '@bulwark/test-utils';
import {
  brokerConfig,
  createApp,
  DEMO_DEVICES,
  deviceIdentity,
  ensurePki,
  type IotApp,
  loadConfig,
  type Pki,
  signToken,
  tokenKey,
} from 'iot-app';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type CuttableProxy, eventually, startProxy } from './support.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const ready = await requireService('postgres', 'redis', 'mosquitto');
/** acme's demo device acme-sensor-1, as its certificate names it. */
const SENSOR = 'acme.acme-sensor-1';

interface ConnectEvent {
  clientId?: string;
  protocol?: string;
  reconnect?: boolean;
  tlsVersion?: string;
}
interface ReconnectEvent {
  clientId?: string;
  protocol?: string;
  attempt: number;
  delayMs: number;
}

describe.runIf(ready)('the example app when Mosquitto restarts', () => {
  let db: TestDatabase;
  let dataDir: string;
  let pki: Pki;
  let broker: RunningMosquitto;
  let iot: IotApp;
  let url: string;
  let device: MqttClient;
  let deviceLink: CuttableProxy;
  const connects: ConnectEvent[] = [];
  const reconnects: ReconnectEvent[] = [];
  const values = [41.5, 42.5, 43.5];
  const onConnect = (message: unknown) => connects.push(message as ConnectEvent);
  const onReconnect = (message: unknown) => reconnects.push(message as ReconnectEvent);

  beforeAll(async () => {
    db = await createTestDatabase('faults_mqtt');
    dataDir = mkdtempSync(join(tmpdir(), 'faults-mqtt-'));
    pki = await ensurePki(
      dataDir,
      DEMO_DEVICES.map((d) => deviceIdentity(d.tenantId, d.id)),
      { serviceId: 'iot-service' },
    );
    broker = await startMosquitto({
      dir: join(dataDir, 'mosquitto'),
      config: (port) => brokerConfig(pki, port),
    });
    const service = pki.identity('iot-service');
    iot = await createApp(
      loadConfig({
        DATABASE_URL: db.url,
        REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
        REDIS_PREFIX: redisPrefix('faults-mqtt'),
        MQTT_URL: `mqtts://127.0.0.1:${broker.port}`,
        MQTT_CA_FILE: pki.caFile,
        MQTT_CERT_FILE: service.certFile,
        MQTT_KEY_FILE: service.keyFile,
        DATA_DIR: dataDir,
        PORT: '0',
        LOG_LEVEL: 'silent',
      }),
    );
    ({ url } = await iot.start());
    diagnostics.subscribe('bulwark:mqtt:connect', onConnect);
    diagnostics.subscribe('bulwark:mqtt:reconnect', onReconnect);
    // The device reaches the broker through a link the test can hold down, so it comes back
    // only after the service has, and the test does not depend on which reconnects first.
    deviceLink = await startProxy(broker.port);
    const identity = pki.identity(SENSOR);
    device = await connectSecure({
      url: `mqtts://127.0.0.1:${deviceLink.port}`,
      caFile: pki.caFile,
      certFile: identity.certFile,
      keyFile: identity.keyFile,
      servername: 'localhost',
      clientId: SENSOR,
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 300 },
      reconnect: { initialDelayMs: 300, maxDelayMs: 1000 },
    } as Parameters<typeof connectSecure>[0]);
    device.on('error', () => {});
  });

  afterAll(async () => {
    diagnostics.unsubscribe('bulwark:mqtt:connect', onConnect);
    diagnostics.unsubscribe('bulwark:mqtt:reconnect', onReconnect);
    device?.end(true);
    await deviceLink?.close();
    await iot?.stop();
    await broker?.stop();
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const telemetry = async (metric: string) => {
    const token = signToken(tokenKey(iot.config.jwtSecret), {
      subject: 'viewer@acme',
      tenantId: 'acme',
      ttlSec: 600,
    });
    const response = await fetch(
      `${url}/customer/devices/acme-sensor-1/telemetry?metric=${metric}&limit=100`,
      { headers: { authorization: `Bearer ${token}` } },
    );
    expect(response.status).toBe(200);
    return ((await response.json()) as { items: { value: number }[] }).items;
  };

  it('reconnects to the restarted broker over TLS only, with growing delays, while a device queues QoS 1 telemetry', async () => {
    expect(iot.messaging.status().connected).toBe(true);
    const before = iot.messaging.status().reconnects;

    await deviceLink.cut();
    await broker.stop();
    connects.length = 0;
    reconnects.length = 0;
    // Published while nothing is reachable: mqtt.js keeps QoS 1 messages in its outgoing store.
    for (const value of values) {
      device.publish(
        `devices/${SENSOR}/telemetry`,
        JSON.stringify({ metrics: { outage: value }, ts: new Date().toISOString() }),
        { qos: 1 },
        () => {},
      );
    }
    await eventually(
      async () => ((await fetch(`${url}/ready`)).status === 503 ? true : undefined),
      5000,
      '/ready answering 503 while the broker is down',
    );
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await broker.start();

    await eventually(
      async () => (iot.messaging.status().connected ? true : undefined),
      20_000,
      'the service reconnecting',
    );
    expect(iot.messaging.status().reconnects).toBeGreaterThan(before);

    const service = reconnects.filter((e) => e.clientId === 'iot-service');
    // Backoff: a few spaced attempts in the outage, not a tight loop, and the delays grow.
    expect(service.length).toBeGreaterThanOrEqual(2);
    expect(service.length).toBeLessThan(12);
    const delays = service.map((e) => e.delayMs);
    expect(Math.max(...delays)).toBeGreaterThan(delays[0]!);
    // Every attempt and the connection that succeeded are TLS, to the configured endpoint.
    for (const event of [...service, ...connects.filter((e) => e.clientId === 'iot-service')]) {
      expect(event.protocol).toMatch(/^mqtts|^tls|^ssl/);
    }
    const back = connects.find((e) => e.clientId === 'iot-service' && e.reconnect);
    expect(back?.tlsVersion).toMatch(/^TLSv1\.[23]$/);
    await eventually(
      async () => ((await fetch(`${url}/ready`)).status === 200 ? true : undefined),
      10_000,
      '/ready answering 200 again',
    );
  });

  // Runs after the outage above: the device's link comes back only now that the service is back.
  it('stores the QoS 1 telemetry the device published during the outage, and new telemetry after it', async () => {
    await deviceLink.restore();
    await eventually(async () => (device.connected ? true : undefined), 10_000, 'device back');
    device.publish(
      `devices/${SENSOR}/telemetry`,
      JSON.stringify({ metrics: { after: 7 }, ts: new Date().toISOString() }),
      { qos: 1 },
    );
    const stored = await eventually(
      async () => {
        const items = await telemetry('outage');
        return items.length >= values.length ? items : undefined;
      },
      10_000,
      'the outage telemetry being stored',
    );
    expect(stored.map((i) => Number(i.value)).sort()).toEqual(values);
    expect((await telemetry('after')).map((i) => Number(i.value))).toEqual([7]);
  });
});
