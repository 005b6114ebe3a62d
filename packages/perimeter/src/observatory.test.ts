// The MDN HTTP Observatory grades an HTTPS API and an HTTPS page that use secureHeaders() A+, scanning only loopback.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTestPki,
  expectObservatoryAPlus,
  prepareObservatory,
  scanObservatory,
} from '@bulwark/test-utils';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secureHeaders } from './secure-headers.js';

describe('MDN HTTP Observatory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-observatory-'));
  let server: Server;
  let port: number;
  let pageServer: Server;
  let pagePort: number;
  let caFile: string;

  beforeAll(async () => {
    prepareObservatory();

    const pki = createTestPki(join(dir, 'pki'), {
      serverHosts: ['localhost', '127.0.0.1'],
      clients: [],
    });
    caFile = pki.caFile;
    const tls = { key: readFileSync(pki.serverKeyFile), cert: readFileSync(pki.serverCertFile) };
    const app = express();
    app.use(secureHeaders());
    app.get('/', (_req, res) => {
      res.json({ service: 'bulwark example', status: 'ok' });
    });
    server = createServer(tls, app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;

    // The scanner reads only the root of a host, so the page is served at the root of another.
    const pages = express();
    pages.use(secureHeaders({ pages: { paths: ['/'] }, reportTo: '/csp-reports' }));
    pages.get('/', (_req, res) => {
      const nonce = res.locals.cspNonce;
      res
        .type('html')
        .send(
          `<!doctype html><html lang="en"><title>Dashboard</title><style nonce="${nonce}">body{margin:0}</style><h1>Dashboard</h1><script nonce="${nonce}">document.title += ' ready';</script></html>`,
        );
    });
    pageServer = createServer(tls, pages);
    await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
    pagePort = (pageServer.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const s of [server, pageServer]) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('grades an HTTPS app using secureHeaders A+ and connects only to loopback', async () => {
    expectObservatoryAPlus(await scanObservatory(`127.0.0.1:${port}`, caFile));
  }, 60_000);

  it('grades an HTML page under the nonce-based page policy A+ too', async () => {
    const output = await scanObservatory(`127.0.0.1:${pagePort}`, caFile);
    expectObservatoryAPlus(output);
    expect(output.tests?.['content-security-policy']?.result).toBe(
      'csp-implemented-with-no-unsafe',
    );
  }, 60_000);
});
