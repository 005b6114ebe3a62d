// aedesAuthorizer on a real aedes broker behind tls.createServer with requestCert, driven by connectSecure clients.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { Aedes } from 'aedes';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWebSocketStream, WebSocketServer } from 'ws';
import {
  aedesAuthorizer,
  type CertificateSet,
  type ConnectSecureOptions,
  connectSecure,
  createCertificates,
  deviceTopic,
  MqttConnectionError,
  publishSafe,
} from './index.js';

describe('aedesAuthorizer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-aedes-'));
  const clients: MqttClient[] = [];
  let certs: CertificateSet;
  let broker: Aedes;
  let server: Server;
  let url: string;
  let https: HttpsServer;
  let wssUrl: string;

  const device = (id: string, extra: Partial<ConnectSecureOptions> = {}): ConnectSecureOptions => ({
    url,
    caFile: certs.caFile,
    certFile: certs.devices[id]?.certFile as string,
    keyFile: certs.devices[id]?.keyFile as string,
    protocolVersion: 4,
    reconnect: false,
    connectTimeoutMs: 2000,
    ...extra,
  });
  const open = async (options: ConnectSecureOptions) => {
    const client = await connectSecure(options);
    client.on('error', () => {});
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    certs = await createCertificates({
      dir: join(dir, 'pki'),
      devices: ['dev-a', 'dev-b'],
      validityDays: 2,
    });
    broker = await Aedes.createBroker();
    Object.assign(broker, aedesAuthorizer());
    server = createServer(
      {
        key: readFileSync(certs.serverKeyFile),
        cert: readFileSync(certs.serverCertFile),
        ca: readFileSync(certs.caFile),
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
      },
      broker.handle as never,
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `mqtts://127.0.0.1:${(server.address() as AddressInfo).port}`;
    https = createHttpsServer({
      key: readFileSync(certs.serverKeyFile),
      cert: readFileSync(certs.serverCertFile),
      ca: readFileSync(certs.caFile),
      requestCert: true,
      rejectUnauthorized: true,
    });
    new WebSocketServer({ server: https }).on('connection', (socket, req) => {
      broker.handle(createWebSocketStream(socket) as never, req as never);
    });
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    wssUrl = `wss://127.0.0.1:${(https.address() as AddressInfo).port}/mqtt`;
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    https.closeAllConnections();
    await new Promise<void>((resolve) => https.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts a device by its certificate and delivers its own messages', async () => {
    const a = await open(device('dev-a'));
    await a.subscribeAsync('devices/dev-a/#', { qos: 1 });
    const received = new Promise<string>((resolve) => a.once('message', (topic) => resolve(topic)));
    await publishSafe(a, deviceTopic('dev-a', 'telemetry'), '1');
    expect(await received).toBe('devices/dev-a/telemetry');
  });

  it('connects over wss:// with the client certificate and keeps the same topic rule', async () => {
    const a = await open(device('dev-a', { url: wssUrl }));
    await a.subscribeAsync('devices/dev-a/#', { qos: 1 });
    const received = new Promise<string>((resolve) => a.once('message', (topic) => resolve(topic)));
    await publishSafe(a, deviceTopic('dev-a', 'status'), 'up');
    expect(await received).toBe('devices/dev-a/status');
    const refused = await a
      .subscribeAsync('devices/dev-b/#', { qos: 1 })
      .catch((err: unknown) => err);
    expect(refused).toMatchObject({ message: expect.stringContaining('Subscribe error') });
  });

  it('refuses a wss:// client without a certificate, and one that pins another CA, with typed errors', async () => {
    const noCert = await connectSecure({
      url: wssUrl,
      caFile: certs.caFile,
      reconnect: false,
      connectTimeoutMs: 2000,
    }).catch((err: unknown) => err);
    expect(noCert).toBeInstanceOf(MqttConnectionError);
    expect(noCert).toMatchObject({ code: 'client_certificate_required' });
    const other = await createCertificates({ dir: join(dir, 'other'), devices: ['dev-a'] });
    const wrongCa = await connectSecure(
      device('dev-a', { url: wssUrl, caFile: other.caFile }),
    ).catch((err: unknown) => err);
    expect(wrongCa).toMatchObject({ code: 'server_certificate_untrusted' });
  });

  it('refuses a client id that differs from the certificate CN', async () => {
    const error = await connectSecure(device('dev-a', { clientId: 'dev-b' })).catch(
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(MqttConnectionError);
    expect(error).toMatchObject({ code: 'broker_refused', reasonCode: 2 });
  });

  it("denies a subscription to another device's topics and never delivers them", async () => {
    const a = await open(device('dev-a'));
    const b = await open(device('dev-b'));
    const refused = await a
      .subscribeAsync('devices/dev-b/#', { qos: 1 })
      .catch((err: unknown) => err);
    expect(refused).toMatchObject({ message: expect.stringContaining('Subscribe error') });
    const delivered: string[] = [];
    a.on('message', (topic) => delivered.push(topic));
    await a.subscribeAsync('devices/dev-a/#', { qos: 1 });
    await publishSafe(b, deviceTopic('dev-b', 'telemetry'), 'secret');
    const barrier = new Promise<void>((resolve) => a.once('message', () => resolve()));
    await publishSafe(a, deviceTopic('dev-a', 'barrier'), 'x');
    await barrier;
    expect(delivered).toEqual(['devices/dev-a/barrier']);
  });

  it("disconnects a device that publishes to another device's topic, before anyone receives it", async () => {
    const b = await open(device('dev-b'));
    await b.subscribeAsync('devices/dev-b/#', { qos: 1 });
    const delivered: string[] = [];
    b.on('message', (topic) => delivered.push(topic));
    const a = await open(device('dev-a'));
    const error = await publishSafe(a, deviceTopic('dev-b', 'commands'), 'open', {
      timeoutMs: 2000,
    }).catch((err: unknown) => err);
    expect(error).toMatchObject({ code: 'connection_lost' });
    const barrier = new Promise<void>((resolve) => b.once('message', () => resolve()));
    await publishSafe(b, deviceTopic('dev-b', 'barrier'), 'x');
    await barrier;
    expect(delivered).toEqual(['devices/dev-b/barrier']);
  });
});
