// `pnpm --filter iot-app simulate [<tenant>.<deviceId> | demo deviceId] [count]`: publishes telemetry over mTLS as a device.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { addDevice, connectSecure, deviceTopic, publishSafe } from '@bulwark/mqtt-tls';
import type { MqttClient } from 'mqtt';
import { brokerAddressFile, runningBrokerAddress } from '../broker-address.js';
import { defaultDataDir } from '../config.js';
import { DEMO_DEVICES } from '../demo-data.js';
import { deviceIdentity, parseDeviceIdentity } from '../device-identity.js';

/** A failure the user can act on: printed as one line, without a stack. */
class SimulateError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/**
 * The broker to connect to, and where that choice came from: `MQTT_URL`, else `MQTT_PORT` on
 * loopback, else the broker the app running on this data folder recorded, else port 8883.
 * `MQTT_PORT=0` lets the app take any free port, so only the running app knows it.
 */
function brokerUrl(pkiDir: string): { url: string; from: string } {
  const env = process.env;
  if (env.MQTT_URL) return { url: env.MQTT_URL, from: 'MQTT_URL' };
  const port = env.MQTT_PORT ?? '';
  if (port !== '' && port !== '0') {
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65_535) {
      throw new SimulateError(
        `MQTT_PORT: ${JSON.stringify(port)} is not a port. Use the broker's port, such as 8883, or unset it to use the running app's broker.`,
        2,
      );
    }
    return { url: `mqtts://127.0.0.1:${port}`, from: 'MQTT_PORT' };
  }
  const running = runningBrokerAddress(pkiDir);
  if (running) return { url: running, from: `the running app (${brokerAddressFile(pkiDir)})` };
  if (port === '0') {
    throw new SimulateError(
      `MQTT_PORT=0 lets the app take any free port, and no app running on ${pkiDir} has recorded its broker in ${brokerAddressFile(pkiDir)}. Start the app (pnpm --filter iot-app start) and run simulate again, or set MQTT_PORT to the broker's port.`,
    );
  }
  return { url: 'mqtts://127.0.0.1:8883', from: 'the default port 8883' };
}

async function simulate(): Promise<void> {
  const wanted = process.argv[2] ?? 'acme-sensor-1';
  const demo = DEMO_DEVICES.find((d) => d.id === wanted);
  // A device's certificate names its tenant: `acme.acme-sensor-1` is acme's device acme-sensor-1.
  const identity = demo ? deviceIdentity(demo.tenantId, demo.id) : wanted;
  const count = Number(process.argv[3] ?? 10);
  if (!parseDeviceIdentity(identity) || !Number.isInteger(count) || count < 1 || count > 10_000) {
    throw new SimulateError(
      'usage: pnpm --filter iot-app simulate [<tenant>.<deviceId> | demo device id] [count 1-10000]',
      2,
    );
  }
  const dir = join(defaultDataDir(), 'pki');
  if (!existsSync(join(dir, 'registry.json'))) {
    throw new SimulateError(
      `No development PKI in ${dir}. Start the app once (pnpm --filter iot-app start) to create it.`,
      2,
    );
  }
  const { url, from } = brokerUrl(dir);
  const files = {
    certFile: join(dir, 'devices', identity, 'device.crt'),
    keyFile: join(dir, 'devices', identity, 'device.key'),
  };
  if (!existsSync(files.certFile)) {
    await addDevice({ dir, deviceId: identity });
    process.stdout.write(
      `issued a certificate for ${identity}; register the device in that tenant to have its telemetry stored\n`,
    );
  }
  let closing = false;
  let client: MqttClient;
  try {
    client = await connectSecure({
      url,
      caFile: process.env.MQTT_CA_FILE ?? join(dir, 'ca.crt'),
      ...files,
      servername: 'localhost',
      protocolVersion: 4,
      reconnect: false,
      connectTimeoutMs: 10_000,
      // One line per warning, as every other message here; a connection that drops while the
      // client closes, after every reading was acknowledged, is no news.
      logger: {
        warn(message) {
          if (!closing) process.stderr.write(`simulate: ${message}\n`);
        },
      },
    });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    throw new SimulateError(
      `no connection to the broker at ${url} (from ${from}): ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)} Is the app running (pnpm --filter iot-app start)? Otherwise set MQTT_PORT, or MQTT_URL, to your broker.`,
    );
  }
  try {
    const topic = deviceTopic(identity, 'telemetry');
    for (let i = 0; i < count; i++) {
      const metrics = {
        temperature: Math.round((20 + Math.random() * 70) * 10) / 10,
        humidity: Math.round((30 + Math.random() * 40) * 10) / 10,
      };
      await publishSafe(client, topic, JSON.stringify({ metrics, ts: new Date().toISOString() }));
      process.stdout.write(`${topic} ${JSON.stringify(metrics)}\n`);
      if (i < count - 1) await delay(1000);
    }
  } finally {
    closing = true;
    await client.endAsync();
  }
}

simulate().catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  const message =
    err instanceof SimulateError
      ? err.message
      : `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`;
  process.stderr.write(`simulate: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exitCode = err instanceof SimulateError ? err.exitCode : 1;
});
