// The example app with OVERLOAD_GUARD on: a lagging event loop gets 503 overloaded, probes still answer.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type IotApp, loadConfig } from 'iot-app';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { call, eventually, startEmbeddedApp, stopEmbeddedApp } from './support.js';

vi.setConfig({ testTimeout: 30_000, hookTimeout: 120_000 });

/** Holds the event loop, as a CPU-bound handler or a synchronous parse would. */
function hog(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

describe('iot-app overload guard', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'iot-overload-'));
  let iot: IotApp;
  let url: string;

  beforeAll(async () => {
    ({ iot, url } = await startEmbeddedApp(dataDir, { OVERLOAD_GUARD: 'true' }));
  }, 120_000);

  afterAll(() => stopEmbeddedApp(iot, dataDir), 120_000);

  it('is on in production and off elsewhere unless OVERLOAD_GUARD says otherwise', () => {
    expect(loadConfig({ DATA_DIR: dataDir }).overloadGuard).toBe(false);
    expect(loadConfig({ DATA_DIR: dataDir, OVERLOAD_GUARD: '1' }).overloadGuard).toBe(true);
    expect(() => loadConfig({ DATA_DIR: dataDir, OVERLOAD_GUARD: 'yes' })).toThrow(
      /OVERLOAD_GUARD: "yes" is not true, false, 1 or 0/,
    );
  });

  it('answers 503 overloaded with Retry-After while the event loop lags, lets probes through, and recovers', async () => {
    expect((await call(url, 'GET', '/customer/devices')).status).toBe(401);
    hog(1_500);
    const shed = await call(url, 'GET', '/customer/devices');
    expect(shed.status).toBe(503);
    expect(shed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(shed.body.code).toBe('overloaded');
    expect(Number(shed.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(shed.headers.get('x-content-type-options')).toBe('nosniff');
    const health = await call(url, 'GET', '/health');
    expect(health.status).toBe(200);
    const recovered = await eventually(async () => {
      const answer = await call(url, 'GET', '/customer/devices');
      return answer.status === 503 ? undefined : answer;
    });
    expect(recovered.status).toBe(401);
  });
});
