// The MDN HTTP Observatory grades the example app over HTTPS A+: its API answers and its pages.
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireService } from '@bulwark/test-utils';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RunningIotApp, startIotApp } from './support.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

// perimeter's scanner script: it runs the Observatory in its own process, loopback only.
const perimeterDir = fileURLToPath(new URL('../../packages/perimeter/', import.meta.url));
const scanner = join(perimeterDir, 'test', 'observatory-scan.mjs');

interface ScanOutput {
  grade?: string;
  score?: number;
  error?: string;
  tests?: Record<string, { pass: boolean; result: string; scoreModifier: number }>;
  connections: { host: string; port: number; remoteAddress?: string }[];
  refused: string[];
}

/** Scans `target` (`host:port/path`), trusting `caFile` for its certificate. */
function scan(target: string, caFile: string): Promise<ScanOutput> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [scanner],
      {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile, OBSERVATORY_TARGET: target },
        timeout: 45_000,
      },
      (err, stdout, stderr) => {
        try {
          resolve(JSON.parse(stdout) as ScanOutput);
        } catch {
          reject(err ?? new Error(`scanner printed no result: ${stderr}`));
        }
      },
    );
  });
}

const ready = await requireService('postgres', 'redis');

describe.runIf(ready)('MDN HTTP Observatory on the example app over HTTPS', () => {
  let app: RunningIotApp;
  let host: string;

  beforeAll(async () => {
    // The package's postinstall downloads the HSTS preload list; installs here skip it, and an
    // empty list is all a loopback scan needs.
    const entry = createRequire(join(perimeterDir, 'package.json')).resolve(
      '@mdn/mdn-http-observatory',
    );
    const preload = join(dirname(entry), '..', 'conf', 'hsts-preload.json');
    if (!existsSync(preload)) writeFileSync(preload, '{}');
    app = await startIotApp('observatory');
    host = new URL(app.url).host;
  });

  afterAll(async () => {
    await app?.stop();
  });

  // The API answers with the strict API policy, /docs and /app are HTML pages with their own
  // policies: the scanner reads each page's HTML, as its Subresource Integrity result shows.
  const targets = [
    {
      path: '/health',
      csp: 'csp-implemented-with-no-unsafe-default-src-none',
      sri: 'sri-not-implemented-response-not-html',
    },
    {
      path: '/docs',
      csp: 'csp-implemented-with-unsafe-inline-in-style-src-only',
      sri: 'sri-not-implemented-but-all-scripts-loaded-from-secure-origin',
    },
    {
      path: '/app',
      csp: 'csp-implemented-with-no-unsafe',
      sri: 'sri-not-implemented-but-no-scripts-loaded',
    },
  ];

  for (const { path, csp, sri } of targets) {
    it(`grades ${path} A+ and connects only to loopback`, async () => {
      const output = await scan(`${host}${path}`, app.caFile);
      expect(output.error).toBeUndefined();
      expect(output.refused).toEqual([]);
      expect(output.connections.length).toBeGreaterThan(0);
      for (const c of output.connections) {
        expect(c.remoteAddress).toMatch(/^(127\.|::1$|::ffff:127\.)/);
      }
      const failing = Object.entries(output.tests ?? {}).filter(([, t]) => !t.pass);
      expect(failing).toEqual([]);
      expect(output.tests?.['content-security-policy']?.result).toBe(csp);
      expect(output.tests?.['subresource-integrity']?.result).toBe(sri);
      expect(output.tests?.['strict-transport-security']?.result).toBe(
        'hsts-implemented-max-age-at-least-six-months',
      );
      expect(output.grade).toBe('A+');
    });
  }

  it('redirects the page from the plain HTTP listener to HTTPS on the same host', async () => {
    const answer = await fetch(`${app.httpUrl}/app`, { redirect: 'manual' });
    expect(answer.status).toBe(308);
    const httpsPort = new URL(app.url).port;
    expect(answer.headers.get('location')).toBe(`https://127.0.0.1:${httpsPort}/app`);
  });
});
