// The dashboard at /app over HTTP: nonce CSP on every tag, cookie sign-in, CSRF, session-only JSON, assets and tenant isolation.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { csrfProtection } from '@bulwark/perimeter';
import {
  createTestDatabase,
  redisPrefix,
  requireService,
  type TestDatabase,
} from '@bulwark/test-utils';
import express from 'express';
import {
  createApp,
  DASHBOARD_SCOPES,
  type IotApp,
  issueDashboardKey,
  loadConfig,
  SESSION_COOKIE,
  SESSION_TTL_SEC,
} from 'iot-app';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { assertNoInternals, call, tokenFor } from './support.js';

// Whole-app tests start databases and brokers; the shared machine is slow at times.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 120_000 });

const ready = await requireService('postgres', 'redis');

/** A page or redirect as the browser would get it, without following redirects. */
interface Page {
  status: number;
  headers: Headers;
  html: string;
}

async function request(
  base: string,
  method: string,
  path: string,
  {
    cookie,
    form,
    headers = {},
  }: { cookie?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
): Promise<Page> {
  const response = await fetch(`${base}${path}`, {
    method,
    redirect: 'manual',
    headers: {
      ...(cookie ? { cookie } : {}),
      ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      ...headers,
    },
    ...(form ? { body: new URLSearchParams(form).toString() } : {}),
  });
  return { status: response.status, headers: response.headers, html: await response.text() };
}

/** The tags of a page, each with its name and attributes (names lower-cased, values unescaped). */
function tags(html: string): { name: string; attrs: Map<string, string> }[] {
  const out: { name: string; attrs: Map<string, string> }[] = [];
  for (const tag of html.matchAll(
    /<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s=>]+(?:="[^"]*")?)*)\s*\/?>/g,
  )) {
    const attrs = new Map<string, string>();
    for (const attr of (tag[2] ?? '').matchAll(/([^\s=>]+)(?:="([^"]*)")?/g)) {
      attrs.set(
        attr[1]!.toLowerCase(),
        (attr[2] ?? '').replaceAll('&quot;', '"').replaceAll('&amp;', '&'),
      );
    }
    out.push({ name: tag[1]!.toLowerCase(), attrs });
  }
  return out;
}

/** The nonce of the enforced page policy: `script-src 'nonce-…' 'strict-dynamic'`. */
function policyNonce(headers: Headers): string {
  const policy = headers.get('content-security-policy') ?? '';
  const script = /(?:^|;)\s*script-src ([^;]*)/.exec(policy)?.[1] ?? '';
  expect(script).toContain("'strict-dynamic'");
  const nonce = /'nonce-([A-Za-z0-9+/=_-]+)'/.exec(script)?.[1];
  expect(nonce, policy).toBeDefined();
  return nonce!;
}

/** Every script, style and stylesheet link carries `nonce`; nothing inline runs or styles without it. */
function expectEveryTagNonced(html: string, nonce: string): void {
  const all = tags(html);
  const guarded = all.filter(
    (t) =>
      t.name === 'script' ||
      t.name === 'style' ||
      (t.name === 'link' && (t.attrs.get('rel') ?? '').split(/\s+/).includes('stylesheet')),
  );
  expect(guarded.length).toBeGreaterThan(0);
  for (const tag of guarded) expect(tag.attrs.get('nonce'), tag.name).toBe(nonce);
  for (const tag of all) {
    for (const name of tag.attrs.keys()) {
      expect(name, `<${tag.name}> has ${name}`).not.toBe('style');
      expect(name, `<${tag.name}> has ${name}`).not.toMatch(/^on/);
    }
    const href = tag.attrs.get('href') ?? tag.attrs.get('src') ?? tag.attrs.get('action') ?? '';
    expect(href, `<${tag.name}>`).not.toMatch(/^\s*javascript:/i);
  }
  // Scripts come from the app's own files, never inline.
  expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
}

function sessionCookieOf(page: Page): string {
  const line = page.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  expect(line).toBeDefined();
  return line!.split(';')[0]!;
}

