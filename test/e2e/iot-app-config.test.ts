// The example app's configuration and MQTT payload checks, without any service.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AppConfigError,
  aclText,
  ensurePki,
  loadConfig,
  parseTelemetryPayload,
  startingMessage,
} from 'iot-app';
import { afterAll, describe, expect, it } from 'vitest';

describe('iot-app configuration', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'iot-config-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('generates development secrets once, 32 random bytes each, and reuses them', () => {
    const first = loadConfig({ DATA_DIR: dataDir });
    const second = loadConfig({ DATA_DIR: dataDir });
    expect(first.generatedSecrets).toEqual(['JWT_SECRET', 'API_KEY_PEPPER']);
    expect(second.jwtSecret).toBe(first.jwtSecret);
    expect(first.jwtSecret).not.toBe(first.apiKeyPepper);
    expect(Buffer.from(first.jwtSecret, 'base64url')).toHaveLength(32);
    expect(statSync(join(dataDir, 'secrets', 'jwt_secret')).mode & 0o777).toBe(0o600);
  });

  it('takes given secrets over generated ones and never generates in production', () => {
    const given = 'k3Yq8vN2pR7sT1wX5zA9cF4hJ6mB0dE2gL8nP3qS7uV';
    const config = loadConfig({ DATA_DIR: dataDir, JWT_SECRET: given });
    expect(config.jwtSecret).toBe(given);
    expect(config.generatedSecrets).toEqual(['API_KEY_PEPPER']);
    expect(() =>
      loadConfig({ DATA_DIR: dataDir, NODE_ENV: 'production', JWT_SECRET: given }),
    ).toThrow(/API_KEY_PEPPER/);
  });

  it('refuses trust proxy true, malformed numbers and MQTT_URL without certificate files', () => {
    const refused = (env: Record<string, string>) => {
      try {
        loadConfig({ DATA_DIR: dataDir, ...env });
      } catch (err) {
        return err;
      }
      return undefined;
    };
    expect(refused({ TRUST_PROXY: 'true' })).toMatchObject({ code: 'ERR_IOT_APP_TRUST_PROXY' });
    expect(refused({ PORT: 'eighty' })).toMatchObject({ code: 'ERR_IOT_APP_INVALID_NUMBER' });
    expect(refused({ RATE_LIMIT_ENABLED: 'yes' })).toMatchObject({
      code: 'ERR_IOT_APP_INVALID_FLAG',
    });
    expect(refused({ LOG_LEVEL: 'loud' })).toMatchObject({ code: 'ERR_IOT_APP_LOG_LEVEL' });
    expect(refused({ MQTT_URL: 'mqtts://broker:8883' })).toBeInstanceOf(AppConfigError);
    expect(refused({ MQTT_URL: 'mqtts://broker:8883' })).toMatchObject({
      code: 'ERR_IOT_APP_MQTT_FILES',
    });
  });

  it('reads the names a trusted proxy sends in Host from UPSTREAM_HOSTS, none by default', () => {
    expect(loadConfig({ DATA_DIR: dataDir }).upstreamHosts).toEqual([]);
    expect(
      loadConfig({ DATA_DIR: dataDir, UPSTREAM_HOSTS: 'backend, api-internal' }).upstreamHosts,
    ).toEqual(['backend', 'api-internal']);
  });

  it('reads the write and export limits from RATE_LIMIT_WRITES and RATE_LIMIT_EXPORTS, and refuses values that are not whole numbers of at least 1', () => {
    expect(loadConfig({ DATA_DIR: dataDir })).toMatchObject({
      writeRateLimit: 60,
      exportRateLimit: 5,
    });
    expect(
      loadConfig({ DATA_DIR: dataDir, RATE_LIMIT_WRITES: '5000', RATE_LIMIT_EXPORTS: '200' }),
    ).toMatchObject({ writeRateLimit: 5000, exportRateLimit: 200 });
    for (const [name, value] of [
      ['RATE_LIMIT_WRITES', '0'],
      ['RATE_LIMIT_WRITES', 'lots'],
      ['RATE_LIMIT_EXPORTS', '-5'],
      ['RATE_LIMIT_EXPORTS', '2.5'],
    ] as const) {
      expect(() => loadConfig({ DATA_DIR: dataDir, [name]: value })).toThrow(
        expect.objectContaining({
          code: 'ERR_IOT_APP_INVALID_NUMBER',
          message: expect.stringContaining(`${name}: "${value}"`),
        }),
      );
    }
  });

  it('refuses a PORT, HTTPS_PORT or MQTT_PORT that is not a port, naming it and 0 for any free port', () => {
    for (const name of ['PORT', 'HTTPS_PORT', 'MQTT_PORT']) {
      expect(() => loadConfig({ DATA_DIR: dataDir, [name]: '70000' })).toThrow(
        expect.objectContaining({
          code: 'ERR_IOT_APP_INVALID_NUMBER',
          message: `${name}: "70000" is not a port. Use a port from 1 to 65535, or 0 to take any free port.`,
        }),
      );
    }
    expect(loadConfig({ DATA_DIR: dataDir, MQTT_PORT: '0' }).mqttPort).toBe(0);
  });

  it('says on start what the first start creates, and nothing of an embedded database on PostgreSQL or once it exists', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'iot-first-start-'));
    try {
      expect(startingMessage(loadConfig({ DATA_DIR: fresh }))).toBe(
        `iot-app: starting; this first start creates the embedded database (PGlite) in ${fresh}/pglite and a development CA and certificates in ${fresh}/pki, which takes a little longer`,
      );
      const onPostgres = loadConfig({
        DATA_DIR: fresh,
        DATABASE_URL: 'postgres://db.internal/iot',
      });
      expect(startingMessage(onPostgres)).toBe(
        `iot-app: starting; this first start creates a development CA and certificates in ${fresh}/pki, which takes a little longer`,
      );
      await ensurePki(fresh, [], { serviceId: 'iot-service' });
      expect(startingMessage(onPostgres)).toBe('iot-app: starting');
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  it('writes the service rights into the Mosquitto ACL next to the per-device rule', () => {
    const acl = aclText('iot-service');
    expect(acl).toContain('pattern readwrite devices/%u/#');
    expect(acl).toContain(
      'user iot-service\ntopic read devices/+/telemetry\ntopic write devices/+/alerts',
    );
  });
});

