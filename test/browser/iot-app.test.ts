// The example app's pages in headless Chromium: the API reference and the dashboard, under their CSPs, against CSRF and injected script.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Listening, launchChromium, listen, requireService } from '@bulwark/test-utils';
import { DEMO_TENANTS, issueDashboardKey, SESSION_COOKIE } from 'iot-app';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type PageTrouble, type RunningIotApp, startIotApp, watchPages } from './support.js';

// A browser and a whole app on a shared machine: generous bounds on hangs, never on behaviour.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const ADMIN = { subject: 'admin@acme', tenantId: 'acme' };
const SCREENSHOT = fileURLToPath(new URL('../../docs/images/dashboard.png', import.meta.url));

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
  let apiKey: string;
  let tempDir: string;

  /** Opens /app in a new page of the shared context and waits until the chart is drawn. */
  const openDashboard = async (): Promise<Page> => {
    const page = await context.newPage();
    const response = await page.goto(`${app.url}/app`);
    expect(response?.status()).toBe(200);
    await page.locator('canvas#telemetry-chart[data-ready="true"]').waitFor();
    return page;
  };

  beforeAll(async () => {
    tempDir = mkdtempSync(join(tmpdir(), 'bulwark-browser-'));
    app = await startIotApp('browser');
    browser = await launchChromium(chromium, {
      // Reports wait a minute before delivery by default; here they wait 100 ms.
      args: [app.trustFlag, '--short-reporting-delay'],
    });
    // Fixed so the page, and the screenshot in the docs, look the same on every machine.
    context = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      locale: 'en-GB',
      timezoneId: 'UTC',
      colorScheme: 'light',
    });
    trouble = await watchPages(context);
    apiKey = (await issueDashboardKey(app.iot, 'acme', { name: 'Control room' })).key;
    // A day of readings, one every two hours, for the chart to draw.
    const now = Date.now();
    for (let hour = 22; hour >= 0; hour -= 2) {
      const ts = new Date(now - hour * 3_600_000).toISOString();
      for (const [device, base] of [
        ['acme-sensor-1', 64],
        ['acme-sensor-2', 4],
      ] as const) {
        const temperature = Math.round((base + 6 * Math.sin(hour / 4)) * 10) / 10;
        const answer = await app.call('POST', `/customer/devices/${device}/telemetry`, {
          ...ADMIN,
          body: { metrics: { temperature }, ts },
        });
        expect(answer.status).toBe(202);
      }
    }
  });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  });

  it('renders the API reference at /docs with no CSP violation and no console error', async () => {
    trouble.clear();
    const page = await context.newPage();
    const response = await page.goto(`${app.url}/docs`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    // Swagger UI draws the page from /openapi.json after it loads.
    const title = page.locator('.information-container .title');
    await title.waitFor();
    expect(await title.textContent()).toContain('Bulwark IoT example API');
    const operations = page.locator('.opblock-summary-path');
    await operations.first().waitFor();
    expect(await operations.allTextContents()).toContain('/customer/devices');
    await page.close();
    expect(trouble.violations).toEqual([]);
    expect(trouble.consoleErrors).toEqual([]);
    expect(trouble.pageErrors).toEqual([]);
  });

  it('signs in with an API key and shows the devices, a drawn chart and the security events, with no CSP violation and no console error', async () => {
    trouble.clear();
    const page = await context.newPage();
    const signInPage = await page.goto(`${app.url}/app`);
    expect(signInPage?.status()).toBe(200);
    expect(signInPage?.headers()['content-security-policy']).toMatch(
      /script-src [^;]*'nonce-[^']+'[^;]*'strict-dynamic'/,
    );
    await page.locator('form#sign-in input[name="apiKey"]').fill(apiKey);
    const signedIn = page.waitForResponse((r) => r.url() === `${app.url}/app/sign-in`);
    await page.locator('form#sign-in button[type="submit"]').click();
    expect((await signedIn).status()).toBe(303);
    await page.locator('[data-testid="device-list"]').waitFor();

    const cookies = await context.cookies(app.url);
    const session = cookies.find((c) => c.name === SESSION_COOKIE);
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });

    const devices = await app.call('GET', '/customer/devices', ADMIN);
    expect(devices.status).toBe(200);
    const names = (devices.body as { items: { name: string }[] }).items.map((d) => d.name);
    expect(names.length).toBeGreaterThan(0);
    const listed = page.locator('[data-testid="device-list"] li .device-name');
    expect((await listed.allTextContents()).sort()).toEqual([...names].sort());

    const canvas = page.locator('canvas#telemetry-chart[data-ready="true"]');
    await canvas.waitFor();
    const drawn = await canvas.evaluate((element) => {
      const chart = element as HTMLCanvasElement;
      const pixels = chart.getContext('2d')!.getImageData(0, 0, chart.width, chart.height).data;
      const colours = new Set<number>();
      let painted = 0;
      for (let i = 0; i < pixels.length; i += 4) {
        if (pixels[i + 3]! === 0) continue;
        painted++;
        colours.add((pixels[i]! << 16) | (pixels[i + 1]! << 8) | pixels[i + 2]!);
      }
      return { painted, colours: colours.size, width: chart.width, height: chart.height };
    });
    expect(drawn.width).toBeGreaterThan(200);
    // Axes, labels and two coloured lines: a blank or single-colour canvas is not a chart.
    expect(drawn.painted).toBeGreaterThan(1000);
    expect(drawn.colours).toBeGreaterThan(10);

    expect(await page.locator('[data-testid="security-events"]').count()).toBe(1);
    expect(await page.title()).toContain(DEMO_TENANTS[0].name);
    await page.close();

    expect(trouble.violations).toEqual([]);
    expect(trouble.consoleErrors).toEqual([]);
    expect(trouble.pageErrors).toEqual([]);
  });

  describe('against a page on another site', () => {
    let attacker: Listening;

    beforeAll(async () => {
      // http://127.0.0.1 is another site than https://localhost, where the dashboard is open.
      attacker = await listen((req, res) => {
        const target = new URL(req.url ?? '/', 'http://x').searchParams.get('target') ?? '';
        res.setHeader('Content-Type', 'text/html; charset=utf-8');
        res.end(`<!doctype html><title>You won a prize</title><link rel="icon" href="data:,">
<form id="f" method="post" action="${app.url}${target}"><input name="apiKey" value="bwk_attacker"></form>
<script>document.getElementById('f').submit()</script>`);
      });
    });

    afterAll(async () => {
      await attacker?.close();
    });

    for (const target of ['/app/sign-out', '/app/sign-in']) {
      it(`refuses a cross-site form post to ${target} with 403, and the user stays signed in`, async () => {
        const page = await context.newPage();
        const refused = page.waitForResponse((r) => r.url() === `${app.url}${target}`);
        await page.goto(`${attacker.url}/?target=${encodeURIComponent(target)}`);
        const answer = await refused;
        expect(answer.status()).toBe(403);
        expect(answer.request().headers().origin).toBe(attacker.url);
        await page.close();

        const dashboard = await openDashboard();
        expect(await dashboard.locator('[data-testid="device-list"] li').count()).toBeGreaterThan(
          0,
        );
        expect(await dashboard.locator('[data-testid="security-events"]').textContent()).toContain(
          `Cross-site POST ${target} refused`,
        );
        await dashboard.close();
      });
    }
  });

  it('blocks an inline script injected into /app and reports it to the collector', async () => {
    trouble.clear();
    const reports: Record<string, unknown>[] = [];
    const onReport = (message: unknown) => reports.push(message as Record<string, unknown>);
    subscribe('bulwark:perimeter:report', onReport);
    try {
      const page = await context.newPage();
      // The real answer, headers and all, with one script tag that carries no nonce.
      let injected = false;
      await page.route(`${app.url}/app`, async (route) => {
        // As the browser asked, minus compression, so the body can be edited as text.
        const { 'accept-encoding': _, ...asked } = await route.request().allHeaders();
        const real = await app.fetch('GET', '/app', asked);
        injected = real.text.includes('</head>');
        const headers: Record<string, string> = {};
        for (const { name, value } of real.headers) {
          const key = name.toLowerCase();
          if (/^(content-length|transfer-encoding|connection|keep-alive)$/.test(key)) continue;
          headers[key] =
            key in headers ? `${headers[key]}${key === 'set-cookie' ? '\n' : ', '}${value}` : value;
        }
        await route.fulfill({
          status: real.status,
          headers,
          body: real.text.replace('</head>', '<script>window.injected = true</script></head>'),
        });
      });
      const response = await page.goto(`${app.url}/app`);
      expect(response?.headers()['content-security-policy']).toContain("'strict-dynamic'");
      await page.locator('canvas#telemetry-chart[data-ready="true"]').waitFor();
      expect(injected).toBe(true);
      expect(await page.evaluate(() => (window as { injected?: boolean }).injected)).toBe(
        undefined,
      );
      expect(trouble.violations).toEqual([
        expect.objectContaining({
          documentURI: `${app.url}/app`,
          effectiveDirective: 'script-src-elem',
          blockedURI: 'inline',
          disposition: 'enforce',
        }),
      ]);
      const report = await vi.waitFor(
        () => {
          const found = reports.find((r) => r.type === 'csp-violation');
          if (!found) throw new Error('no CSP report reached the collector yet');
          return found;
        },
        { timeout: 20_000, interval: 100 },
      );
      expect(report).toMatchObject({
        url: `${app.url}/app`,
        body: { effectiveDirective: 'script-src-elem', blockedURL: 'inline' },
      });
      await page.close();
      // The dashboard lists the report among its security events.
      const dashboard = await openDashboard();
      expect(await dashboard.locator('[data-testid="security-events"]').textContent()).toContain(
        'CSP blocked inline (script-src-elem) on /app',
      );
      await dashboard.close();
    } finally {
      unsubscribe('bulwark:perimeter:report', onReport);
    }
  });

  it('takes a screenshot of the signed-in dashboard for the docs', async () => {
    const page = await openDashboard();
    const file =
      process.env.UPDATE_SCREENSHOTS === '1' ? SCREENSHOT : join(tempDir, 'dashboard.png');
    mkdirSync(dirname(file), { recursive: true });
    await page.screenshot({ path: file });
    await page.close();
    const png = readFileSync(file);
    expect(png.subarray(0, 8)).toEqual(
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    );
    // IHDR: width and height of the image, big-endian, right after the chunk header.
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1280, 800]);
    expect(png.length).toBeGreaterThan(20_000);
  });

  it('refuses HTML assigned to innerHTML on the dashboard under Trusted Types, and reports it', async () => {
    const page = await openDashboard();
    trouble.clear();
    const reports: Record<string, unknown>[] = [];
    const onReport = (message: unknown) => reports.push(message as Record<string, unknown>);
    subscribe('bulwark:perimeter:report', onReport);
    try {
      const outcome = await page.evaluate(() => {
        try {
          document.body.innerHTML = '<img src="x" onerror="window.injected = true">';
          return 'assigned';
        } catch (err) {
          return String(err);
        }
      });
      expect(outcome).toMatch(/TypeError.*TrustedHTML/);
      expect(await page.locator('[data-testid="device-list"]').count()).toBe(1);
      expect(trouble.violations).toEqual([
        expect.objectContaining({
          effectiveDirective: 'require-trusted-types-for',
          disposition: 'enforce',
        }),
      ]);
      await vi.waitFor(
        () => {
          const found = reports.find(
            (r) =>
              (r.body as { effectiveDirective?: string } | undefined)?.effectiveDirective ===
              'require-trusted-types-for',
          );
          if (!found) throw new Error('no Trusted Types report reached the collector yet');
        },
        { timeout: 20_000, interval: 100 },
      );
    } finally {
      unsubscribe('bulwark:perimeter:report', onReport);
      await page.close();
    }
  });

  it('signs out with the sign-out button: the cookie is gone and /app shows the sign-in form', async () => {
    const page = await openDashboard();
    const signedOut = page.waitForResponse((r) => r.url() === `${app.url}/app/sign-out`);
    await page.locator('#sign-out').click();
    expect((await signedOut).status()).toBe(303);
    await page.locator('form#sign-in').waitFor();
    expect((await context.cookies(app.url)).map((c) => c.name)).not.toContain(SESSION_COOKIE);
    await page.reload();
    expect(await page.locator('[data-testid="device-list"]').count()).toBe(0);
    await page.close();
  });
});