describe.runIf(ready)('the dashboard at /app', () => {
  let db: TestDatabase;
  let dataDir: string;
  let iot: IotApp;
  let url: string;
  let acmeKey: string;
  let globexKey: string;

  beforeAll(async () => {
    db = await createTestDatabase('iot_dashboard');
    dataDir = mkdtempSync(join(tmpdir(), 'iot-dashboard-'));
    iot = await createApp(
      loadConfig({
        DATABASE_URL: db.url,
        REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
        REDIS_PREFIX: redisPrefix('iot-dashboard'),
        DATA_DIR: dataDir,
        PORT: '0',
        MQTT_PORT: '0',
        LOG_LEVEL: 'silent',
        ABUSE_FAILURES: '100000',
        RATE_LIMIT_GLOBAL: '100000',
      }),
    );
    ({ url } = await iot.start());
    acmeKey = (await issueDashboardKey(iot, 'acme')).key;
    globexKey = (await issueDashboardKey(iot, 'globex')).key;
  }, 120_000);

  afterAll(async () => {
    await iot?.stop();
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }, 120_000);

  async function signIn(apiKey: string): Promise<string> {
    const answer = await request(url, 'POST', '/app/sign-in', { form: { apiKey } });
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toBe('/app');
    return sessionCookieOf(answer);
  }

  it('shows the sign-in form with a nonce on every script and style tag, equal to the policy nonce, fresh on each response', async () => {
    const first = await request(url, 'GET', '/app');
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/html/);
    expect(first.headers.get('cache-control')).toBe('no-store');
    const nonce = policyNonce(first.headers);
    expectEveryTagNonced(first.html, nonce);
    const form = tags(first.html).find((t) => t.name === 'form');
    expect(form?.attrs.get('id')).toBe('sign-in');
    expect(form?.attrs.get('method')).toBe('post');
    expect(form?.attrs.get('action')).toBe('/app/sign-in');
    expect(
      tags(first.html).some((t) => t.name === 'input' && t.attrs.get('name') === 'apiKey'),
    ).toBe(true);

    const second = await request(url, 'GET', '/app');
    const again = policyNonce(second.headers);
    expect(again).not.toBe(nonce);
    expectEveryTagNonced(second.html, again);
  });

  it('reports violations of the page policy to the app’s report collector', async () => {
    const page = await request(url, 'GET', '/app');
    const policy = page.headers.get('content-security-policy') ?? '';
    expect(policy).toMatch(/report-uri \/reports/);
    expect(policy).toMatch(/require-trusted-types-for 'script'/);
    expect(policy).toMatch(/trusted-types 'none'/);
    expect(page.headers.get('reporting-endpoints')).toMatch(/\/reports"/);
  });

  it('signs in with an API key: a __Host- session cookie, HttpOnly, Secure, SameSite=Strict, Path=/, for 15 minutes, then a 303 to /app', async () => {
    const answer = await request(url, 'POST', '/app/sign-in', { form: { apiKey: acmeKey } });
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toBe('/app');
    const line = answer.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
    expect(SESSION_COOKIE.startsWith('__Host-')).toBe(true);
    const attributes = line
      .split(';')
      .slice(1)
      .map((a) => a.trim().toLowerCase());
    expect(attributes).toEqual(
      expect.arrayContaining([
        'path=/',
        'httponly',
        'secure',
        'samesite=strict',
        `max-age=${SESSION_TTL_SEC}`,
      ]),
    );
    expect(attributes.some((a) => a.startsWith('domain='))).toBe(false);
    expect(SESSION_TTL_SEC).toBe(900);
    expect(line).not.toContain(acmeKey);
  });

  it('shows the signed-in page: the tenant’s devices as text, the chart canvas, the security events and a sign-out button, every tag under the nonce', async () => {
    const cookie = await signIn(acmeKey);
    const page = await request(url, 'GET', '/app', { cookie });
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-store');
    const nonce = policyNonce(page.headers);
    expectEveryTagNonced(page.html, nonce);
    const list =
      /<ul[^>]*data-testid="device-list"[^>]*>([\s\S]*?)<\/ul>/.exec(page.html)?.[1] ?? '';
    expect(list.match(/<li>/g)).toHaveLength(2);
    expect(list).toContain('Boiler room');
    expect(list).toContain('Cold store');
    const all = tags(page.html);
    expect(all.some((t) => t.name === 'canvas' && t.attrs.get('id') === 'telemetry-chart')).toBe(
      true,
    );
    expect(
      all.some((t) => t.name === 'ol' && t.attrs.get('data-testid') === 'security-events'),
    ).toBe(true);
    expect(all.some((t) => t.name === 'button' && t.attrs.get('id') === 'sign-out')).toBe(true);
    expect(page.html).toContain('Acme Corp');
  });

  it('renders a device name as text, never as markup', async () => {
    const admin = tokenFor(iot, 'admin@acme', 'acme');
    const created = await call(url, 'POST', '/customer/devices', {
      token: admin,
      body: { id: 'acme-markup-1', name: '<img src=x onerror=alert(1)>' },
    });
    expect(created.status).toBe(201);
    try {
      const page = await request(url, 'GET', '/app', { cookie: await signIn(acmeKey) });
      expect(page.html).toContain('&lt;img src=x onerror=alert(1)&gt;');
      expect(page.html).not.toContain('<img');
      const devices = await call(url, 'GET', '/app/api/devices', {
        headers: { cookie: await signIn(acmeKey) },
      });
      expect(devices.body.items.map((d: { name: string }) => d.name)).toContain(
        '<img src=x onerror=alert(1)>',
      );
    } finally {
      await call(url, 'DELETE', '/customer/devices/acme-markup-1', { token: admin });
    }
  });

  it('answers a wrong key with 401 and the form again, naming no reason and echoing no key', async () => {
    const wrong = `bwk_${'A'.repeat(12)}_${'b'.repeat(32)}`;
    const answer = await request(url, 'POST', '/app/sign-in', { form: { apiKey: wrong } });
    expect(answer.status).toBe(401);
    expect(answer.headers.get('content-type')).toMatch(/^text\/html/);
    expect(answer.headers.getSetCookie()).toEqual([]);
    expect(answer.html).toContain('id="sign-in"');
    expect(answer.html).toContain('That API key was not accepted.');
    expect(answer.html).not.toContain(wrong);
    expectEveryTagNonced(answer.html, policyNonce(answer.headers));
    assertNoInternals(answer.html);

    const empty = await request(url, 'POST', '/app/sign-in', { form: { apiKey: '' } });
    expect(empty.status).toBe(400);
    expect(empty.html).toContain('id="sign-in"');
  });

  it('refuses a cross-site sign-in or sign-out with 403 before reading the form', async () => {
    const cookie = await signIn(acmeKey);
    for (const path of ['/app/sign-in', '/app/sign-out']) {
      const answer = await request(url, 'POST', path, {
        cookie,
        form: { apiKey: acmeKey },
        headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
      });
      expect(answer.status, path).toBe(403);
      expect(answer.headers.getSetCookie(), path).toEqual([]);
      expect(answer.html, path).toContain('Cross-site request refused');
    }
    // Still signed in: the refused sign-out changed nothing.
    expect((await call(url, 'GET', '/app/api/devices', { headers: { cookie } })).status).toBe(200);
  });

  it('serves its pages under Referrer-Policy: same-origin, and still accepts a form post with Origin: null and Sec-Fetch-Site: same-origin', async () => {
    const page = await request(url, 'GET', '/app');
    expect(page.headers.get('referrer-policy')).toBe('same-origin');
    const answer = await request(url, 'POST', '/app/sign-in', {
      form: { apiKey: acmeKey },
      headers: { origin: 'null', 'sec-fetch-site': 'same-origin' },
    });
    expect(answer.status).toBe(303);
    const framed = await request(url, 'POST', '/app/sign-in', {
      form: { apiKey: acmeKey },
      headers: { origin: 'null', 'sec-fetch-site': 'cross-site' },
    });
    expect(framed.status).toBe(403);
  });

  it('signs out by clearing the cookie with the same attributes', async () => {
    const cookie = await signIn(acmeKey);
    const answer = await request(url, 'POST', '/app/sign-out', {
      cookie,
      headers: { origin: url },
    });
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toBe('/app');
    const line = answer.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));
    expect(line).toMatch(
      /^__Host-iot-session=; Path=\/; HttpOnly; Secure; SameSite=Strict; Max-Age=0$/,
    );
  });

  it('refuses /app/api/* without a session cookie, with an API token or key, and with a session of a revoked key', async () => {
    for (const path of ['/app/api/devices', '/app/api/telemetry', '/app/api/security-events']) {
      const none = await call(url, 'GET', path);
      expect(none.status, path).toBe(401);
      expect(none.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const apiToken = await call(url, 'GET', path, { token: tokenFor(iot, 'admin@acme', 'acme') });
      expect(apiToken.status, path).toBe(401);
      const forged = await call(url, 'GET', path, {
        headers: { cookie: `${SESSION_COOKIE}=${tokenFor(iot, 'admin@acme', 'acme')}` },
      });
      expect(forged.status, path).toBe(401);
    }
    const issued = await issueDashboardKey(iot, 'acme', { name: 'revoked soon' });
    const cookie = await signIn(issued.key);
    expect((await call(url, 'GET', '/app/api/devices', { headers: { cookie } })).status).toBe(200);
    await iot.apiKeys.revoke(issued.id, { tenantId: 'acme' });
    const after = await call(url, 'GET', '/app/api/devices', { headers: { cookie } });
    expect(after.status).toBe(401);
    const page = await request(url, 'GET', '/app', { cookie });
    expect(page.html).toContain('id="sign-in"');
    expect(page.html).toContain('Your session has ended.');
  });

  it('does not let a session reach the JSON API: /customer stays header-only', async () => {
    const cookie = await signIn(acmeKey);
    expect((await call(url, 'GET', '/customer/devices', { headers: { cookie } })).status).toBe(401);
  });

  it('gives a session only its key’s scopes: a key without audit:read gets 403 on the events and a note on the page', async () => {
    const { key } = await issueDashboardKey(iot, 'acme', {
      name: 'devices only',
      scopes: ['devices:read'],
    });
    const cookie = await signIn(key);
    const events = await call(url, 'GET', '/app/api/security-events', { headers: { cookie } });
    expect(events.status).toBe(403);
    const telemetry = await call(url, 'GET', '/app/api/telemetry', { headers: { cookie } });
    expect(telemetry.status).toBe(403);
    const page = await request(url, 'GET', '/app', { cookie });
    expect(page.html).toContain('data-testid="device-list"');
    expect(page.html).not.toContain('data-testid="security-events"');
    expect(page.html).not.toContain('id="telemetry-chart"');
    expect(page.html).toContain('audit:read');
  });

  it('serves the page’s script and style from its own files with their types, nosniff and a year’s cache', async () => {
    const page = await request(url, 'GET', '/app');
    const style = tags(page.html)
      .find((t) => t.name === 'link' && t.attrs.get('rel') === 'stylesheet')
      ?.attrs.get('href');
    const cookie = await signIn(acmeKey);
    const signedIn = await request(url, 'GET', '/app', { cookie });
    const script = tags(signedIn.html)
      .find((t) => t.name === 'script')
      ?.attrs.get('src');
    expect(style).toMatch(/^\/app\/assets\/dashboard\.[\w-]{12}\.css$/);
    expect(script).toMatch(/^\/app\/assets\/dashboard\.[\w-]{12}\.js$/);
    for (const [path, type] of [
      [script!, /^text\/javascript; charset=utf-8$/],
      [style!, /^text\/css; charset=utf-8$/],
    ] as const) {
      const answer = await request(url, 'GET', path);
      expect(answer.status, path).toBe(200);
      expect(answer.headers.get('content-type'), path).toMatch(type);
      expect(answer.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(answer.headers.get('cache-control'), path).toBe('public, max-age=31536000, immutable');
      expect(answer.html.length, path).toBeGreaterThan(100);
      const etag = answer.headers.get('etag')!;
      const again = await request(url, 'GET', path, { headers: { 'if-none-match': etag } });
      expect(again.status, path).toBe(304);
    }
    // The chart library is in the bundle, with its licence notice; nothing is fetched from elsewhere.
    const bundle = (await request(url, 'GET', script!)).html;
    expect(bundle).toMatch(/Chart\.js v4/);
    expect(bundle).not.toMatch(/https?:\/\/(?!www\.chartjs\.org|github\.com)[a-z0-9.-]+\//i);
    expect(bundle).not.toContain('innerHTML');
    expect((await request(url, 'GET', '/app/assets/dashboard.js')).status).toBe(404);
    expect((await request(url, 'GET', '/app/assets/../package.json')).status).toBe(404);
  });

  it('shows a tenant only its own devices and telemetry', async () => {
    const operator = tokenFor(iot, 'operator@acme', 'acme');
    const sent = await call(url, 'POST', '/customer/devices/acme-sensor-1/telemetry', {
      token: operator,
      body: { metrics: { temperature: 21.5, humidity: 40 } },
    });
    expect(sent.status).toBe(202);
    const acme = await signIn(acmeKey);
    const globex = await signIn(globexKey);

    const acmeDevices = await call(url, 'GET', '/app/api/devices', { headers: { cookie: acme } });
    expect(acmeDevices.body.items.map((d: { id: string }) => d.id).sort()).toEqual([
      'acme-sensor-1',
      'acme-sensor-2',
    ]);
    const globexDevices = await call(url, 'GET', '/app/api/devices', {
      headers: { cookie: globex },
    });
    expect(globexDevices.body.items).toEqual([{ id: 'globex-sensor-1', name: 'Lobby' }]);

    const globexPage = await request(url, 'GET', '/app', { cookie: globex });
    expect(globexPage.html).toContain('Lobby');
    expect(globexPage.html).not.toContain('acme-sensor');
    expect(globexPage.html).not.toContain('Boiler room');

    const acmeTelemetry = await call(url, 'GET', '/app/api/telemetry', {
      headers: { cookie: acme },
    });
    expect(acmeTelemetry.status).toBe(200);
    const temperature = acmeTelemetry.body.series.find(
      (s: { deviceId: string; metric: string }) =>
        s.deviceId === 'acme-sensor-1' && s.metric === 'temperature',
    );
    expect(temperature.deviceName).toBe('Boiler room');
    expect(temperature.points.at(-1).v).toBe(21.5);
    const globexTelemetry = await call(url, 'GET', '/app/api/telemetry', {
      headers: { cookie: globex },
    });
    expect(globexTelemetry.body.series.map((s: { deviceId: string }) => s.deviceId)).not.toContain(
      'acme-sensor-1',
    );
  });

  it('lists a denial to its own tenant only, and shared events to every tenant without the address', async () => {
    const viewer = tokenFor(iot, 'viewer@acme', 'acme');
    for (let i = 0; i < 2; i++) {
      const denied = await call(url, 'POST', '/customer/devices', {
        token: viewer,
        body: { id: 'acme-denied-1', name: 'Denied' },
      });
      expect(denied.status).toBe(403);
    }
    await request(url, 'POST', '/app/sign-out', {
      headers: { origin: 'https://evil.example' },
    });

    const acme = await call(url, 'GET', '/app/api/security-events', {
      headers: { cookie: await signIn(acmeKey) },
    });
    expect(acme.status).toBe(200);
    const own = acme.body.items.find(
      (e: { kind: string; summary: string }) =>
        e.kind === 'denied' && e.summary.includes('/customer/devices'),
    );
    // The same denial twice in a row is one line that counts them.
    expect(own).toMatchObject({ own: true, count: 2 });
    expect(own.summary).toContain('viewer@acme');
    expect(own.summary).toContain('devices:write');
    const csrf = acme.body.items.find((e: { kind: string }) => e.kind === 'csrf-rejected');
    expect(csrf).toMatchObject({ own: false });

    const globex = await call(url, 'GET', '/app/api/security-events', {
      headers: { cookie: await signIn(globexKey) },
    });
    const text = JSON.stringify(globex.body.items);
    expect(text).not.toContain('viewer@acme');
    expect(globex.body.items.some((e: { kind: string }) => e.kind === 'denied')).toBe(false);
    expect(globex.body.items.some((e: { kind: string }) => e.kind === 'csrf-rejected')).toBe(true);
    for (const item of [...acme.body.items, ...globex.body.items]) {
      expect(item.summary).not.toMatch(/127\.0\.0\.1|::1|ip:/);
    }

    const page = await request(url, 'GET', '/app', { cookie: await signIn(globexKey) });
    const list = /<ol[^>]*data-testid="security-events"[^>]*>([\s\S]*?)<\/ol>/.exec(page.html)?.[1];
    expect(list).toContain('csrf-rejected');
    expect(list).not.toContain('viewer@acme');
  });

  it('lists a CSP report sent to the collector as a shared event with the blocked origin only', async () => {
    const report = await call(url, 'POST', '/reports', {
      headers: { 'content-type': 'application/csp-report' },
      raw: JSON.stringify({
        'csp-report': {
          'document-uri': `${url}/app?secret=1`,
          'blocked-uri': 'https://evil.example/steal.js?token=abc',
          'effective-directive': 'script-src-elem',
          'script-sample': 'private text',
        },
      }),
    });
    expect(report.status).toBe(204);
    const events = await call(url, 'GET', '/app/api/security-events', {
      headers: { cookie: await signIn(globexKey) },
    });
    const csp = events.body.items.find((e: { kind: string }) => e.kind === 'csp-report');
    expect(csp.summary).toBe('CSP blocked a resource (script-src-elem) on /app');
    expect(csp.own).toBe(false);
  });

  it('shows a forged CSP report to every tenant as fixed text only, without its directive, page, blocked URL or sample', async () => {
    const report = await call(url, 'POST', '/reports', {
      headers: { 'content-type': 'application/csp-report' },
      raw: JSON.stringify({
        'csp-report': {
          'document-uri': `${url}/URGENT-rotate-your-keys-at-evil.example`,
          'blocked-uri': 'https://evil.example/app',
          'effective-directive': 'Your API key leaked. Sign in again at evil.example/app',
          'script-sample': 'Call +1 555 0100 to restore access',
        },
      }),
    });
    expect(report.status).toBe(204);
    for (const key of [acmeKey, globexKey]) {
      const cookie = await signIn(key);
      const events = await call(url, 'GET', '/app/api/security-events', { headers: { cookie } });
      expect(events.status).toBe(200);
      expect(events.body.items[0]).toMatchObject({
        kind: 'csp-report',
        own: false,
        summary: 'CSP blocked a resource (a directive) on a page',
      });
      const page = await request(url, 'GET', '/app', { cookie });
      for (const shown of [JSON.stringify(events.body.items), page.html]) {
        for (const forged of ['leaked', 'evil.example', 'URGENT', 'restore access']) {
          expect(shown).not.toContain(forged);
        }
      }
    }
  });

  it('lists a cross-site request refused before sign-in by method and route pattern, never its path, to every tenant', async () => {
    const deviceId = '11111111-2222-3333-4444-555555555555';
    // CSRF checked in front of the whole app: the refusal names no tenant and no route.
    const front = express();
    front.use(iot.securityEvents.context, csrfProtection(), (req, res, next) =>
      iot.app(req, res, next),
    );
    const server = front.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const refused = await call(
        `http://127.0.0.1:${port}`,
        'POST',
        `/customer/devices/${deviceId}`,
        {
          headers: { origin: 'https://evil.example' },
          body: { name: 'Moved' },
        },
      );
      expect(refused.status).toBe(403);
    } finally {
      server.close();
    }
    const signOut = await request(url, 'POST', '/APP/Sign-Out/', {
      headers: { origin: 'https://evil.example' },
    });
    expect(signOut.status).toBe(403);

    for (const key of [acmeKey, globexKey]) {
      const events = await call(url, 'GET', '/app/api/security-events', {
        headers: { cookie: await signIn(key) },
      });
      const refusals = events.body.items
        .filter((e: { kind: string }) => e.kind === 'csrf-rejected')
        .slice(0, 2)
        .map((e: { summary: string; own: boolean }) => [e.summary, e.own]);
      expect(refusals).toEqual([
        ['Cross-site POST /app/sign-out refused', false],
        ['Cross-site POST refused', false],
      ]);
      const text = JSON.stringify(events.body.items);
      expect(text).not.toContain(deviceId);
      expect(text).not.toContain('/customer/devices/');
      expect(text).not.toContain('/APP/Sign-Out');
    }
  });

  it('answers a page path that secureHeaders did not give a nonce with a 404 problem, never a 500', async () => {
    for (const path of ['/APP', '/App/']) {
      const page = await request(url, 'GET', path);
      expect(page.status, path).not.toBe(500);
      if (page.status === 200) {
        // Served as the page it is: then with its own nonce and no-store, like /app.
        expect(page.headers.get('cache-control')).toBe('no-store');
        expectEveryTagNonced(page.html, policyNonce(page.headers));
      } else {
        expect(page.status, path).toBe(404);
        expect(page.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(JSON.parse(page.html)).toMatchObject({ status: 404 });
      }
    }
  });

  it('documents the dashboard’s JSON endpoints in /openapi.json, and not its form posts or files', async () => {
    const { paths } = (await call(url, 'GET', '/openapi.json')).body as {
      paths: Record<
        string,
        Record<string, { tags?: string[]; 'x-bulwark-permissions'?: string[] }>
      >;
    };
    for (const route of iot.routes.dashboard) {
      const operation = paths[`/app/api${route.path}`]?.get;
      expect(operation, route.path).toBeDefined();
      expect(operation?.tags).toEqual(['dashboard']);
      expect(operation?.['x-bulwark-permissions']).toEqual([route.permission]);
    }
    expect(DASHBOARD_SCOPES).toEqual(['devices:read', 'telemetry:read', 'audit:read']);
    expect(Object.keys(paths).filter((p) => /^\/app\/(?:sign-|assets)/.test(p))).toEqual([]);
  });
  it('shows the sign-in form again, and clears the cookie, for a session cookie that is not a valid session', async () => {
    const page = await request(url, 'GET', '/app', { cookie: `${SESSION_COOKIE}=not.a.token` });
    expect(page.status).toBe(200);
    expect(page.html).toContain('id="sign-in"');
    expect(page.html).toContain('Your session has ended.');
    expect(page.headers.getSetCookie()).toEqual([
      `${SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0`,
    ]);
  });

  it('keeps at most 50 events per tenant and 100 shared ones, forgetting the oldest', async () => {
    const viewer = tokenFor(iot, 'viewer@acme', 'acme');
    for (let i = 0; i < 60; i++) {
      expect((await call(url, 'GET', '/customer/audit-log', { token: viewer })).status).toBe(403);
    }
    for (let i = 0; i < 110; i++) {
      const refused = await request(url, 'POST', '/app/sign-out', {
        headers: { origin: 'https://evil.example' },
      });
      expect(refused.status).toBe(403);
    }
    const events = iot.securityEvents.latest('acme', 1000);
    const shared = events.filter((e) => !e.own);
    expect(shared).toHaveLength(1);
    expect(shared[0]).toMatchObject({ kind: 'csrf-rejected', count: 100 });
    const denials = events.filter(
      (e) => e.own && e.kind === 'denied' && e.summary.startsWith('GET /customer/audit-log'),
    );
    expect(denials).toHaveLength(1);
    expect(denials[0]?.count).toBe(50);
    expect(events.filter((e) => e.own).reduce((n, e) => n + e.count, 0)).toBe(50);
  });

  // Last: it spends this address's sign-in failures, after which every attempt from it waits.
  it('limits failed sign-ins per address to 5 in 15 minutes, answering 429 with Retry-After on the form', async () => {
    const wrong = `bwk_${'C'.repeat(12)}_${'d'.repeat(32)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push(
        (await request(url, 'POST', '/app/sign-in', { form: { apiKey: wrong } })).status,
      );
    }
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.at(-1)).toBe(429);
    const limited = await request(url, 'POST', '/app/sign-in', { form: { apiKey: acmeKey } });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('content-type')).toMatch(/^text\/html/);
    expect(limited.html).toContain('id="sign-in"');
    expect(limited.headers.getSetCookie()).toEqual([]);
    expectEveryTagNonced(limited.html, policyNonce(limited.headers));
  });
});
