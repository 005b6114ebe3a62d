/// <reference lib="dom" />
// The browser suite's shared pieces: the example app on real services, and a watch on every page for CSP violations and errors.
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { createAppWorkspace, redisPrefix } from '@bulwark/test-utils';
import { createApp, type IotApp, loadConfig, signToken, tokenKey } from 'iot-app';
import type { BrowserContext } from 'playwright-core';

/** The example app started for a suite, with what it needs to be stopped and cleaned up. */
export interface RunningIotApp {
  iot: IotApp;
  /** `https://localhost:<port>`, with the development certificate. */
  url: string;
  /** The plain HTTP listener, which only redirects to `url`. */
  httpUrl: string;
  /** The development CA that signed the certificate. */
  caFile: string;
  /**
   * The Chromium flag that trusts the app's certificate, and only it, by its public key: the
   * browser then treats the app as a secure origin, where the Reporting API delivers reports.
   */
  trustFlag: string;
  /** One request to the app over HTTPS, trusting its CA; headers in the order they came. */
  fetch(
    method: string,
    path: string,
    headers?: Record<string, string>,
    body?: string,
  ): Promise<{ status: number; headers: { name: string; value: string }[]; text: string }>;
  /** Calls the JSON API as `subject` of `tenantId`, with a token signed by the app's secret. */
  call(
    method: string,
    path: string,
    options: { subject: string; tenantId: string; body?: unknown },
  ): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
}

/**
 * Starts the example app over HTTPS on a fresh PostgreSQL database and Redis, with the embedded
 * broker on a free port, and its demo data. `env` adds or overrides variables.
 */
export async function startIotApp(
  label: string,
  { env = {} }: { env?: Record<string, string> } = {},
): Promise<RunningIotApp> {
  const workspace = await createAppWorkspace(label, `iot-${label}`);
  const { db, dataDir } = workspace;
  let iot: IotApp | undefined;
  try {
    iot = await createApp(
      loadConfig({
        DATABASE_URL: db.url,
        REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
        REDIS_PREFIX: redisPrefix(label),
        DATA_DIR: dataDir,
        PORT: '0',
        HTTPS_PORT: '0',
        MQTT_PORT: '0',
        LOG_LEVEL: 'silent',
        ...env,
      }),
    );
    const started = await iot.start();
    const app = iot;
    const pki = app.pki!;
    const url = started.httpsUrl!;
    const ca = readFileSync(pki.caFile);
    const spki = createPublicKey(readFileSync(pki.serverKeyFile)).export({
      type: 'spki',
      format: 'der',
    });
    const fetchApp: RunningIotApp['fetch'] = (method, path, headers = {}, body) =>
      new Promise((resolve, reject) => {
        const req = request(`${url}${path}`, { method, ca, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const headerList: { name: string; value: string }[] = [];
            for (let i = 0; i < res.rawHeaders.length; i += 2) {
              headerList.push({ name: res.rawHeaders[i]!, value: res.rawHeaders[i + 1]! });
            }
            resolve({
              status: res.statusCode ?? 0,
              headers: headerList,
              text: Buffer.concat(chunks).toString('utf8'),
            });
          });
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(body);
      });
    return {
      iot: app,
      url,
      httpUrl: started.url,
      caFile: pki.caFile,
      trustFlag: `--ignore-certificate-errors-spki-list=${createHash('sha256').update(spki).digest('base64')}`,
      fetch: fetchApp,
      async call(method, path, { subject, tenantId, body }) {
        const token = signToken(tokenKey(app.config.jwtSecret), { subject, tenantId, ttlSec: 600 });
        const answer = await fetchApp(
          method,
          path,
          {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body === undefined ? undefined : JSON.stringify(body),
        );
        return { status: answer.status, body: answer.text ? JSON.parse(answer.text) : undefined };
      },
      async stop() {
        await app.stop();
        await workspace.remove();
      },
    };
  } catch (err) {
    await iot?.stop();
    await workspace.remove();
    throw err;
  }
}

/** A `securitypolicyviolation` event as the page saw it. */
export interface Violation {
  documentURI: string;
  effectiveDirective: string;
  blockedURI: string;
  sample: string;
  disposition: string;
}

/** What went wrong in a browser context's pages since the watch began (or was last cleared). */
export interface PageTrouble {
  violations: Violation[];
  /** Console messages of type `error`, as text. */
  consoleErrors: string[];
  /** Uncaught exceptions and unhandled rejections in the pages. */
  pageErrors: string[];
  /** Forgets everything recorded so far. */
  clear(): void;
}

/**
 * Records every CSP violation, console error and uncaught page error in `context`'s pages. The
 * listener is added before any page script runs, through the DevTools protocol, so a page's own
 * CSP neither blocks nor sees it.
 */
export async function watchPages(context: BrowserContext): Promise<PageTrouble> {
  const trouble: PageTrouble = {
    violations: [],
    consoleErrors: [],
    pageErrors: [],
    clear() {
      trouble.violations.length = 0;
      trouble.consoleErrors.length = 0;
      trouble.pageErrors.length = 0;
    },
  };
  await context.exposeBinding('bulwarkViolation', (_source, violation: Violation) => {
    trouble.violations.push(violation);
  });
  await context.addInitScript(() => {
    const report = (window as unknown as { bulwarkViolation(v: unknown): void }).bulwarkViolation;
    document.addEventListener('securitypolicyviolation', (event) => {
      report({
        documentURI: event.documentURI,
        effectiveDirective: event.effectiveDirective,
        blockedURI: event.blockedURI,
        sample: event.sample,
        disposition: event.disposition,
      });
    });
  });
  context.on('console', (message) => {
    if (message.type() === 'error') {
      const { url } = message.location();
      trouble.consoleErrors.push(url ? `${message.text()} (${url})` : message.text());
    }
  });
  context.on('weberror', (error) => {
    trouble.pageErrors.push(String(error.error()));
  });
  return trouble;
}
