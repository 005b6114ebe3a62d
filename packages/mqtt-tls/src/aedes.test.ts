// aedesAuthorizer on a real aedes broker behind tls.createServer with requestCert, driven by connectSecure clients.
import type { EventEmitter } from 'node:events';
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
import { until } from '../test/fixtures.js';
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

/** The will store of aedes's persistence, which its types do not expose. */
interface WillStore {
  putWill(client: { id: string }, packet: object): Promise<unknown>;
  streamWill(brokers: object): AsyncIterable<unknown>;
}
const willStore = (target: Aedes) => (target as unknown as { persistence: WillStore }).persistence;

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
  const servers: Array<Server | HttpsServer> = [];
  const brokers: Aedes[] = [];
  const tlsOptions = () => ({
    key: readFileSync(certs.serverKeyFile),
    cert: readFileSync(certs.serverCertFile),
    ca: readFileSync(certs.caFile),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2' as const,
  });
  /** Another aedes broker (closed after the test) behind its own mTLS server. */
  const serve = async (other: Aedes): Promise<string> => {
    brokers.push(other);
    const tls = createServer(tlsOptions(), other.handle as never);
    servers.push(tls);
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    return `mqtts://127.0.0.1:${(tls.address() as AddressInfo).port}`;
  };
  const listeners: Array<() => void> = [];
  /** Everything `target` publishes on `devices/#`, as `topic payload`, until the test ends. */
  const published = (target: Aedes): string[] => {
    const seen: string[] = [];
    const listener = (packet: { topic: string; payload: unknown }, done: () => void) => {
      seen.push(`${packet.topic} ${packet.payload}`);
      done();
    };
    target.subscribe('devices/#', listener as never, () => {});
    listeners.push(() => target.unsubscribe('devices/#', listener as never, () => {}));
    return seen;
  };
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
      serverHosts: ['localhost', '127.0.0.1', '::1'],
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
    for (const stop of listeners.splice(0)) stop();
    await Promise.all(
      brokers
        .splice(0)
        .map((other) => new Promise<void>((resolve) => other.close(() => resolve()))),
    );
    for (const other of servers.splice(0)) {
      if ('closeAllConnections' in other) other.closeAllConnections();
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
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

  it("refuses a device whose will targets another device's topics, with CONNACK not authorized", async () => {
    const error = await connectSecure(
      device('dev-a', {
        will: {
          topic: 'devices/dev-b/commands',
          payload: Buffer.from('unlock'),
          qos: 0,
          retain: false,
        },
      }),
    ).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(MqttConnectionError);
    expect(error).toMatchObject({ code: 'broker_not_authorized', reasonCode: 5 });
  });

  it("publishes a device's will on its own topics when its connection drops", async () => {
    const seen = published(broker);
    const a = await open(
      device('dev-a', {
        will: {
          topic: 'devices/dev-a/status',
          payload: Buffer.from('offline'),
          qos: 0,
          retain: false,
        },
      }),
    );
    a.stream.destroy();
    await until(() => seen.includes('devices/dev-a/status offline'));
  });

  it('checks the will at connect when an application installs authenticate and authorizePublish without preConnect', async () => {
    const other = await Aedes.createBroker();
    const base = aedesAuthorizer();
    other.authenticate = base.authenticate as typeof other.authenticate;
    other.authorizePublish = base.authorizePublish as typeof other.authorizePublish;
    const otherUrl = await serve(other);
    const error = await connectSecure(
      device('dev-a', {
        url: otherUrl,
        will: {
          topic: 'devices/dev-b/commands',
          payload: Buffer.from('unlock'),
          qos: 0,
          retain: false,
        },
      }),
    ).catch((err: unknown) => err);
    expect(error).toMatchObject({ code: 'broker_not_authorized', reasonCode: 5 });
    await open(
      device('dev-a', { url: otherUrl, will: { topic: 'devices/dev-a/status', payload: 'x' } }),
    );
  });

  it("does not let a stored will publish into another device's topics when the broker that held it is gone", async () => {
    // A broker that stored two wills (before wills were checked at connect) and then stopped
    // heartbeating: a crashed cluster member, or the previous run on persistent storage.
    const gone = await Aedes.createBroker({ id: 'broker-gone' });
    brokers.push(gone);
    const will = (topic: string, payload: string) => ({
      cmd: 'publish',
      topic,
      payload: Buffer.from(payload),
      qos: 0,
      retain: false,
    });
    await willStore(gone).putWill({ id: 'dev-a' }, will('devices/dev-b/commands', 'unlock'));
    await willStore(gone).putWill({ id: 'dev-b' }, will('devices/dev-b/status', 'offline'));
    const next = await Aedes.createBroker({
      persistence: willStore(gone) as never,
      heartbeatInterval: 50,
    });
    brokers.push(next);
    Object.assign(next, aedesAuthorizer());
    const errors: Error[] = [];
    (next as unknown as EventEmitter).on('error', (error: Error) => errors.push(error));
    const seen = published(next);
    await until(() => seen.length > 0 && errors.length > 0);
    expect(seen).toEqual(['devices/dev-b/status offline']);
    expect(errors).toMatchObject([{ message: expect.stringContaining('"dev-a"') }]);
    const left: unknown[] = [];
    for await (const will of willStore(next).streamWill({})) left.push(will);
    expect(left).toEqual([]);
  });

  it('disconnects a device that publishes retained telemetry, and keeps nothing to replay to a later subscriber', async () => {
    const a = await open(device('dev-a'));
    const closed = new Promise<void>((resolve) => a.once('close', () => resolve()));
    a.publish(deviceTopic('dev-a', 'telemetry'), '{"t":1}', { qos: 1, retain: true });
    await closed;
    const later = await open(device('dev-a'));
    const delivered: string[] = [];
    later.on('message', (topic) => delivered.push(topic));
    await later.subscribeAsync('devices/dev-a/#', { qos: 1 });
    const barrier = new Promise<void>((resolve) =>
      later.on('message', (topic) => topic.endsWith('/barrier') && resolve()),
    );
    await publishSafe(later, deviceTopic('dev-a', 'barrier'), 'x');
    await barrier;
    expect(delivered).toEqual(['devices/dev-a/barrier']);
  });

  it('refuses a device whose will is retained with CONNACK not authorized', async () => {
    const error = await connectSecure(
      device('dev-a', {
        will: {
          topic: 'devices/dev-a/status',
          payload: Buffer.from('offline'),
          qos: 0,
          retain: true,
        },
      }),
    ).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(MqttConnectionError);
    expect(error).toMatchObject({ code: 'broker_not_authorized', reasonCode: 5 });
  });

  it('keeps retained messages on its own topics when allowRetained is set', async () => {
    const other = await Aedes.createBroker();
    Object.assign(other, aedesAuthorizer({ allowRetained: true }));
    const otherUrl = await serve(other);
    const a = await open(device('dev-a', { url: otherUrl }));
    await publishSafe(a, deviceTopic('dev-a', 'status'), 'online', { retain: true });
    const later = await open(device('dev-a', { url: otherUrl, clientId: 'dev-a' }));
    const retained = new Promise<string>((resolve) =>
      later.once('message', (topic, payload, packet) =>
        resolve(`${topic} ${payload} ${packet.retain}`),
      ),
    );
    await later.subscribeAsync('devices/dev-a/status', { qos: 1 });
    expect(await retained).toBe('devices/dev-a/status online true');
  });

  it('refuses an allowRetained that is not a boolean, and unknown options', () => {
    expect(() => aedesAuthorizer({ allowRetained: 'yes' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_MQTT_RETAIN' }),
    );
    expect(() => aedesAuthorizer({ allowRetain: true } as never)).toThrow(
      /Did you mean "allowRetained"/,
    );
  });

  it('connects over wss:// to an IPv6 address', async () => {
    const https6 = createHttpsServer(tlsOptions());
    servers.push(https6);
    new WebSocketServer({ server: https6 }).on('connection', (socket, req) => {
      broker.handle(createWebSocketStream(socket) as never, req as never);
    });
    await new Promise<void>((resolve) => https6.listen(0, '::1', resolve));
    const a = await open(
      device('dev-a', { url: `wss://[::1]:${(https6.address() as AddressInfo).port}/mqtt` }),
    );
    await a.subscribeAsync('devices/dev-a/#', { qos: 1 });
    const received = new Promise<string>((resolve) => a.once('message', (topic) => resolve(topic)));
    await publishSafe(a, deviceTopic('dev-a', 'v6'), '1');
    expect(await received).toBe('devices/dev-a/v6');
  });
});