describe('MQTT telemetry payloads', () => {
  const parse = (value: unknown) =>
    parseTelemetryPayload(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));

  it('accepts metric readings with an optional recent timestamp', () => {
    const parsed = parse({
      metrics: { temperature: 21.5, 'sensor.humidity_pct': 40 },
      ts: new Date().toISOString(),
    });
    expect(parsed?.readings).toEqual([
      { metric: 'temperature', value: 21.5 },
      { metric: 'sensor.humidity_pct', value: 40 },
    ]);
  });

  it('refuses malformed JSON, unknown fields, bad keys, non-numbers, too many metrics and far-off times', () => {
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`m${i}`, i]));
    for (const bad of [
      '{"metrics":',
      '[]',
      { metrics: {} },
      { metrics: { t: 1 }, extra: true },
      { metrics: { __proto__x: 1 } },
      { metrics: { ['k'.repeat(129)]: 1 } },
      { metrics: { 'a b': 1 } },
      { metrics: { t: '1' } },
      { metrics: { t: null } },
      { metrics: many },
      { metrics: { t: 1 }, ts: '2001-01-01T00:00:00Z' },
      { metrics: { t: 1 }, ts: 'yesterday' },
    ]) {
      expect(parse(bad), JSON.stringify(bad)).toBeNull();
    }
    expect(parseTelemetryPayload(Buffer.alloc(20_000, 0x20))).toBeNull();
  });
});
