// MQTT: the embedded aedes broker (mTLS) or an external one, the service's client, ingest and alert publishing.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:tls';
import { sql } from '@bulwark/db-safety';
import { runWithTraceId } from '@bulwark/error-handler';
import {
  type AedesClientLike,
  aedesAuthorizer,
  authorizeTopic,
  connectSecure,
  parseTopic,
  publishSafe,
  TLS12_CIPHERS,
  TLS13_CIPHERSUITES,
} from '@bulwark/mqtt-tls';
import { Aedes } from 'aedes';
import type { MqttClient } from 'mqtt';
import type { AppConfig } from './config.js';
import type { Database } from './database.js';
import { deviceIdentity, parseDeviceIdentity } from './device-identity.js';
import { listenOn } from './listen.js';
import type { Logger } from './logger.js';
import type { Pki } from './pki.js';
import { SERVICE_RIGHTS } from './pki.js';
import { type FiredAlert, parseTelemetryPayload, storeReadings } from './telemetry.js';

export interface Messaging {
  /** The broker URL devices connect to. */
  url: string;
  embedded: boolean;
  /** Connected, subscribed and counting. */
  status(): {
    connected: boolean;
    reconnects: number;
    received: number;
    /** Messages dropped, for any reason (each one logged as `mqtt message rejected`). */
    rejected: number;
    /** Of those, retained messages: a broker replays them on every subscription, so they are old. */
    retained: number;
    stored: number;
  };
  /** Publishes each alert on `devices/<tenant>.<deviceId>/alerts` (QoS 1, acknowledged). */
  publishAlerts(alerts: FiredAlert[]): Promise<void>;
  close(): Promise<void>;
}

