// `pnpm --filter iot-app simulate [deviceId] [count]`: publishes telemetry over mTLS as a device.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  addDevice,
  connectSecure,
  deviceTopic,
  isSafeIdentity,
  publishSafe,
} from '@bulwark/mqtt-tls';
import { defaultDataDir } from '../config.js';

const deviceId = process.argv[2] ?? 'acme-sensor-1';
const count = Number(process.argv[3] ?? 10);
if (!isSafeIdentity(deviceId) || !Number.isInteger(count) || count < 1 || count > 10_000) {
  process.stderr.write('usage: pnpm --filter iot-app simulate [deviceId] [count 1-10000]\n');
  process.exit(2);
}
const dir = join(defaultDataDir(), 'pki');
if (!existsSync(join(dir, 'registry.json'))) {
  process.stderr.write(
    `No development PKI in ${dir}. Start the app once (pnpm --filter iot-app start) to create it.\n`,
  );
  process.exit(2);
}
const files = {
  certFile: join(dir, 'devices', deviceId, 'device.crt'),
  keyFile: join(dir, 'devices', deviceId, 'device.key'),
};
if (!existsSync(files.certFile)) {
  await addDevice({ dir, deviceId });
  process.stdout.write(
    `issued a certificate for ${deviceId}; register the device in the API to have its telemetry stored\n`,
  );
}
const url = process.env.MQTT_URL ?? `mqtts://127.0.0.1:${process.env.MQTT_PORT ?? 8883}`;
const client = await connectSecure({
  url,
  caFile: process.env.MQTT_CA_FILE ?? join(dir, 'ca.crt'),
  ...files,
  servername: 'localhost',
  protocolVersion: 4,
  reconnect: false,
});
const topic = deviceTopic(deviceId, 'telemetry');
for (let i = 0; i < count; i++) {
  const metrics = {
    temperature: Math.round((20 + Math.random() * 70) * 10) / 10,
    humidity: Math.round((30 + Math.random() * 40) * 10) / 10,
  };
  await publishSafe(client, topic, JSON.stringify({ metrics, ts: new Date().toISOString() }));
  process.stdout.write(`${topic} ${JSON.stringify(metrics)}\n`);
  if (i < count - 1) await delay(1000);
}
await client.endAsync();
