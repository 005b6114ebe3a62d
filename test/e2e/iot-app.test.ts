// The example app against real PostgreSQL, Redis and Mosquitto: the verification list of the hardening seeds.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  connectSecure,
  MqttConnectionError,
  MqttPublishError,
  mosquittoConfig,
  publishSafe,
} from '@bulwark/mqtt-tls';
import {
  createTestDatabase,
  createTestPki,
  freePort,
  type RunningMosquitto,
  redisPrefix,
  requireService,
  startMosquitto,
  type TestDatabase,
} from '@bulwark/test-utils';
import { Validator } from '@seriousme/openapi-schema-validator';
import {
  brokerConfig,
  createApp,
  DatabaseStartupError,
  DEMO_DEVICES,
  deviceIdentity,
  ensurePki,
  type IotApp,
  listeningMessage,
  loadConfig,
  type Pki,
  RedisStartupError,
  startingMessage,
} from 'iot-app';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  assertNoInternals,
  call,
  eventually,
  fillParams,
  routerRoutes,
  runPnpm,
  tokenFor,
} from './support.js';

/** The parts of an OpenAPI operation these tests read. */
interface Operation {
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  'x-bulwark-permissions'?: string[];
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, { schema?: object }> };
  responses: Record<string, { content?: Record<string, { schema?: object }> } | undefined>;
}

// Whole-app tests start databases and brokers; the shared machine is slow at times.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 120_000 });

const ready = await requireService('postgres', 'redis', 'mosquitto');

