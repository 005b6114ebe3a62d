// `pnpm --filter iot-app simulate [<tenant>.<deviceId> | demo deviceId] [count]`: publishes telemetry over mTLS as a device.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { addDevice, connectSecure, deviceTopic, publishSafe } from '@bulwark/mqtt-tls';
import { defaultDataDir } from '../config.js';
import { DEMO_DEVICES } from '../demo-data.js';
import { deviceIdentity, parseDeviceIdentity } from '../device-identity.js';

const wanted = process.argv[2] ?? 'acme-sensor-1';
const demo = DEMO_DEVICES.find((d) => d.id === wanted);
// A device's certificate names its tenant: `acme.acme-sensor-1` is acme's device acme-sensor-1.
const identity = demo ? deviceIdentity(demo.tenantId, demo.id) : wanted;
const count = Number(process.argv[3] ?? 10);
if (!parseDeviceIdentity(identity) || !Number.isInteger(count) || count < 1 || count > 10_000) {
  process.stderr.write(
    'usage: pnpm --filter iot-app simulate [<tenant>.<deviceId> | demo device id] [count 1-10000]\n',
  );
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
  certFile: join(dir, 'devices', identity, 'device.crt'),
  keyFile: join(dir, 'devices', identity, 'device.key'),
};
if (!existsSync(files.certFile)) {
  await addDevice({ dir, deviceId: identity });
  process.stdout.write(
    `issued a certificate for ${identity}; register the device in that tenant to have its telemetry stored\n`,
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
await client.endAsync();
