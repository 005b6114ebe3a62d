// PostgreSQL going away under the example app: /ready says so quickly, the rest keeps serving, the pool recovers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTestDatabase,
  redisPrefix,
  requireService,
  type TestDatabase,
} from '@bulwark/test-utils';
import { createApp, type IotApp, loadConfig, signToken, tokenKey } from 'iot-app';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type CuttableProxy, eventually, load, startProxy } from './support.js';

vi.setConfig({ testTimeout: 45_000, hookTimeout: 120_000 });

const ready = await requireService('postgres', 'redis');

describe.runIf(ready)('the example app when PostgreSQL goes away', () => {
  let db: TestDatabase;
  let proxy: CuttableProxy;
  let iot: IotApp;
  let url: string;
  let token: string;
  let dataDir: string;

  beforeAll(async () => {
    db = await createTestDatabase('faults_pg');
    const direct = new URL(db.url);
    proxy = await startProxy(Number(direct.port || 5432), direct.hostname);
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    dataDir = mkdtempSync(join(tmpdir(), 'faults-pg-'));
    iot = await createApp(
      loadConfig({
        DATABASE_URL: viaProxy.toString(),
        MIGRATION_DATABASE_URL: db.url,
        REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
        REDIS_PREFIX: redisPrefix('faults-pg'),
        MQTT_PORT: '0',
        STATEMENT_TIMEOUT_MS: '500',
        DATA_DIR: dataDir,
        PORT: '0',
        LOG_LEVEL: 'silent',
        ABUSE_FAILURES: '100000',
        RATE_LIMIT_GLOBAL: '100000',
      }),
    );
    ({ url } = await iot.start());
    token = signToken(tokenKey(iot.config.jwtSecret), {
      subject: 'viewer@acme',
      tenantId: 'acme',
      ttlSec: 600,
    });
  });

  afterAll(async () => {
    await iot?.stop();
    await proxy?.close();
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const get = async (path: string, auth = false) => {
    const response = await fetch(`${url}${path}`, {
      headers: auth ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(8000),
    });
    const text = await response.text();
    return { status: response.status, text, headers: response.headers };
  };

  it('answers /ready with 503 quickly, keeps /health serving, refuses database routes without a 500, and recovers', async () => {
    expect((await get('/ready')).status).toBe(200);
    expect((await get('/customer/devices', true)).status).toBe(200);

    // Load on a database route while the connection to PostgreSQL is cut.
    const cutAt = Date.now();
    await proxy.cut();
    const seen: { status: number; text: string }[] = [];
    const outage = new Promise((resolve) => setTimeout(resolve, 3000));
    const statuses = await load(
      4,
      async () => {
        const answer = await get('/customer/devices', true);
        if (answer.status !== 200) seen.push(answer);
        return answer.status;
      },
      outage,
    );

    const readyDown = await eventually(
      async () => {
        const answer = await get('/ready');
        return answer.status === 503 ? answer : undefined;
      },
      5000,
      '/ready answering 503',
    );
    expect(Date.now() - cutAt).toBeLessThan(8000);
    expect(readyDown.headers.get('retry-after')).toBeTruthy();
    expect(JSON.parse(readyDown.text).checks.database).toBe('down');
    const started = Date.now();
    expect((await get('/ready')).status).toBe(503);
    // checkHealth gives up after a second, so /ready never hangs on a dead database.
    expect(Date.now() - started).toBeLessThan(2500);

    const health = await get('/health');
    expect(health.status).toBe(200);

    expect(statuses.get(0) ?? 0, 'requests without an answer').toBe(0);
    const refusals = seen.filter((a) => a.status !== 503);
    expect(
      refusals.map((a) => `${a.status} ${a.text.slice(0, 200)}`),
      'database routes during the outage',
    ).toEqual([]);
    for (const answer of seen) {
      expect(answer.text).not.toMatch(/ECONNRE|terminat|at .*\.js:\d+|127\.0\.0\.1:\d+/i);
    }

    await proxy.restore();
    await eventually(
      async () => ((await get('/ready')).status === 200 ? true : undefined),
      15_000,
      '/ready answering 200 again',
    );
    await eventually(
      async () => ((await get('/customer/devices', true)).status === 200 ? true : undefined),
      10_000,
      'database routes serving again',
    );
  });
});
