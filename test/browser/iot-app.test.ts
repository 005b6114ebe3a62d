// The example app's pages in headless Chromium: the API reference now, under its own CSP.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium, requireService } from '@bulwark/test-utils';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type PageTrouble, type RunningIotApp, startIotApp, watchPages } from './support.js';

// A browser and a whole app on a shared machine: generous bounds on hangs, never on behaviour.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const ready = await requireService('chromium', 'postgres', 'redis');

describe('launchChromium', () => {
  it('names the binary and the fix when Chromium is not there', async () => {
    const missing = join(tmpdir(), 'no-such-dir', 'chromium');
    const launch = launchChromium(chromium, { executablePath: missing });
    await expect(launch).rejects.toThrow(`Chromium (${missing}) did not start`);
    await expect(launch).rejects.toThrow('bash scripts/services.sh');
  });
});

describe.runIf(ready)('iot-app in Chromium', () => {
  let app: RunningIotApp;
  let browser: Browser;
  let context: BrowserContext;
  let trouble: PageTrouble;

  beforeAll(async () => {
    [app, browser] = await Promise.all([startIotApp('browser'), launchChromium(chromium)]);
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    trouble = await watchPages(context);
  });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it('renders the API reference at /docs with no CSP violation and no console error', async () => {
    trouble.clear();
    const page = await context.newPage();
    const response = await page.goto(`${app.url}/docs`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    await expect
      .poll(() => page.locator('.information-container .title').textContent())
      .toContain('Bulwark IoT example API');
    const operations = page.locator('.opblock-summary-path');
    await expect.poll(() => operations.count()).toBeGreaterThan(5);
    expect(await operations.allTextContents()).toContain('/customer/devices');
    await page.close();
    expect(trouble.violations).toEqual([]);
    expect(trouble.consoleErrors).toEqual([]);
    expect(trouble.pageErrors).toEqual([]);
  });
});
