// The MDN HTTP Observatory grades the example app over HTTPS A+: its API answers and its pages.
import {
  expectObservatoryAPlus,
  prepareObservatory,
  requireService,
  scanObservatory,
} from '@bulwark/test-utils';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RunningIotApp, startIotApp } from './support.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const ready = await requireService('postgres', 'redis');

describe.runIf(ready)('MDN HTTP Observatory on the example app over HTTPS', () => {
  let app: RunningIotApp;
  let host: string;

  beforeAll(async () => {
    prepareObservatory();
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
      const output = await scanObservatory(`${host}${path}`, app.caFile);
      expectObservatoryAPlus(output);
      expect(output.tests?.['content-security-policy']?.result).toBe(csp);
      expect(output.tests?.['subresource-integrity']?.result).toBe(sri);
    });
  }

  it('redirects the page from the plain HTTP listener to HTTPS on the same host', async () => {
    const answer = await fetch(`${app.httpUrl}/app`, { redirect: 'manual' });
    expect(answer.status).toBe(308);
    const httpsPort = new URL(app.url).port;
    expect(answer.headers.get('location')).toBe(`https://127.0.0.1:${httpsPort}/app`);
  });
});