describe.runIf(ready)('iot-app on PostgreSQL, Redis and Mosquitto', () => {
  let db: TestDatabase;
  let admin: pg.Client;
  let dataDir: string;
  let pki: Pki;
  let broker: RunningMosquitto;
  let baseEnv: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('iot_e2e');
    admin = new pg.Client({ connectionString: db.url });
    admin.on('error', () => {});
    await admin.connect();
    dataDir = mkdtempSync(join(tmpdir(), 'iot-e2e-'));
    pki = await ensurePki(
      dataDir,
      [
        ...DEMO_DEVICES.map((d) => deviceIdentity(d.tenantId, d.id)),
        'acme.unregistered-1',
        'globex.moving-1',
      ],
      { serviceId: 'iot-service' },
    );
    broker = await startMosquitto({
      dir: join(dataDir, 'mosquitto'),
      config: (port) => brokerConfig(pki, port),
    });
    const service = pki.identity('iot-service');
    baseEnv = {
      DATABASE_URL: db.url,
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
      REDIS_PREFIX: redisPrefix('iot-app'),
      MQTT_URL: `mqtts://127.0.0.1:${broker.port}`,
      MQTT_CA_FILE: pki.caFile,
      MQTT_CERT_FILE: service.certFile,
      MQTT_KEY_FILE: service.keyFile,
      STATEMENT_TIMEOUT_MS: '200',
      DATA_DIR: dataDir,
      PORT: '0',
      LOG_LEVEL: 'silent',
      ABUSE_FAILURES: '100000',
      RATE_LIMIT_GLOBAL: '100000',
    };
  }, 120_000);

  afterAll(async () => {
    await broker?.stop();
    await admin?.end();
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }, 120_000);

  describe('in development mode', () => {
    let iot: IotApp;
    let url: string;
    let viewer: string;
    let adminAcme: string;
    let adminGlobex: string;
    let ops: string;

    beforeAll(async () => {
      iot = await createApp(loadConfig(baseEnv));
      ({ url } = await iot.start());
      viewer = tokenFor(iot, 'viewer@acme', 'acme');
      adminAcme = tokenFor(iot, 'admin@acme', 'acme');
      adminGlobex = tokenFor(iot, 'admin@globex', 'globex');
      ops = tokenFor(iot, 'ops@platform', null);
    }, 120_000);

    afterAll(async () => {
      await iot?.stop();
    }, 120_000);

    it('refuses a Viewer creating a device with 403 and lets a Full Admin create it with 201', async () => {
      const denied = await call(url, 'POST', '/customer/devices', {
        token: viewer,
        body: { id: 'acme-new-1', name: 'New' },
      });
      expect(denied.status).toBe(403);
      expect(denied.body.code).toBe('forbidden');
      const created = await call(url, 'POST', '/customer/devices', {
        token: adminAcme,
        body: { id: 'acme-new-1', name: 'New' },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ id: 'acme-new-1', name: 'New' });
      const { rows } = await admin.query('SELECT tenant_id FROM iot.devices WHERE id = $1', [
        'acme-new-1',
      ]);
      expect(rows).toEqual([{ tenant_id: 'acme' }]);
    });

    it('refuses invalid input with 422 and stores nothing', async () => {
      const bad = await call(url, 'POST', '/customer/devices', {
        token: adminAcme,
        body: { id: '../etc/passwd', name: 'x', extra: true },
      });
      expect(bad.status).toBe(422);
      expect(bad.body.code).toBe('validation_failed');
      expect(bad.text).not.toContain('passwd');
      const badMetric = await call(url, 'POST', '/customer/devices/acme-sensor-1/telemetry', {
        token: adminAcme,
        body: { metrics: { ['x'.repeat(200)]: 1 } },
      });
      expect(badMetric.status).toBe(422);
      const { rows } = await admin.query(
        "SELECT count(*)::int AS n FROM iot.devices WHERE id LIKE '%passwd%'",
      );
      expect(rows[0].n).toBe(0);
    });

    it('answers 503 database_timeout when a query runs past statement_timeout', async () => {
      const locker = new pg.Client({ connectionString: db.url });
      await locker.connect();
      try {
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE iot.devices IN ACCESS EXCLUSIVE MODE');
        const answer = await call(url, 'GET', '/customer/devices', { token: viewer });
        expect(answer.status).toBe(503);
        expect(answer.headers.get('content-type')).toContain('application/problem+json');
        expect(answer.body.code).toBe('database_timeout');
        assertNoInternals(answer.text);
      } finally {
        await locker.query('ROLLBACK');
        await locker.end();
      }
      expect((await call(url, 'GET', '/customer/devices', { token: viewer })).status).toBe(200);
    });

    it('refuses the sixth telemetry export of a tenant within a minute with 429', async () => {
      const statuses: number[] = [];
      let last: Awaited<ReturnType<typeof call>> | undefined;
      for (let i = 0; i < 6; i++) {
        last = await call(url, 'GET', '/customer/devices/globex-sensor-1/telemetry/export', {
          token: adminGlobex,
        });
        statuses.push(last.status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
      expect(last?.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(last?.body.code).toBe('rate_limited');
    });

    it('streams the export as CSV', async () => {
      await call(url, 'POST', '/customer/devices/acme-sensor-2/telemetry', {
        token: adminAcme,
        body: { metrics: { humidity: 41.5 } },
      });
      const answer = await call(url, 'GET', '/customer/devices/acme-sensor-2/telemetry/export', {
        token: viewer,
      });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toContain('text/csv');
      expect(answer.text.split('\n')[0]).toBe('recorded_at,metric,value');
      expect(answer.text).toContain(',humidity,41.5');
    });

    it('refuses an MQTT client without a client certificate, or with one from another CA', async () => {
      const noCert = connectSecure({
        url: `mqtts://127.0.0.1:${broker.port}`,
        caFile: pki.caFile,
        servername: 'localhost',
        clientId: 'acme-sensor-1',
        reconnect: false,
        connectTimeoutMs: 5000,
      });
      await expect(noCert).rejects.toBeInstanceOf(MqttConnectionError);
      const foreign = createTestPki(join(dataDir, 'foreign'), { clients: ['acme-sensor-1'] });
      const wrongCa = connectSecure({
        url: `mqtts://127.0.0.1:${broker.port}`,
        caFile: pki.caFile,
        certFile: foreign.clients['acme-sensor-1']!.certFile,
        keyFile: foreign.clients['acme-sensor-1']!.keyFile,
        servername: 'localhost',
        reconnect: false,
        connectTimeoutMs: 5000,
      });
      await expect(wrongCa).rejects.toBeInstanceOf(MqttConnectionError);
    });

    it("stores a registered device's telemetry and publishes the alert its rule fires", async () => {
      const device = await connectSecure({
        url: `mqtts://127.0.0.1:${broker.port}`,
        caFile: pki.caFile,
        ...pki.identity('acme.acme-sensor-1'),
        servername: 'localhost',
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
        const marker = 1000 + Math.floor(Math.random() * 1000);
        await publishSafe(
          device,
          'devices/acme.acme-sensor-1/telemetry',
          JSON.stringify({ metrics: { temperature: marker } }),
        );
        const row = await eventually(async () => {
          const { rows } = await admin.query(
            "SELECT tenant_id, received_via FROM iot.telemetry WHERE device_id = 'acme-sensor-1' AND value = $1",
            [marker],
          );
          return rows[0];
        });
        expect(row).toEqual({ tenant_id: 'acme', received_via: 'mqtt' });
        expect(await alert).toMatchObject({
          severity: 'critical',
          metric: 'temperature',
          value: marker,
        });
      } finally {
        await device.endAsync();
      }
    });

    it("refuses a device publishing on another device's topic, and stores nothing from an unregistered device", async () => {
      const device = await connectSecure({
        url: `mqtts://127.0.0.1:${broker.port}`,
        caFile: pki.caFile,
        ...pki.identity('acme.acme-sensor-2'),
        servername: 'localhost',
        reconnect: false,
      });
      const stranger = await connectSecure({
        url: `mqtts://127.0.0.1:${broker.port}`,
        caFile: pki.caFile,
        ...pki.identity('acme.unregistered-1'),
        servername: 'localhost',
        reconnect: false,
      });
      try {
        const spoof = publishSafe(
          device,
          'devices/globex.globex-sensor-1/telemetry',
          JSON.stringify({ metrics: { battery: 4242 } }),
        );
        await expect(spoof).rejects.toBeInstanceOf(MqttPublishError);
        await publishSafe(
          stranger,
          'devices/acme.unregistered-1/telemetry',
          JSON.stringify({ metrics: { battery: 4343 } }),
        );
        // A valid reading published afterwards shows the ingest has processed everything before it.
        await publishSafe(
          device,
          'devices/acme.acme-sensor-2/telemetry',
          JSON.stringify({ metrics: { battery: 4444 } }),
        );
        await eventually(async () => {
          const { rows } = await admin.query('SELECT 1 FROM iot.telemetry WHERE value = 4444');
          return rows[0];
        });
        const { rows } = await admin.query(
          'SELECT count(*)::int AS n FROM iot.telemetry WHERE value IN (4242, 4343)',
        );
        expect(rows[0].n).toBe(0);
      } finally {
        await device.endAsync();
        await stranger.endAsync();
      }
    });

    it("answers 201 for a device id another tenant uses or deleted, and 409 only for the caller's own", async () => {
      // globex holds 'shared-1' and deleted 'gone-1'; acme has never used either.
      for (const id of ['shared-1', 'gone-1']) {
        expect(
          (
            await call(url, 'POST', '/customer/devices', {
              token: adminGlobex,
              body: { id, name: 'G' },
            })
          ).status,
        ).toBe(201);
      }
      expect(
        (await call(url, 'DELETE', '/customer/devices/gone-1', { token: adminGlobex })).status,
      ).toBe(204);
      const answers = [];
      for (const id of ['free-1', 'shared-1', 'gone-1']) {
        answers.push(
          await call(url, 'POST', '/customer/devices', {
            token: adminAcme,
            body: { id, name: 'A' },
          }),
        );
      }
      expect(answers.map((a) => a.status)).toEqual([201, 201, 201]);
      const shapes = answers.map((a) => Object.keys(a.body).sort().join());
      expect(new Set(shapes).size).toBe(1);
      const { rows } = await admin.query(
        "SELECT tenant_id, id, name FROM iot.devices WHERE id IN ('free-1', 'shared-1', 'gone-1') ORDER BY tenant_id, id",
      );
      expect(rows).toEqual([
        { tenant_id: 'acme', id: 'free-1', name: 'A' },
        { tenant_id: 'acme', id: 'gone-1', name: 'A' },
        { tenant_id: 'acme', id: 'shared-1', name: 'A' },
        { tenant_id: 'globex', id: 'shared-1', name: 'G' },
      ]);
      // Its own ids, live or deleted, are the only ones a tenant is told about.
      const again = await call(url, 'POST', '/customer/devices', {
        token: adminAcme,
        body: { id: 'shared-1', name: 'A' },
      });
      expect(again.status).toBe(409);
      const reused = await call(url, 'POST', '/customer/devices', {
        token: adminGlobex,
        body: { id: 'gone-1', name: 'G' },
      });
      expect(reused.status).toBe(409);
      expect(reused.body.code).toBe('conflict');
      assertNoInternals(reused.text);
      expect(reused.text).not.toContain('acme');
    });

    it("binds a device certificate to its tenant: a deleted device's telemetry never lands in the tenant that registers its id next", async () => {
      expect(
        (
          await call(url, 'POST', '/customer/devices', {
            token: adminGlobex,
            body: { id: 'moving-1', name: 'Globex meter' },
          })
        ).status,
      ).toBe(201);
      expect(
        (await call(url, 'DELETE', '/customer/devices/moving-1', { token: adminGlobex })).status,
      ).toBe(204);
      expect(
        (
          await call(url, 'POST', '/customer/devices', {
            token: adminAcme,
            body: { id: 'moving-1', name: 'Acme meter' },
          })
        ).status,
      ).toBe(201);
      // The physical device still holds the certificate globex had issued for it.
      const device = await connectSecure({
        url: `mqtts://127.0.0.1:${broker.port}`,
        caFile: pki.caFile,
        ...pki.identity('globex.moving-1'),
        servername: 'localhost',
        reconnect: false,
      });
      const watcher = await connectSecure({
        url: `mqtts://127.0.0.1:${broker.port}`,
        caFile: pki.caFile,
        ...pki.identity('acme.acme-sensor-1'),
        servername: 'localhost',
        reconnect: false,
      });
      try {
        const alerts: string[] = [];
        device.on('message', (topic) => alerts.push(topic));
        await device.subscribeAsync('devices/globex.moving-1/alerts', { qos: 1 });
        const rejected = iot.messaging.status().rejected;
        // Above acme's temperature rule: stored in acme, it would raise an alert.
        await publishSafe(
          device,
          'devices/globex.moving-1/telemetry',
          JSON.stringify({ metrics: { temperature: 5151 } }),
        );
        // Nor can it write as acme's new device, whose identity is acme.moving-1.
        await expect(
          publishSafe(
            device,
            'devices/acme.moving-1/telemetry',
            JSON.stringify({ metrics: { temperature: 5252 } }),
          ),
        ).rejects.toBeInstanceOf(MqttPublishError);
        await eventually(async () =>
          iot.messaging.status().rejected > rejected ? true : undefined,
        );
        // A later reading of another device shows everything before it was handled.
        await publishSafe(
          watcher,
          'devices/acme.acme-sensor-1/telemetry',
          JSON.stringify({ metrics: { humidity: 5353 } }),
        );
        await eventually(async () => {
          const { rows } = await admin.query('SELECT 1 FROM iot.telemetry WHERE value = 5353');
          return rows[0];
        });
        const stored = await admin.query(
          'SELECT count(*)::int AS n FROM iot.telemetry WHERE value IN (5151, 5252)',
        );
        expect(stored.rows[0].n).toBe(0);
        const raised = await admin.query(
          "SELECT count(*)::int AS n FROM iot.alerts WHERE device_id = 'moving-1'",
        );
        expect(raised.rows[0].n).toBe(0);
        expect(alerts).toEqual([]);
      } finally {
        await device.endAsync();
        await watcher.endAsync();
      }
    });

    it('refuses retained telemetry at the broker, so the service never gets an old reading to store again', async () => {
      const device = await connectSecure({
        url: `mqtts://127.0.0.1:${broker.port}`,
        caFile: pki.caFile,
        ...pki.identity('acme.acme-sensor-2'),
        servername: 'localhost',
        protocolVersion: 4,
        reconnect: false,
      });
      device.on('error', () => {});
      const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
      device.publish(
        'devices/acme.acme-sensor-2/telemetry',
        JSON.stringify({ metrics: { humidity: 6161 } }),
        { qos: 1, retain: true },
      );
      // retain_available false: Mosquitto disconnects the client instead of keeping the message.
      await closed;
      await device.endAsync(true);
      const later = await connectSecure({
        url: `mqtts://127.0.0.1:${broker.port}`,
        caFile: pki.caFile,
        ...pki.identity('acme.acme-sensor-2'),
        servername: 'localhost',
        reconnect: false,
      });
      try {
        const replayed: string[] = [];
        later.on('message', (topic) => topic.endsWith('/telemetry') && replayed.push(topic));
        await later.subscribeAsync('devices/acme.acme-sensor-2/#', { qos: 1 });
        const barrier = new Promise<void>((resolve) =>
          later.on('message', (topic) => topic.endsWith('/barrier') && resolve()),
        );
        await publishSafe(later, 'devices/acme.acme-sensor-2/barrier', 'x');
        await barrier;
        expect(replayed).toEqual([]);
      } finally {
        await later.endAsync();
      }
      const { rows } = await admin.query(
        'SELECT count(*)::int AS n FROM iot.telemetry WHERE value = 6161',
      );
      expect(rows[0].n).toBe(0);
    });

    it('refuses text/plain, XML and form bodies with 415 on every JSON route, also on a route that reads no body', async () => {
      const routes = [
        ...routerRoutes(iot.routers.customer).map((r) => ({ ...r, path: `/customer${r.path}` })),
        ...routerRoutes(iot.routers.operator).map((r) => ({ ...r, path: `/operator${r.path}` })),
      ];
      expect(routes.length).toBeGreaterThan(20);
      const token = (path: string) => (path.startsWith('/operator') ? ops : adminAcme);
      const refused: string[] = [];
      for (const route of routes) {
        for (const [type, body] of [
          ['text/plain', '{"name":"x"}'],
          ['application/xml', '<device><name>x</name></device>'],
          ['application/x-www-form-urlencoded', 'name=x'],
        ]) {
          const answer = await call(url, route.method, fillParams(route.path), {
            token: token(route.path),
            headers: { 'content-type': type as string },
            ...(route.method === 'GET' ? {} : { raw: body }),
          });
          if (answer.status !== 415 || answer.body?.code !== 'unsupported_media_type') {
            refused.push(`${route.method} ${route.path} ${type}: ${answer.status}`);
          }
        }
      }
      expect(refused).toEqual([]);
      // The body-less PUT that answered 204 to an XML body before.
      const put = await call(
        url,
        'PUT',
        '/customer/device-groups/6f1c2a9e-3b7d-4c1e-9f2a-8d5e4b3c2a1f/devices/acme-sensor-1',
        { token: adminAcme, headers: { 'content-type': 'application/xml' }, raw: '<x/>' },
      );
      expect(put.status).toBe(415);
      // A body without any Content-Type is refused the same way; JSON still works.
      const untyped = await fetch(`${url}/customer/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminAcme}` },
        body: new Blob(['{"id":"untyped-1","name":"x"}']),
      });
      expect(untyped.status).toBe(415);
      expect(
        (
          await call(url, 'POST', '/customer/devices', {
            token: adminAcme,
            body: { id: 'typed-1', name: 'x' },
          })
        ).status,
      ).toBe(201);
      const { rows } = await admin.query("SELECT id FROM iot.devices WHERE id = 'untyped-1'");
      expect(rows).toEqual([]);
    });

    it('answers an unhandled error with problem+json carrying trace_id and no stack', async () => {
      await admin.query(
        'ALTER TABLE iot.notification_channels RENAME TO notification_channels_moved',
      );
      try {
        const answer = await call(url, 'GET', '/customer/notification-channels', { token: viewer });
        expect(answer.status).toBe(500);
        expect(answer.headers.get('content-type')).toContain('application/problem+json');
        expect(answer.body.code).toBe('internal_error');
        expect(answer.body.trace_id).toBe(answer.headers.get('x-request-id'));
        expect(answer.body).not.toHaveProperty('stack');
        assertNoInternals(answer.text);
      } finally {
        await admin.query(
          'ALTER TABLE iot.notification_channels_moved RENAME TO notification_channels',
        );
      }
    });

    it('refuses /metrics without credentials and serves it to an operator on the allowlist', async () => {
      const anonymous = await call(url, 'GET', '/metrics');
      expect(anonymous.status).toBe(401);
      const customer = await call(url, 'GET', '/metrics', { token: adminAcme });
      expect(customer.status).toBe(403);
      const operator = await call(url, 'GET', '/metrics', { token: ops });
      expect(operator.status).toBe(200);
      expect(operator.text).toContain('http_requests_total');
      expect(operator.text).toMatch(/auth_failures_total\{[^}]*\} [1-9]/);
      expect(operator.text).toMatch(/authorization_denials_total\{[^}]*\} [1-9]/);
      expect(operator.text).toMatch(/rate_limit_trips_total\{policy="telemetry-export"\} [1-9]/);
      expect(operator.text).toContain('db_pool_connections{state="total"}');
      expect(operator.text).toContain('mqtt_reconnects_total');
    });

    it('labels http_requests_total by the full route pattern once, for answers and errors alike (an error answer lost the /customer mount path)', async () => {
      const device = '/customer/devices/acme-sensor-1';
      expect((await call(url, 'GET', device, { token: viewer })).status).toBe(200);
      expect((await call(url, 'GET', `${device}/`, { token: viewer })).status).toBe(200);
      expect(
        (await call(url, 'GET', '/customer/devices/no-such-1', { token: viewer })).status,
      ).toBe(404);
      expect((await call(url, 'DELETE', device, { token: viewer })).status).toBe(403);
      const text = (await call(url, 'GET', '/metrics', { token: ops })).text;
      const series = (name: string) =>
        text
          .split('\n')
          .filter((line) => line.startsWith(`${name}{`))
          .map((line) =>
            Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]])),
          );
      const requests = series('http_requests_total');
      for (const [method, status] of [
        ['GET', '200'],
        ['GET', '404'],
        ['DELETE', '403'],
      ]) {
        expect(requests).toContainEqual({ method, route: '/customer/devices/:id', status });
      }
      const routes = new Set(
        [...requests, ...series('http_request_duration_seconds_count')].map((s) => s.route),
      );
      expect([...routes].filter((route) => route === '/devices/:id')).toEqual([]);
      for (const route of routes) {
        expect(route).toMatch(
          /^(?:\/customer\/|\/operator\/|\/(?:metrics|health|ready|docs|openapi\.json)$|unmatched$)/,
        );
      }
    });

    it('serves the OpenAPI 3.1 document in development', async () => {
      const answer = await call(url, 'GET', '/openapi.json');
      expect(answer.status).toBe(200);
      expect(answer.body.openapi).toBe('3.1.0');
      expect(Object.keys(answer.body.paths)).toContain('/customer/devices/{id}/telemetry/export');
    });

    it('serves an /openapi.json that a real OpenAPI 3.1 validator accepts', async () => {
      const answer = await call(url, 'GET', '/openapi.json');
      const result = await new Validator().validate(answer.body);
      expect(result.errors ?? []).toEqual([]);
      expect(result.valid).toBe(true);
    });

    it('documents every route of the route table with its parameters, body, security, permission and error answers', async () => {
      const { paths } = (await call(url, 'GET', '/openapi.json')).body as {
        paths: Record<string, Record<string, Operation>>;
      };
      const tables = [
        ...iot.routes.customer.map((route) => ({ route, prefix: '/customer', tag: 'customer' })),
        ...iot.routes.operator.map((route) => ({ route, prefix: '/operator', tag: 'operator' })),
      ];
      for (const { route, prefix, tag } of tables) {
        const where = `${route.method} ${prefix}${route.path}`;
        const operation =
          paths[`${prefix}${route.path.replace(/:(\w+)/g, '{$1}')}`]?.[route.method];
        expect(operation, where).toBeDefined();
        if (!operation) continue;
        expect(operation.summary, where).toBe(route.summary);
        expect(operation.tags, where).toEqual([tag]);
        expect(operation['x-bulwark-permissions'], where).toEqual([route.permission]);
        expect(operation.security, where).toEqual(
          expect.arrayContaining([{ bearer: [route.permission] }, { apiKey: [route.permission] }]),
        );
        const pathParams = Object.keys(
          (route.schemas.params as { properties?: object } | undefined)?.properties ?? {},
        );
        const queryParams = Object.keys(
          (route.schemas.query as { properties?: object } | undefined)?.properties ?? {},
        );
        const documented = (operation.parameters ?? []).map((p) => `${p.in} ${p.name}`);
        for (const name of pathParams) expect(documented, where).toContain(`path ${name}`);
        for (const name of queryParams) expect(documented, where).toContain(`query ${name}`);
        if (route.schemas.body) {
          expect(operation.requestBody?.content['application/json']?.schema, where).toBeDefined();
        } else {
          expect(operation.requestBody, where).toBeUndefined();
        }
        const statuses = Object.keys(operation.responses);
        expect(statuses, where).toEqual(expect.arrayContaining(['401', '403', '500']));
        if (route.schemas.body || route.schemas.query || route.schemas.params) {
          expect(statuses, where).toContain('422');
        }
        for (const status of route.errors ?? []) expect(statuses, where).toContain(String(status));
        for (const status of statuses.filter((s) => /^[45]/.test(s))) {
          expect(
            Object.keys(operation.responses[status]?.content ?? {}),
            `${where} ${status}`,
          ).toEqual(['application/problem+json']);
        }
        const success = operation.responses[String(route.success.status)];
        expect(success, where).toBeDefined();
        if (route.success.status !== 204) {
          const type = route.success.type ?? 'application/json';
          expect(Object.keys(success?.content ?? {}), where).toEqual([type]);
          if (type === 'application/json') {
            expect(success?.content?.[type]?.schema, where).toBeDefined();
          }
        }
      }
      for (const [path, summary] of [
        ['/health', 'Liveness'],
        ['/ready', 'Readiness: database and broker'],
      ] as const) {
        expect(paths[path]?.get?.tags).toEqual(['system']);
        expect(paths[path]?.get?.summary).toBe(summary);
        expect(
          paths[path]?.get?.responses['200']?.content?.['application/json']?.schema,
        ).toBeDefined();
      }
      expect(paths['/metrics']?.get?.tags).toEqual(['system']);
      expect(paths['/metrics']?.get?.['x-bulwark-permissions']).toEqual(['metrics:read']);
      expect(Object.keys(paths['/metrics']?.get?.responses['200']?.content ?? {})).toEqual([
        'text/plain',
      ]);
      expect(Object.keys(paths).filter((path) => /^\/(?:docs|openapi\.json)/.test(path))).toEqual(
        [],
      );
    });

    it('serves the API reference page at /docs from bundled files, with no inline script and a CSP that allows them', async () => {
      const page = await call(url, 'GET', '/docs');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      const scripts = [...page.text.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
      expect(scripts.map((m) => m[1]?.trim())).toEqual([
        'src="/docs/assets/swagger-ui-bundle.js"',
        'src="/docs/assets/docs.js"',
      ]);
      expect(scripts.map((m) => m[2])).toEqual(['', '']);
      expect(page.text).not.toMatch(/\son\w+=|https?:\/\//);
      const csp = page.headers.get('content-security-policy') ?? '';
      expect(csp).toMatch(/script-src 'self'(;|$)/);
      expect(csp).toContain("connect-src 'self'");
      expect(csp).not.toContain('unsafe-eval');
      for (const [path, type] of [
        ['/docs/assets/swagger-ui-bundle.js', /^(?:text|application)\/javascript/],
        ['/docs/assets/docs.js', /^(?:text|application)\/javascript/],
        ['/docs/assets/swagger-ui.css', /^text\/css/],
        ['/docs/assets/docs.css', /^text\/css/],
      ] as const) {
        const asset = await call(url, 'GET', path);
        expect(asset.status, path).toBe(200);
        expect(asset.headers.get('content-type'), path).toMatch(type);
        expect(asset.headers.get('x-content-type-options'), path).toBe('nosniff');
      }
      expect((await call(url, 'GET', '/docs/assets/docs.js')).text).toContain(
        "url: '/openapi.json'",
      );
      // The package's own demo page and its settings are not served.
      for (const path of ['/docs/assets/index.html', '/docs/assets/swagger-initializer.js']) {
        const answer = await call(url, 'GET', path);
        if (path.endsWith('.html')) expect(answer.text).not.toContain('petstore');
        else expect(answer.status, path).toBe(404);
      }
    });

    it('refuses anonymous requests on every customer and operator route, enumerated from the routers', async () => {
      const customer = routerRoutes(iot.routers.customer);
      expect(customer.length).toBe(iot.routes.customer.length);
      expect(customer.length).toBeGreaterThan(25);
      const operator = routerRoutes(iot.routers.operator);
      expect(operator.length).toBe(iot.routes.operator.length);
      const routes = [
        ...customer.map((route) => ({ ...route, path: `/customer${route.path}` })),
        ...operator.map((route) => ({ ...route, path: `/operator${route.path}` })),
      ];
      for (const route of routes) {
        const answer = await call(url, route.method, fillParams(route.path), {
          ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { body: {} }),
        });
        expect(answer.status, `${route.method} ${route.path}`).toBe(401);
        expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
    });

    it("never lets tenant A read or change tenant B's rows, even by id", async () => {
      const globexAlert = await call(url, 'POST', '/customer/devices/globex-sensor-1/telemetry', {
        token: adminGlobex,
        body: { metrics: { battery: 3 } },
      });
      expect(globexAlert.status).toBe(202);
      const alertId = globexAlert.body.alerts[0] as string;
      const group = await call(url, 'POST', '/customer/device-groups', {
        token: adminAcme,
        body: { name: 'Acme floor' },
      });
      const attempts = [
        await call(url, 'GET', '/customer/devices/globex-sensor-1', { token: adminAcme }),
        await call(url, 'PATCH', '/customer/devices/globex-sensor-1', {
          token: adminAcme,
          body: { name: 'pwned' },
        }),
        await call(url, 'PUT', '/customer/devices/globex-sensor-1/tags', {
          token: adminAcme,
          body: { tags: ['pwned'] },
        }),
        await call(url, 'DELETE', '/customer/devices/globex-sensor-1', { token: adminAcme }),
        await call(url, 'GET', '/customer/devices/globex-sensor-1/telemetry', { token: adminAcme }),
        await call(url, 'POST', '/customer/devices/globex-sensor-1/telemetry', {
          token: adminAcme,
          body: { metrics: { battery: 1 } },
        }),
        await call(url, 'GET', '/customer/devices/globex-sensor-1/telemetry/export', {
          token: adminAcme,
        }),
        await call(url, 'POST', `/customer/alerts/${alertId}/acknowledge`, { token: adminAcme }),
        await call(url, 'POST', `/customer/alerts/${alertId}/close`, { token: adminAcme }),
        await call(url, 'PUT', `/customer/device-groups/${group.body.id}/devices/globex-sensor-1`, {
          token: adminAcme,
        }),
      ];
      expect(attempts.map((a) => a.status)).toEqual(Array(attempts.length).fill(404));
      const lists = [
        await call(url, 'GET', '/customer/devices', { token: adminAcme }),
        await call(url, 'GET', '/customer/alerts', { token: adminAcme }),
        await call(url, 'GET', '/customer/alert-rules', { token: adminAcme }),
        await call(url, 'GET', '/customer/notification-channels', { token: adminAcme }),
        await call(url, 'GET', '/customer/audit-log', { token: adminAcme }),
      ];
      for (const list of lists) {
        expect(list.status).toBe(200);
        expect(list.text).not.toContain('globex');
      }
      const { rows } = await admin.query(
        'SELECT d.name, d.tags, a.status FROM iot.devices d JOIN iot.alerts a ON a.device_id = d.id WHERE a.id = $1',
        [alertId],
      );
      expect(rows).toEqual([{ name: 'Lobby', tags: ['hvac'], status: 'open' }]);
    });

    it('enforces the isolation in the database itself: the app role sees and writes only its tenant', async () => {
      const { rows: flags } = await admin.query(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'iot_app'",
      );
      expect(flags).toEqual([{ rolsuper: false, rolbypassrls: false }]);
      await admin.query('BEGIN');
      try {
        await admin.query("SELECT set_config('app.tenant_id', 'acme', true)");
        await admin.query('SET LOCAL ROLE iot_app');
        const { rows } = await admin.query(
          "SELECT id FROM iot.devices WHERE id = 'globex-sensor-1'",
        );
        expect(rows).toEqual([]);
        await expect(
          admin.query(
            "INSERT INTO iot.devices (id, tenant_id, name) VALUES ('sneaky-1', 'globex', 'x')",
          ),
        ).rejects.toMatchObject({ code: '42501' });
      } finally {
        await admin.query('ROLLBACK');
      }
    });

    it('rotates the tenant API key once, shows the new key once and audits the rotation', async () => {
      const issued = await call(url, 'POST', '/customer/api-keys', {
        token: adminAcme,
        body: { name: 'ingest', scopes: ['devices:read'] },
      });
      expect(issued.status).toBe(201);
      expect(
        (await call(url, 'GET', '/customer/devices', { apiKey: issued.body.key })).status,
      ).toBe(200);
      const rotated = await call(url, 'POST', '/customer/api-keys/rotate', {
        token: adminAcme,
        body: {},
      });
      expect(rotated.status).toBe(201);
      expect(rotated.body.key.key).toMatch(/^bwk_/);
      expect(
        (await call(url, 'GET', '/customer/devices', { apiKey: issued.body.key })).status,
      ).toBe(401);
      expect(
        (await call(url, 'GET', '/customer/devices', { apiKey: rotated.body.key.key })).status,
      ).toBe(200);
      const listed = await call(url, 'GET', '/customer/api-keys', { token: adminAcme });
      expect(listed.text).not.toContain(rotated.body.key.key);
      const auditLog = await call(url, 'GET', '/customer/audit-log?action=ROTATE', {
        token: adminAcme,
      });
      expect(
        auditLog.body.items.some(
          (e: { resourceId: string }) => e.resourceId === rotated.body.key.id,
        ),
      ).toBe(true);
    });

    it('walks groups, maintenance windows, rules, channels and the alert lifecycle for an Operator', async () => {
      const operator = tokenFor(iot, 'operator@acme', 'acme');
      const group = await call(url, 'POST', '/customer/device-groups', {
        token: operator,
        body: { name: 'Cold chain' },
      });
      expect(group.status).toBe(201);
      const added = await call(
        url,
        'PUT',
        `/customer/device-groups/${group.body.id}/devices/acme-sensor-2`,
        { token: operator },
      );
      expect(added.status).toBe(204);
      const groups = await call(url, 'GET', '/customer/device-groups', { token: operator });
      expect(groups.body.items.find((g: { id: string }) => g.id === group.body.id).devices).toEqual(
        ['acme-sensor-2'],
      );
      const tags = await call(url, 'PUT', '/customer/devices/acme-sensor-2/tags', {
        token: operator,
        body: { tags: ['freezer'] },
      });
      expect(tags.body.tags).toEqual(['freezer']);

      const rule = await call(url, 'POST', '/customer/alert-rules', {
        token: operator,
        body: {
          name: 'Freezer warm',
          deviceId: 'acme-sensor-2',
          metric: 'temp_c',
          operator: 'gt',
          threshold: -10,
          severity: 'warning',
        },
      });
      expect(rule.status).toBe(201);
      const patched = await call(url, 'PATCH', `/customer/alert-rules/${rule.body.id}`, {
        token: operator,
        body: { threshold: -5 },
      });
      expect(patched.body.threshold).toBe(-5);

      const now = Date.now();
      const window = await call(url, 'POST', '/customer/maintenance-windows', {
        token: operator,
        body: {
          deviceId: 'acme-sensor-2',
          startsAt: new Date(now - 60_000).toISOString(),
          endsAt: new Date(now + 600_000).toISOString(),
          reason: 'defrost',
        },
      });
      expect(window.status).toBe(201);
      const quiet = await call(url, 'POST', '/customer/devices/acme-sensor-2/telemetry', {
        token: operator,
        body: { metrics: { temp_c: 2 } },
      });
      expect(quiet.body.alerts).toEqual([]);
      expect(
        (
          await call(url, 'DELETE', `/customer/maintenance-windows/${window.body.id}`, {
            token: operator,
          })
        ).status,
      ).toBe(204);
      const loud = await call(url, 'POST', '/customer/devices/acme-sensor-2/telemetry', {
        token: operator,
        body: { metrics: { temp_c: 2 } },
      });
      expect(loud.body.alerts).toHaveLength(1);

      const alertId = loud.body.alerts[0];
      const acked = await call(url, 'POST', `/customer/alerts/${alertId}/acknowledge`, {
        token: operator,
      });
      expect(acked.body).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'operator@acme' });
      expect(
        (await call(url, 'POST', `/customer/alerts/${alertId}/acknowledge`, { token: operator }))
          .status,
      ).toBe(409);
      const closed = await call(url, 'POST', `/customer/alerts/${alertId}/close`, {
        token: operator,
      });
      expect(closed.body.status).toBe('closed');

      const channel = await call(url, 'POST', '/customer/notification-channels', {
        token: operator,
        body: {
          name: 'Freezer hook',
          type: 'webhook',
          target: 'https://hooks.acme.example/freezer',
        },
      });
      expect(channel.status).toBe(201);
      const insecure = await call(
        url,
        'PATCH',
        `/customer/notification-channels/${channel.body.id}`,
        {
          token: operator,
          body: { target: 'http://user:pw@hooks.acme.example/' },
        },
      );
      expect(insecure.status).toBe(422);
      expect(insecure.text).not.toContain('pw@');
      expect(
        (
          await call(url, 'DELETE', `/customer/notification-channels/${channel.body.id}`, {
            token: operator,
          })
        ).status,
      ).toBe(204);
      expect(
        (await call(url, 'DELETE', `/customer/alert-rules/${rule.body.id}`, { token: operator }))
          .status,
      ).toBe(204);
      expect(
        (
          await call(
            url,
            'DELETE',
            `/customer/device-groups/${group.body.id}/devices/acme-sensor-2`,
            { token: operator },
          )
        ).status,
      ).toBe(204);
      expect(
        (await call(url, 'DELETE', `/customer/device-groups/${group.body.id}`, { token: operator }))
          .status,
      ).toBe(204);
      const page = await call(url, 'GET', '/customer/devices/acme-sensor-2/telemetry?limit=5000', {
        token: operator,
      });
      expect(page.body).toMatchObject({ limit: 500, capped: true });
    });

    it('refuses a key that would carry more than its issuer holds', async () => {
      const operator = tokenFor(iot, 'operator@acme', 'acme');
      const answer = await call(url, 'POST', '/customer/api-keys', {
        token: operator,
        body: { name: 'escalate', scopes: ['audit:read'] },
      });
      expect(answer.status).toBe(403);
    });

    it("refuses a key in its rotation's grace period minting or rotating keys, so rotating a leaked key evicts its holder", async () => {
      const leaked = await call(url, 'POST', '/customer/api-keys', {
        token: adminAcme,
        body: { name: 'automation', scopes: ['api_keys:write', 'api_keys:read', 'devices:read'] },
      });
      expect(leaked.status).toBe(201);
      const key = leaked.body.key as string;
      // By default no key manages keys, whatever its scopes.
      const minted = await call(url, 'POST', '/customer/api-keys', {
        apiKey: key,
        body: { name: 'successor', scopes: ['devices:read'] },
      });
      expect(minted.status).toBe(403);
      expect(minted.body.code).toBe('api_key_cannot_manage_keys');
      const rotated = await call(url, 'POST', '/customer/api-keys/rotate', {
        token: adminAcme,
        body: { keyId: leaked.body.id, graceSec: 3600 },
      });
      expect(rotated.status).toBe(201);
      // In the grace period the old key still works for what it is for...
      expect((await call(url, 'GET', '/customer/devices', { apiKey: key })).status).toBe(200);
      // ...but it cannot mint, rotate or revoke its way past the rotation.
      const attempts = [
        await call(url, 'POST', '/customer/api-keys', {
          apiKey: key,
          body: { name: 'successor', scopes: ['devices:read'] },
        }),
        await call(url, 'POST', '/customer/api-keys/rotate', { apiKey: key, body: {} }),
        await call(url, 'DELETE', `/customer/api-keys/${rotated.body.key.id}`, { apiKey: key }),
      ];
      expect(attempts.map((a) => [a.status, a.body.code])).toEqual(
        Array(3).fill([403, 'api_key_cannot_manage_keys']),
      );
      const { rows } = await admin.query(
        'SELECT count(*)::int AS n FROM bulwark_rbac.api_keys WHERE created_by = $1',
        [`api-key:${leaked.body.id}`],
      );
      expect(rows[0].n).toBe(0);
      // The tenant ends the grace period at once with the revoke route.
      expect(
        (await call(url, 'DELETE', `/customer/api-keys/${leaked.body.id}`, { token: adminAcme }))
          .status,
      ).toBe(204);
      expect((await call(url, 'GET', '/customer/devices', { apiKey: key })).status).toBe(401);
      expect(
        (await call(url, 'GET', '/customer/devices', { apiKey: rotated.body.key.key as string }))
          .status,
      ).toBe(200);
    });

    it("revokes a key with DELETE /customer/api-keys/:keyId, and answers 404 for an unknown one or another tenant's", async () => {
      const globexKey = await call(url, 'POST', '/customer/api-keys', {
        token: adminGlobex,
        body: { name: 'globex', scopes: ['devices:read'] },
      });
      expect(globexKey.status).toBe(201);
      for (const id of [globexKey.body.id, '6f1c2a9e-3b7d-4c1e-9f2a-8d5e4b3c2a1f']) {
        const answer = await call(url, 'DELETE', `/customer/api-keys/${id}`, { token: adminAcme });
        expect(answer.status).toBe(404);
        expect(answer.text).not.toContain('globex');
      }
      expect(
        (await call(url, 'GET', '/customer/devices', { apiKey: globexKey.body.key })).status,
      ).toBe(200);
    });

    it("keeps a minted key within 90 days and its issuer's permissions, and never gives it operator permissions", async () => {
      const issued = await call(url, 'POST', '/customer/api-keys', {
        token: adminAcme,
        body: { name: 'default expiry', scopes: ['devices:read'] },
      });
      expect(issued.status).toBe(201);
      const lifetime = Date.parse(issued.body.expiresAt) - Date.now();
      expect(lifetime).toBeGreaterThan(89 * 86_400_000);
      expect(lifetime).toBeLessThanOrEqual(90 * 86_400_000);
      const forever = await call(url, 'POST', '/customer/api-keys', {
        token: adminAcme,
        body: {
          name: 'too long',
          scopes: ['devices:read'],
          expiresAt: new Date(Date.now() + 365 * 86_400_000).toISOString(),
        },
      });
      expect(forever.status).toBe(422);
      expect(forever.body.code).toBe('api_key_lifetime_exceeded');
      for (const scope of ['system:read', 'metrics:read']) {
        const answer = await call(url, 'POST', '/customer/api-keys', {
          token: adminAcme,
          body: { name: 'operator rights', scopes: [scope] },
        });
        expect(answer.status, scope).toBe(403);
        expect(answer.body.code).toBe('api_key_scope_reserved');
      }
      // A user who may manage keys but not read the audit log cannot give a key that right.
      await admin.query(`
        INSERT INTO bulwark_rbac.roles (name, description) VALUES ('key-manager', 'keys only') ON CONFLICT DO NOTHING;
        INSERT INTO bulwark_rbac.role_permissions (role, permission)
          VALUES ('key-manager', 'api_keys:write'), ('key-manager', 'devices:read') ON CONFLICT DO NOTHING;
        INSERT INTO bulwark_rbac.users (subject, tenant_id) VALUES ('keys@acme', 'acme') ON CONFLICT DO NOTHING;
        INSERT INTO bulwark_rbac.user_roles (subject, role, tenant_id) VALUES ('keys@acme', 'key-manager', 'acme') ON CONFLICT DO NOTHING;`);
      const keysUser = tokenFor(iot, 'keys@acme', 'acme');
      const wider = await call(url, 'POST', '/customer/api-keys', {
        token: keysUser,
        body: { name: 'escalate', scopes: ['devices:read', 'audit:read'] },
      });
      expect(wider.status).toBe(403);
      expect(wider.body.code).toBe('api_key_scope_exceeds_issuer');
      const within = await call(url, 'POST', '/customer/api-keys', {
        token: keysUser,
        body: { name: 'reader', scopes: ['devices:read'] },
      });
      expect(within.status).toBe(201);
    });

    it('names MQTT_PORT, PORT or HTTPS_PORT and the fix when the port is taken, and HOST when it is not an address of this machine, instead of a bare EADDRINUSE', async () => {
      const taken = createNetServer();
      const port = await new Promise<number>((resolve) =>
        taken.listen(0, '127.0.0.1', () => resolve((taken.address() as AddressInfo).port)),
      );
      try {
        await expect(
          createApp(loadConfig({ ...baseEnv, MQTT_URL: '', MQTT_PORT: String(port) })),
        ).rejects.toMatchObject({
          code: 'ERR_IOT_APP_PORT_IN_USE',
          message: `MQTT_PORT: port ${port} on 127.0.0.1 is already in use (another iot-app or an MQTT broker such as Mosquitto listens there). Stop it, set MQTT_PORT to a free port, or set MQTT_PORT=0 to take any free port.`,
        });
        await expect(
          createApp(loadConfig({ ...baseEnv, MQTT_URL: '', MQTT_PORT: '0', HOST: '192.0.2.1' })),
        ).rejects.toMatchObject({
          code: 'ERR_IOT_APP_HOST_UNAVAILABLE',
          message:
            'HOST: "192.0.2.1" is not an address of this machine, so nothing can listen on it (MQTT_PORT=0). Set HOST to one of its addresses, such as 127.0.0.1.',
        });
        for (const [variable, env] of [
          ['PORT', { PORT: String(port) }],
          ['HTTPS_PORT', { HTTPS_PORT: String(port) }],
          // The HTTPS listener starts first; it is closed again when PORT is taken.
          ['PORT', { PORT: String(port), HTTPS_PORT: '0' }],
        ] as const) {
          // The embedded broker on a free port: a second service client on Mosquitto would take
          // over the session of the app the other tests use.
          const second = await createApp(
            loadConfig({ ...baseEnv, MQTT_URL: '', MQTT_PORT: '0', ...env }),
          );
          try {
            await expect(second.start()).rejects.toMatchObject({
              code: 'ERR_IOT_APP_PORT_IN_USE',
              message: `${variable}: port ${port} on 127.0.0.1 is already in use (another iot-app or another server listens there). Stop it, set ${variable} to a free port, or set ${variable}=0 to take any free port.`,
            });
          } finally {
            await second.stop();
          }
        }
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
    });

    it('stops the start command with one line naming MQTT_PORT when the broker port is taken, and does not claim to create an embedded database on PostgreSQL', async () => {
      const taken = createNetServer();
      const port = await new Promise<number>((resolve) =>
        taken.listen(0, '127.0.0.1', () => resolve((taken.address() as AddressInfo).port)),
      );
      try {
        const run = await runPnpm(['--silent', '--filter', 'iot-app', 'start'], {
          ...baseEnv,
          MQTT_URL: '',
          MQTT_PORT: String(port),
        });
        expect(run.code).toBe(1);
        expect(run.stdout).toBe('iot-app: starting\n');
        expect(run.stderr).toBe(
          `iot-app did not start: ERR_IOT_APP_PORT_IN_USE: MQTT_PORT: port ${port} on 127.0.0.1 is already in use (another iot-app or an MQTT broker such as Mosquitto listens there). Stop it, set MQTT_PORT to a free port, or set MQTT_PORT=0 to take any free port.\n`,
        );
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
    });

    it('reports pool and broker status to operators only', async () => {
      const customer = await call(url, 'GET', '/operator/health', { token: adminAcme });
      expect(customer.status).toBe(403);
      const answer = await call(url, 'GET', '/operator/health', { token: ops });
      expect(answer.status).toBe(200);
      expect(answer.body.database.pool).toHaveProperty('total');
      expect(answer.body.broker.connected).toBe(true);
      const readiness = await call(url, 'GET', '/ready');
      expect(readiness.body).toEqual({ status: 'ok', checks: { database: 'ok', broker: 'ok' } });
    });
    it('drains an in-flight request on stop, then closes the broker client and the pool', async () => {
      const locker = new pg.Client({ connectionString: db.url });
      await locker.connect();
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE iot.alert_rules IN ACCESS EXCLUSIVE MODE');
      // Stop as soon as the server has the request: Node announces each one on this channel.
      const arrived = new Promise<void>((resolve) => {
        const onStart = () => {
          diagnostics.unsubscribe('http.server.request.start', onStart);
          resolve();
        };
        diagnostics.subscribe('http.server.request.start', onStart);
      });
      const inFlight = call(url, 'GET', '/customer/alert-rules', { token: viewer });
      await arrived;
      const stopped = iot.stop();
      // The lock is held until the answer arrives, so the request ends in its statement timeout,
      // a complete answer rather than a cut connection.
      const answer = await inFlight;
      await locker.query('ROLLBACK');
      await locker.end();
      await stopped;
      expect(answer.status).toBe(503);
      expect(answer.body.code).toBe('database_timeout');
      expect(iot.database.pool.ended).toBe(true);
      expect(iot.messaging.status().connected).toBe(false);
      await expect(fetch(`${url}/health`)).rejects.toThrow();
    });
  });

  describe('in production mode', () => {
    let iot: IotApp;
    let url: string;
    const loginRole = `bulwark_iot_e2e_${randomBytes(4).toString('hex')}`;
    let prodEnv: Record<string, string>;

    beforeAll(async () => {
      await admin.query(`CREATE ROLE ${loginRole} LOGIN NOSUPERUSER NOBYPASSRLS`);
      const appUrl = new URL(db.url);
      appUrl.username = loginRole;
      prodEnv = {
        ...baseEnv,
        NODE_ENV: 'production',
        DATABASE_URL: appUrl.toString(),
        MIGRATION_DATABASE_URL: db.url,
        JWT_SECRET: randomBytes(32).toString('base64url'),
        API_KEY_PEPPER: randomBytes(32).toString('base64url'),
        CORS_ORIGINS: 'https://app.example.com',
        METRICS_ALLOWLIST: '192.0.2.0/24',
        SEED_DEMO_DATA: 'true',
      };
      iot = await createApp(loadConfig(prodEnv));
      ({ url } = await iot.start());
    }, 120_000);

    afterAll(async () => {
      await iot?.stop();
      await admin.query(`DROP OWNED BY ${loginRole}`).catch(() => {});
      await admin.query(`DROP ROLE IF EXISTS ${loginRole}`).catch(() => {});
    }, 120_000);

    it('says on start what holds in production: no embedded database to create and no development token command', () => {
      expect(startingMessage(iot.config)).toBe(
        'iot-app: starting in production (NODE_ENV=production): a failed startup check stops it',
      );
      const message = listeningMessage(iot, { url });
      expect(message).not.toContain('pnpm');
      expect(message).not.toContain('embedded');
      expect(message).toContain(
        '  auth         Bearer tokens signed with JWT_SECRET (HS256, issuer iot-app, audience iot-api), or X-API-Key\n',
      );
      expect(message).toContain(
        `  docs         ${url}/docs (from METRICS_ALLOWLIST addresses only)\n`,
      );
      expect(message).toContain(`  try          curl ${url}/health\n`);
    });

    it('refuses /docs and /openapi.json to addresses outside the allowlist', async () => {
      expect((await call(url, 'GET', '/docs')).status).toBe(404);
      expect((await call(url, 'GET', '/openapi.json')).status).toBe(404);
      expect((await call(url, 'GET', '/docs/assets/docs.js')).status).toBe(404);
      expect((await call(url, 'GET', '/docs/assets/swagger-ui-bundle.js')).status).toBe(404);
      expect((await call(url, 'GET', '/health')).status).toBe(200);
    });

    it('refuses /metrics from outside the allowlist even with operator credentials', async () => {
      const answer = await call(url, 'GET', '/metrics', {
        token: tokenFor(iot, 'ops@platform', null),
      });
      expect(answer.status).toBe(404);
    });

    it('serves customers as a login role that is neither superuser nor BYPASSRLS', async () => {
      const answer = await call(url, 'GET', '/customer/devices', {
        token: tokenFor(iot, 'viewer@acme', 'acme'),
      });
      expect(answer.status).toBe(200);
      expect(answer.text).not.toContain('globex');
    });

    it('fails to start when the login role is a superuser', async () => {
      const start = createApp(
        loadConfig({
          ...baseEnv,
          NODE_ENV: 'production',
          JWT_SECRET: randomBytes(32).toString('base64url'),
          API_KEY_PEPPER: randomBytes(32).toString('base64url'),
        }),
      );
      await expect(start).rejects.toMatchObject({ code: 'ERR_IOT_APP_DB_LOGIN_ROLE' });
    });

    it('fails to start with the embedded broker or the development HTTPS listener', async () => {
      await expect(createApp(loadConfig({ ...prodEnv, MQTT_URL: '' }))).rejects.toMatchObject({
        code: 'ERR_IOT_APP_EMBEDDED_MQTT',
      });
      await expect(createApp(loadConfig({ ...prodEnv, HTTPS_PORT: '0' }))).rejects.toMatchObject({
        code: 'ERR_IOT_APP_DEV_HTTPS',
      });
    });

    it('fails to start on embedded defaults or generated secrets', async () => {
      expect(() => loadConfig({ NODE_ENV: 'production', DATA_DIR: dataDir })).toThrow();
      const embedded = createApp(
        loadConfig({
          NODE_ENV: 'production',
          DATA_DIR: dataDir,
          LOG_LEVEL: 'silent',
          JWT_SECRET: randomBytes(32).toString('base64url'),
          API_KEY_PEPPER: randomBytes(32).toString('base64url'),
        }),
      );
      await expect(embedded).rejects.toBeInstanceOf(DatabaseStartupError);
      await expect(embedded).rejects.toMatchObject({ code: 'ERR_IOT_APP_EMBEDDED_DB' });
    });
  });

  describe('with the HTTPS listener', () => {
    let iot: IotApp;
    let started: Awaited<ReturnType<IotApp['start']>>;

    beforeAll(async () => {
      iot = await createApp(loadConfig({ ...baseEnv, HTTPS_PORT: '0' }));
      started = await iot.start();
    }, 120_000);

    afterAll(async () => {
      await iot?.stop();
    }, 120_000);

    it('redirects plain HTTP to HTTPS and serves the security headers over TLS', async () => {
      const plain = await fetch(`${started.url}/health`, { redirect: 'manual' });
      expect(plain.status).toBe(308);
      const location = plain.headers.get('location') ?? '';
      expect(location).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/health$/);
      const secure = await new Promise<{ status: number; headers: Record<string, unknown> }>(
        (resolve, reject) => {
          https
            .get(`${started.httpsUrl}/health`, { ca: readFileSync(pki.caFile) }, (res) => {
              res.resume();
              res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
            })
            .on('error', reject);
        },
      );
      expect(secure.status).toBe(200);
      expect(secure.headers['strict-transport-security']).toBe(
        'max-age=31536000; includeSubDomains',
      );
      expect(secure.headers['content-security-policy']).toContain("default-src 'none'");
    });
  });

  describe('with the abuse ban and the write and export limits set from the environment', () => {
    let iot: IotApp;
    let url: string;

    beforeAll(async () => {
      iot = await createApp(
        loadConfig({
          ...baseEnv,
          REDIS_PREFIX: redisPrefix('iot-app-tight'),
          ABUSE_FAILURES: '3',
          RATE_LIMIT_WRITES: '2',
          RATE_LIMIT_EXPORTS: '1',
        }),
      );
      ({ url } = await iot.start());
    }, 120_000);

    afterAll(async () => {
      await iot?.stop();
    }, 120_000);

    // Before the ban test below: the ban covers this address for every later request.
    it('takes the per-user write limit and the per-tenant export limit from RATE_LIMIT_WRITES and RATE_LIMIT_EXPORTS', async () => {
      const operator = tokenFor(iot, 'operator@acme', 'acme');
      const writes: number[] = [];
      for (let i = 0; i < 3; i++) {
        writes.push(
          (
            await call(url, 'PATCH', '/customer/devices/acme-sensor-2', {
              token: operator,
              body: { location: `shelf ${i}` },
            })
          ).status,
        );
      }
      expect(writes).toEqual([200, 200, 429]);
      // Per user: another user of the same tenant still writes.
      expect(
        (
          await call(url, 'PATCH', '/customer/devices/acme-sensor-2', {
            token: tokenFor(iot, 'admin@acme', 'acme'),
            body: { location: 'shelf 9' },
          })
        ).status,
      ).toBe(200);
      const exports: number[] = [];
      for (const subject of ['viewer@globex', 'admin@globex']) {
        exports.push(
          (
            await call(url, 'GET', '/customer/devices/globex-sensor-1/telemetry/export', {
              token: tokenFor(iot, subject, 'globex'),
            })
          ).status,
        );
      }
      expect(exports).toEqual([200, 429]);
    });

    it('answers /health and /ready to an address the abuse guard has banned', async () => {
      for (let i = 0; i < 4; i++) await call(url, 'GET', '/customer/devices');
      const banned = await call(url, 'GET', '/customer/devices', {
        token: tokenFor(iot, 'viewer@acme', 'acme'),
      });
      expect(banned.status).toBe(429);
      expect(banned.body.code).toBe('client_banned');
      expect((await call(url, 'GET', '/health')).status).toBe(200);
      const ready = await call(url, 'GET', '/ready');
      expect(ready.status).toBe(200);
      expect(ready.body.status).toBe('ok');
    });
  });

  // No app runs here: the service's own certificate would take over the app's connection.
  describe('the Mosquitto config the app writes', () => {
    /** One TLS 1.2 handshake with the openssl CLI as a device; the cipher agreed, or null. */
    const handshake = (cipher?: string) => {
      const device = pki.identity('acme.acme-sensor-1');
      const run = spawnSync(
        'openssl',
        [
          's_client',
          '-connect',
          `127.0.0.1:${broker.port}`,
          '-servername',
          'localhost',
          '-CAfile',
          pki.caFile,
          '-cert',
          device.certFile,
          '-key',
          device.keyFile,
          '-tls1_2',
          ...(cipher ? ['-cipher', cipher] : []),
        ],
        { input: '', encoding: 'utf8', timeout: 10_000 },
      );
      const agreed = /Cipher is (\S+)/.exec(run.stdout)?.[1];
      return run.status === 0 && agreed && agreed !== '(NONE)' ? agreed : null;
    };

    it('refuses a TLS 1.2 handshake with a CBC-SHA1 suite and agrees on an AEAD suite by default', () => {
      expect(handshake('ECDHE-ECDSA-AES128-SHA')).toBeNull();
      expect(handshake('ECDHE-RSA-AES128-SHA')).toBeNull();
      expect(handshake()).toMatch(
        /^ECDHE-ECDSA-(?:AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305)$/,
      );
    });

    it("lets the service identity read telemetry and write alerts, but never publish a device's telemetry or commands", async () => {
      const service = await connectSecure({
        url: `mqtts://127.0.0.1:${broker.port}`,
        caFile: pki.caFile,
        ...pki.identity('iot-service'),
        servername: 'localhost',
        reconnect: false,
      });
      const device = await connectSecure({
        url: `mqtts://127.0.0.1:${broker.port}`,
        caFile: pki.caFile,
        ...pki.identity('acme.acme-sensor-1'),
        servername: 'localhost',
        reconnect: false,
      });
      try {
        const received: string[] = [];
        device.on('message', (topic) => received.push(topic));
        await device.subscribeAsync('devices/acme.acme-sensor-1/#', { qos: 1 });
        for (const level of ['telemetry', 'commands']) {
          await expect(
            publishSafe(service, `devices/acme.acme-sensor-1/${level}`, '{"metrics":{"t":1}}'),
            level,
          ).rejects.toMatchObject({ code: 'publish_rejected' });
        }
        await publishSafe(service, 'devices/acme.acme-sensor-1/alerts', '{"id":"a"}');
        const barrier = new Promise<void>((resolve) =>
          device.on('message', (topic) => topic.endsWith('/barrier') && resolve()),
        );
        await publishSafe(device, 'devices/acme.acme-sensor-1/barrier', 'x');
        await barrier;
        expect(received).toEqual([
          'devices/acme.acme-sensor-1/alerts',
          'devices/acme.acme-sensor-1/barrier',
        ]);
      } finally {
        await service.endAsync();
        await device.endAsync();
      }
    });
  });

  describe('when Redis does not answer at startup', () => {
    it('fails to start naming Redis, its URL without the password, and the fix', async () => {
      const port = await freePort();
      const started = createApp(
        loadConfig({ ...baseEnv, REDIS_URL: `redis://ingest:s3cret-pass@127.0.0.1:${port}/0` }),
      );
      const error = await started.catch((err: unknown) => err);
      expect(error).toBeInstanceOf(RedisStartupError);
      expect(error).toMatchObject({ code: 'ERR_IOT_APP_REDIS_UNREACHABLE' });
      const message = (error as Error).message;
      expect(message).toContain(`Redis at redis://ingest@127.0.0.1:${port}/0 did not answer`);
      expect(message).toContain('ECONNREFUSED');
      expect(message).toMatch(/start Redis, correct REDIS_URL, or unset REDIS_URL/);
      expect(message).not.toContain('s3cret-pass');
      expect(message).not.toBe('Connection is closed.');
    });
  });

  describe('with a broker that keeps retained messages', () => {
    let keeping: RunningMosquitto;
    let env: Record<string, string>;

    beforeAll(async () => {
      keeping = await startMosquitto({
        dir: join(dataDir, 'mosquitto-retained'),
        config: (port) =>
          mosquittoConfig(
            {
              caFile: pki.caFile,
              serverCertFile: pki.serverCertFile,
              serverKeyFile: pki.serverKeyFile,
              aclFile: pki.aclFile,
              crlFile: pki.crlFile,
            },
            { port, bindAddress: '127.0.0.1', allowRetained: true },
          ),
      });
      env = { ...baseEnv, MQTT_URL: `mqtts://127.0.0.1:${keeping.port}` };
    }, 120_000);

    afterAll(async () => {
      await keeping?.stop();
    }, 120_000);

    it('stores a retained reading once, and drops it with a count when the service subscribes again', async () => {
      const first = await createApp(loadConfig(env));
      const device = await connectSecure({
        url: `mqtts://127.0.0.1:${keeping.port}`,
        caFile: pki.caFile,
        ...pki.identity('acme.acme-sensor-2'),
        servername: 'localhost',
        reconnect: false,
      });
      try {
        await publishSafe(
          device,
          'devices/acme.acme-sensor-2/telemetry',
          // Above acme's temperature rule: each time it is stored, it raises an alert.
          JSON.stringify({ metrics: { temperature: 7171 } }),
          { retain: true },
        );
        await eventually(async () => {
          const { rows } = await admin.query('SELECT 1 FROM iot.telemetry WHERE value = 7171');
          return rows[0];
        });
      } finally {
        await device.endAsync();
        await first.stop();
      }
      // A new subscription (a restart, a reconnect without a session) is sent the retained copy.
      const second = await createApp(loadConfig(env));
      try {
        await eventually(async () => (second.messaging.status().retained > 0 ? true : undefined));
        expect(second.messaging.status()).toMatchObject({ retained: 1, rejected: 1, stored: 0 });
        const { rows } = await admin.query(
          "SELECT count(*)::int AS n FROM iot.telemetry WHERE value = 7171 AND device_id = 'acme-sensor-2'",
        );
        expect(rows[0].n).toBe(1);
        const alerts = await admin.query(
          'SELECT count(*)::int AS n FROM iot.alerts WHERE value = 7171',
        );
        expect(alerts.rows[0].n).toBe(1);
      } finally {
        await second.stop();
      }
    });
  });
});
