/// <reference lib="dom" />
// The browser suite's shared pieces: the example app on real services, and a watch on every page for CSP violations and errors.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, redisPrefix, type TestDatabase } from '@bulwark/test-utils';
import { createApp, type IotApp, loadConfig } from 'iot-app';
import type { BrowserContext } from 'playwright-core';

/** The example app started for a suite, with what it needs to be stopped and cleaned up. */
export interface RunningIotApp {
  iot: IotApp;
  /** `http://localhost:<port>`: a potentially trustworthy origin, so `Secure` cookies work. */
  url: string;
  /** The same server as `http://127.0.0.1:<port>`: another site to the browser. */
  ipUrl: string;
  /** The HTTPS listener's base URL, when `https` was asked for. */
  httpsUrl: string | undefined;
  /** The data folder: secrets and the development PKI (its CA signs the HTTPS certificate). */
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * Starts the example app on a fresh PostgreSQL database and Redis, with the embedded broker on a
 * free port, and its demo data. `https` adds the HTTPS listener with the development certificate;
 * `env` adds or overrides variables.
 */
export async function startIotApp(
  label: string,
  { https = false, env = {} }: { https?: boolean; env?: Record<string, string> } = {},
): Promise<RunningIotApp> {
  const db: TestDatabase = await createTestDatabase(label);
  const dataDir = mkdtempSync(join(tmpdir(), `iot-${label}-`));
  let iot: IotApp | undefined;
  try {
    iot = await createApp(
      loadConfig({
        DATABASE_URL: db.url,
        REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
        REDIS_PREFIX: redisPrefix(label),
        DATA_DIR: dataDir,
        PORT: '0',
        MQTT_PORT: '0',
        ...(https ? { HTTPS_PORT: '0' } : {}),
        LOG_LEVEL: 'silent',
        ...env,
      }),
    );
    const started = await iot.start();
    const port = new URL(started.url).port;
    const app = iot;
    return {
      iot: app,
      url: `http://localhost:${port}`,
      ipUrl: `http://127.0.0.1:${port}`,
      httpsUrl: started.httpsUrl,
      dataDir,
      async stop() {
        await app.stop();
        await db.drop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await iot?.stop();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
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