/** True when `filter` (for a subscription) or `topic` matches one of the service's filters. */
function serviceMay(action: 'read' | 'write', topic: string): boolean {
  const filters: readonly string[] = SERVICE_RIGHTS[action];
  if (action === 'read') return filters.includes(topic);
  return filters.some((filter) => {
    const want = filter.split('/');
    const got = topic.split('/');
    return (
      want.length === got.length &&
      want.every((level, i) =>
        level === '+' ? got[i] !== '' && !/[+#$]/.test(got[i]!) : level === got[i],
      )
    );
  });
}

interface EmbeddedBroker {
  url: string;
  close(): Promise<void>;
}

/** aedes behind `tls.createServer({ requestCert: true })`, with the device rule plus the service's rights. */
async function startEmbeddedBroker(config: AppConfig, pki: Pki): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker({ maxClientsIdLength: 64 });
  const base = aedesAuthorizer();
  const isService = (client: AedesClientLike | null) =>
    client !== null && base.identityOf(client) === config.mqttServiceId;
  broker.authenticate = base.authenticate as typeof broker.authenticate;
  broker.authorizePublish = ((client, packet, callback) => {
    if (isService(client as AedesClientLike | null)) {
      const allowed = serviceMay('write', packet.topic) && !packet.retain;
      callback(allowed ? null : new Error('not authorized'));
      return;
    }
    base.authorizePublish(client as AedesClientLike | null, packet, callback);
  }) as typeof broker.authorizePublish;
  broker.authorizeSubscribe = ((client, subscription, callback) => {
    if (isService(client as AedesClientLike)) {
      callback(null, serviceMay('read', subscription.topic) ? subscription : null);
      return;
    }
    base.authorizeSubscribe(client as AedesClientLike, subscription, callback);
  }) as typeof broker.authorizeSubscribe;
  const server: Server = createServer(
    {
      key: readFileSync(pki.serverKeyFile),
      cert: readFileSync(pki.serverCertFile),
      ca: readFileSync(pki.caFile),
      crl: readFileSync(pki.crlFile),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      // The suites of the generated Mosquitto config: AEAD with ECDHE only, no CBC or SHA-1.
      ciphers: `${TLS13_CIPHERSUITES}:${TLS12_CIPHERS}`,
      handshakeTimeout: 10_000,
    },
    broker.handle as unknown as (socket: import('node:tls').TLSSocket) => void,
  );
  // A refused handshake is the expected answer to a client without a valid certificate.
  server.on('tlsClientError', () => {});
  let port: number;
  try {
    port = await listenOn(server, {
      port: config.mqttPort,
      host: config.host,
      variable: 'MQTT_PORT',
    });
  } catch (err) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw err;
  }
  return {
    url: `mqtts://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Starts the broker (embedded unless `MQTT_URL` is set) and the service's client, which connects
 * with its own certificate, subscribes to `devices/+/telemetry`, and stores each valid reading of a
 * registered device through the tenant's transaction.
 */
export async function startMessaging(
  config: AppConfig,
  pki: Pki | undefined,
  database: Database,
  logger: Logger,
): Promise<Messaging> {
  const embedded =
    config.mqttUrl === undefined && pki ? await startEmbeddedBroker(config, pki) : undefined;
  const url = embedded?.url ?? (config.mqttUrl as string);
  const files =
    embedded && pki
      ? { caFile: pki.caFile, ...pki.identity(config.mqttServiceId) }
      : {
          caFile: config.mqttCaFile as string,
          certFile: config.mqttCertFile as string,
          keyFile: config.mqttKeyFile as string,
        };
  let client: MqttClient;
  try {
    client = await connectSecure({
      url,
      ...files,
      servername: 'localhost',
      clientId: config.mqttServiceId,
      // aedes speaks MQTT 3.1.1 only; Mosquitto gets MQTT 5, which reports refused publishes.
      protocolVersion: embedded ? 4 : 5,
      reconnect: { initialDelayMs: 500, maxDelayMs: 10_000 },
      connectTimeoutMs: 10_000,
      logger,
    });
  } catch (err) {
    await embedded?.close();
    throw err;
  }
  const counts = { reconnects: 0, received: 0, rejected: 0, retained: 0, stored: 0 };
  client.on('reconnect', () => counts.reconnects++);
  client.on('error', (err: Error) =>
    logger.warn('mqtt client error', {
      code: (err as { code?: unknown }).code,
      message: err.message,
    }),
  );

  const publishAlerts = async (alerts: FiredAlert[]) => {
    for (const alert of alerts) {
      try {
        await publishSafe(
          client,
          `devices/${deviceIdentity(alert.tenant_id, alert.device_id)}/alerts`,
          JSON.stringify({
            id: alert.id,
            severity: alert.severity,
            metric: alert.metric,
            value: alert.value,
            at: alert.created_at,
          }),
          { qos: 1, timeoutMs: 5000 },
        );
      } catch (err) {
        logger.warn('alert not published', {
          alertId: alert.id,
          code: (err as { code?: string }).code,
        });
      }
    }
  };

  const reject = (reason: string, meta: Record<string, unknown> = {}) => {
    counts.rejected++;
    logger.warn('mqtt message rejected', { reason, ...meta });
  };

  client.on('message', (topic, payload, packet) => {
    counts.received++;
    const traceId = crypto.randomUUID();
    runWithTraceId(traceId, () => {
      // A retained message is one the broker kept and replays to each new subscription: an old
      // reading, already stored when it was live. The generated brokers refuse them; a broker
      // configured otherwise must not make the service store it again on every reconnect.
      if (packet.retain) {
        counts.retained++;
        return reject('retained');
      }
      const parsed = parseTopic('devices/{identity}/telemetry', topic);
      if (!parsed) return reject('topic');
      const identity = parsed.identity as string;
      // The broker already bound the topic to the publisher's certificate; check it the same way here.
      if (!authorizeTopic(identity, topic, 'write')) return reject('identity', { identity });
      // The certificate names the tenant: its readings can only ever be stored in that tenant.
      const device = parseDeviceIdentity(identity);
      if (!device) return reject('identity', { identity });
      const { tenantId, deviceId } = device;
      const reading = parseTelemetryPayload(payload);
      if (!reading) return reject('payload', { identity });
      void (async () => {
        try {
          const fired = await database.tenant(tenantId, async (tx) => {
            const known = await tx.maybeOne(
              sql`SELECT 1 AS found FROM iot.devices WHERE id = ${deviceId}`,
            );
            if (!known) return null;
            return storeReadings(
              tx,
              tenantId,
              deviceId,
              reading.readings,
              reading.recordedAt,
              'mqtt',
            );
          });
          if (!fired) return reject('unknown_device', { identity });
          counts.stored++;
          await publishAlerts(fired);
        } catch (err) {
          logger.error('mqtt telemetry not stored', { identity, err });
        }
      })();
    });
  });

  const granted = await client.subscribeAsync('devices/+/telemetry', { qos: 1 });
  if (granted.some((grant) => grant.qos === 128)) {
    client.end(true);
    await embedded?.close();
    throw new Error(
      `The broker refused the service's subscription to devices/+/telemetry. Give identity ${config.mqttServiceId} read rights on it (the generated ACL does).`,
    );
  }

  return {
    url,
    embedded: embedded !== undefined,
    status: () => ({ connected: client.connected, ...counts }),
    publishAlerts,
    close: async () => {
      await client.endAsync().catch(() => {});
      await embedded?.close();
    },
  };
}
