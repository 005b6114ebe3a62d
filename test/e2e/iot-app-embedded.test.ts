// The example app with no configuration at all: embedded PGlite, embedded aedes over mTLS, in-memory limits.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectSecure, MqttConnectionError, publishSafe } from '@bulwark/mqtt-tls';
import { freePort } from '@bulwark/test-utils';
import {
  brokerAddressFile,
  ensurePki,
  type IotApp,
  listeningMessage,
  runningBrokerAddress,
  TOKEN_COMMAND,
} from 'iot-app';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  call,
  eventually,
  runPnpm,
  startEmbeddedApp,
  stopEmbeddedApp,
  tokenFor,
} from './support.js';

// Whole-app tests start databases and brokers; the shared machine is slow at times.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 120_000 });

describe('iot-app with no configuration (embedded defaults)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'iot-embedded-'));
  let iot: IotApp;
  let url: string;

  beforeAll(async () => {
    // Only where files go and which ports: everything else is the defaults a first run gets.
    ({ iot, url } = await startEmbeddedApp(dataDir));
  }, 120_000);

  afterAll(() => stopEmbeddedApp(iot, dataDir), 120_000);

  it('says in the banner what the embedded services do not guarantee', () => {
    expect(iot.database.embedded).toBe(true);
    expect(iot.messaging.embedded).toBe(true);
    expect(iot.banner).toContain('PGlite');
    expect(iot.banner).toContain('statement_timeout');
    expect(iot.banner).toContain('rate limits: in memory');
  });

  it('generates its development secrets into the data folder with mode 0600', () => {
    for (const name of ['jwt_secret', 'api_key_pepper']) {
      expect(statSync(join(dataDir, 'secrets', name)).mode & 0o777).toBe(0o600);
    }
    expect(statSync(join(dataDir, 'secrets')).mode & 0o777).toBe(0o700);
  });

  it('answers /health with 200', async () => {
    const answer = await call(url, 'GET', '/health');
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: 'ok' });
  });

  it('prints only the token on stdout with the token command the banner shows, which pnpm would otherwise fill with its own lines', async () => {
    expect(listeningMessage(iot, { url })).toContain(
      `  token        TOKEN=$(${TOKEN_COMMAND} viewer@acme)\n`,
    );
    const [bin, ...args] = TOKEN_COMMAND.split(' ');
    expect(bin).toBe('pnpm');
    const run = await runPnpm([...args, 'viewer@acme'], { DATA_DIR: dataDir });
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = run.stdout.slice(0, -1);
    const answer = await call(url, 'GET', '/customer/devices', { token });
    expect(answer.status).toBe(200);
    expect(answer.body.items.map((d: { id: string }) => d.id)).toEqual([
      'acme-sensor-1',
      'acme-sensor-2',
    ]);
    expect((await call(url, 'GET', '/customer/devices')).status).toBe(401);
  });

  it('writes the port MQTT_PORT=0 took into the Mosquitto config and the broker record the simulate command reads, never 0 or 8883', () => {
    const port = Number(new URL(iot.messaging.url).port);
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(8883);
    expect(readFileSync(iot.pki!.mosquittoConfFile, 'utf8')).toContain(
      `listener ${port} 127.0.0.1`,
    );
    expect(runningBrokerAddress(iot.pki!.dir)).toBe(iot.messaging.url);
  });

  it('publishes telemetry with the simulate command to the broker of an app started with MQTT_PORT=0', async () => {
    const run = await runPnpm(
      ['--silent', '--filter', 'iot-app', 'simulate', 'acme-sensor-2', '1'],
      {
        DATA_DIR: dataDir,
        MQTT_PORT: '0',
      },
    );
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const line = /^devices\/acme\.acme-sensor-2\/telemetry (\{.*\})\n$/.exec(run.stdout);
    expect(line).not.toBeNull();
    const { humidity } = JSON.parse(line![1]!) as { humidity: number };
    const token = tokenFor(iot, 'viewer@acme', 'acme');
    const reading = await eventually(async () => {
      const answer = await call(
        url,
        'GET',
        '/customer/devices/acme-sensor-2/telemetry?metric=humidity',
        { token },
      );
      return answer.body.items.find((r: { value: number }) => r.value === humidity);
    });
    expect(reading.via).toBe('mqtt');
  });

  it('stops the simulate command with one line and no stack when MQTT_PORT=0 has no running app to ask, or nothing answers on the port', async () => {
    const other = mkdtempSync(join(tmpdir(), 'iot-simulate-'));
    try {
      const pki = await ensurePki(other, ['acme.acme-sensor-1'], { serviceId: 'iot-service' });
      // A record left by an app that no longer runs is not taken for a broker.
      const gone = spawn(process.execPath, ['-e', '']);
      await new Promise((resolve) => gone.once('exit', resolve));
      writeFileSync(
        brokerAddressFile(pki.dir),
        JSON.stringify({ url: 'mqtts://127.0.0.1:1', pid: gone.pid }),
      );
      const simulate = (env: Record<string, string>) =>
        runPnpm(['--silent', '--filter', 'iot-app', 'simulate', 'acme-sensor-1', '1'], {
          DATA_DIR: other,
          ...env,
        });
      const unknown = await simulate({ MQTT_PORT: '0' });
      expect(unknown.code).toBe(1);
      expect(unknown.stdout).toBe('');
      expect(unknown.stderr).toBe(
        `simulate: MQTT_PORT=0 lets the app take any free port, and no app running on ${pki.dir} has recorded its broker in ${pki.dir}/broker.json. Start the app (pnpm --filter iot-app start) and run simulate again, or set MQTT_PORT to the broker's port.\n`,
      );
      const port = await freePort();
      const refused = await simulate({ MQTT_PORT: String(port) });
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toMatch(
        new RegExp(
          `^simulate: no connection to the broker at mqtts://127\\.0\\.0\\.1:${port} \\(from MQTT_PORT\\): connection_refused: [^\\n]+ Is the app running \\(pnpm --filter iot-app start\\)\\? Otherwise set MQTT_PORT, or MQTT_URL, to your broker\\.\\n$`,
        ),
      );
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("issues a device certificate on the app's PKI with the certs command (bulwark-certs), which the embedded broker accepts", async () => {
    const run = await runPnpm(
      ['--silent', '--filter', 'iot-app', 'certs', 'add-device', '--device', 'acme.certs-1'],
      { DATA_DIR: dataDir },
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('acme.certs-1');
    const device = await connectSecure({
      url: iot.messaging.url,
      caFile: iot.pki!.caFile,
      ...iot.pki!.identity('acme.certs-1'),
      servername: 'localhost',
      protocolVersion: 4,
      reconnect: false,
    });
    try {
      const granted = await device.subscribeAsync('devices/acme.certs-1/alerts', { qos: 1 });
      expect(granted.map((grant) => grant.qos)).toEqual([1]);
    } finally {
      await device.endAsync();
    }
  });

  it('refuses a TLS 1.2 handshake with a CBC-SHA1 suite on the embedded broker, and agrees on an AEAD suite by default', async () => {
    const device = iot.pki!.identity('acme.acme-sensor-1');
    // Asynchronously: the broker answers from this process, so a blocking spawn would stall it.
    const handshake = async (cipher?: string) => {
      const args = [
        's_client',
        '-connect',
        new URL(iot.messaging.url).host,
        '-servername',
        'localhost',
        '-CAfile',
        iot.pki!.caFile,
        '-cert',
        device.certFile,
        '-key',
        device.keyFile,
        '-tls1_2',
        ...(cipher ? ['-cipher', cipher] : []),
      ];
      const stdout = await new Promise<string>((resolve) => {
        const child = execFile('openssl', args, { timeout: 10_000 }, (error, out) =>
          resolve(error ? '' : out),
        );
        child.stdin?.end();
      });
      const agreed = /Cipher is (\S+)/.exec(stdout)?.[1];
      return agreed && agreed !== '(NONE)' ? agreed : null;
    };
    expect(await handshake('ECDHE-ECDSA-AES128-SHA')).toBeNull();
    expect(await handshake('ECDHE-ECDSA-AES256-SHA384')).toBeNull();
    expect(await handshake()).toMatch(
      /^ECDHE-ECDSA-(?:AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305)$/,
    );
  });

  it('refuses an MQTT client without a client certificate', async () => {
    const attempt = connectSecure({
      url: iot.messaging.url,
      caFile: iot.pki!.caFile,
      servername: 'localhost',
      protocolVersion: 4,
      reconnect: false,
      connectTimeoutMs: 5000,
    });
    await expect(attempt).rejects.toBeInstanceOf(MqttConnectionError);
  });

  it('stores telemetry a device publishes over mTLS and sends back the alert it fires', async () => {
    const device = await connectSecure({
      url: iot.messaging.url,
      caFile: iot.pki!.caFile,
      ...iot.pki!.identity('acme.acme-sensor-1'),
      servername: 'localhost',
      protocolVersion: 4,
      reconnect: false,
    });
    try {
      const alert = new Promise<Record<string, unknown>>((resolve) =>
        device.on('message', (topic, payload) => {
          if (topic === 'devices/acme.acme-sensor-1/alerts')
            resolve(JSON.parse(payload.toString()));
        }),
      );
      await device.subscribeAsync('devices/acme.acme-sensor-1/alerts', { qos: 1 });
      await publishSafe(
        device,
        'devices/acme.acme-sensor-1/telemetry',
        JSON.stringify({ metrics: { temperature: 97.5 } }),
      );
      const token = tokenFor(iot, 'viewer@acme', 'acme');
      const reading = await eventually(async () => {
        const answer = await call(
          url,
          'GET',
          '/customer/devices/acme-sensor-1/telemetry?metric=temperature',
          { token },
        );
        return answer.body.items.find((r: { value: number; via: string }) => r.value === 97.5);
      });
      expect(reading.via).toBe('mqtt');
      expect(await alert).toMatchObject({
        severity: 'critical',
        metric: 'temperature',
        value: 97.5,
      });
    } finally {
      await device.endAsync();
    }
  });

  it("refuses a device other devices' topics: no wildcard subscription, and a disconnect for a foreign publish", async () => {
    const device = await connectSecure({
      url: iot.messaging.url,
      caFile: iot.pki!.caFile,
      ...iot.pki!.identity('acme.acme-sensor-2'),
      servername: 'localhost',
      protocolVersion: 4,
      reconnect: false,
    });
    // aedes grants the subscription as failure (0x80), which mqtt.js reports as an error.
    await expect(device.subscribeAsync('devices/+/telemetry', { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    );
    const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
    device.publish(
      'devices/globex.globex-sensor-1/telemetry',
      JSON.stringify({ metrics: { battery: 5151 } }),
      { qos: 1 },
    );
    await closed;
    await device.endAsync(true);
    const token = tokenFor(iot, 'viewer@globex', 'globex');
    const answer = await call(url, 'GET', '/customer/devices/globex-sensor-1/telemetry', { token });
    expect(answer.status).toBe(200);
    expect(answer.body.items.some((r: { value: number }) => r.value === 5151)).toBe(false);
  });
});
