// The MDN HTTP Observatory grades an HTTPS API and an HTTPS page that use secureHeaders() A+, scanning only loopback.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestPki } from '@bulwark/test-utils';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secureHeaders } from './secure-headers.js';

const here = dirname(fileURLToPath(import.meta.url));

interface ScanOutput {
  grade?: string;
  score?: number;
  error?: string;
  tests?: Record<string, { pass: boolean; result: string; scoreModifier: number }>;
  connections: { host: string; port: number; remoteAddress?: string }[];
  refused: string[];
}

describe('MDN HTTP Observatory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-observatory-'));
  let server: Server;
  let port: number;
  let pageServer: Server;
  let pagePort: number;
  let caFile: string;

  beforeAll(async () => {
    // The package's postinstall downloads the HSTS preload list; installs here skip it, and an
    // empty list is all a loopback scan needs.
    const entry = createRequire(import.meta.url).resolve('@mdn/mdn-http-observatory');
    const preload = join(dirname(entry), '..', 'conf', 'hsts-preload.json');
    if (!existsSync(preload)) writeFileSync(preload, '{}');

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

  function scanLoopback(target: string): Promise<ScanOutput> {
    return new Promise<ScanOutput>((resolve, reject) => {
      execFile(
        process.execPath,
        [join(here, '..', 'test', 'observatory-scan.mjs')],
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

  function expectAPlus(output: ScanOutput) {
    expect(output.error).toBeUndefined();
    expect(output.refused).toEqual([]);
    expect(output.connections.length).toBeGreaterThan(0);
    for (const c of output.connections) {
      expect(c.remoteAddress).toMatch(/^(127\.|::1$|::ffff:127\.)/);
    }
    const failing = Object.entries(output.tests ?? {}).filter(([, t]) => !t.pass);
    expect(failing).toEqual([]);
    expect(output.tests?.['strict-transport-security']?.result).toBe(
      'hsts-implemented-max-age-at-least-six-months',
    );
    expect(output.grade).toBe('A+');
  }

  it('grades an HTTPS app using secureHeaders A+ and connects only to loopback', async () => {
    expectAPlus(await scanLoopback(`127.0.0.1:${port}`));
  }, 60_000);

  it('grades an HTML page under the nonce-based page policy A+ too', async () => {
    const output = await scanLoopback(`127.0.0.1:${pagePort}`);
    expectAPlus(output);
    expect(output.tests?.['content-security-policy']?.result).toBe(
      'csp-implemented-with-no-unsafe',
    );
  }, 60_000);
});
