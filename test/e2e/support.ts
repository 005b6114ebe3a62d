// Helpers for the example app's end-to-end suites: HTTP calls, tokens, polling, the documented commands.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createApp, type IotApp, loadConfig, signToken, tokenKey } from 'iot-app';

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test bodies are inspected field by field.
  body: any;
}

/** Calls the app and reads the whole answer; JSON bodies are parsed. */
export async function call(
  base: string,
  method: string,
  path: string,
  {
    token,
    apiKey,
    body,
    raw,
    headers = {},
  }: {
    token?: string;
    apiKey?: string;
    /** Sent as JSON, with `Content-Type: application/json`. */
    body?: unknown;
    /** Sent as it is, with whatever Content-Type `headers` give. */
    raw?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(apiKey ? { 'x-api-key': apiKey } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined
      ? { body: JSON.stringify(body) }
      : raw !== undefined
        ? { body: raw }
        : {}),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
}

/** A token for a demo user, signed with the app's own secret. */
export function tokenFor(iot: IotApp, subject: string, tenantId: string | null): string {
  return signToken(tokenKey(iot.config.jwtSecret), { subject, tenantId, ttlSec: 600 });
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await delay(100);
  }
}

/** Each route of an Express router as method and path, read from the router itself. */
export function routerRoutes(router: unknown): { method: string; path: string }[] {
  const stack = (
    router as { stack: { route?: { path: string; methods: Record<string, boolean> } }[] }
  ).stack;
  return stack.flatMap((layer) =>
    layer.route
      ? Object.keys(layer.route.methods)
          .filter((method) => layer.route!.methods[method])
          .map((method) => ({ method: method.toUpperCase(), path: layer.route!.path }))
      : [],
  );
}

/** Fills `:name` segments with plausible values so a request reaches the route. */
export function fillParams(path: string): string {
  return path.replace(/:([A-Za-z]+)/g, (_m, name: string) =>
    name === 'id' ? 'acme-sensor-1' : '6f1c2a9e-3b7d-4c1e-9f2a-8d5e4b3c2a1f',
  );
}

/** Problem details must never carry internals. */
export function assertNoInternals(text: string): void {
  for (const leak of [
    /\bat .*\.(?:ts|js):\d+/,
    /SELECT|INSERT|UPDATE|DELETE FROM/i,
    /iot\.|bulwark_rbac/,
    /relation "/,
    /\/work\/|node_modules/,
  ]) {
    if (leak.test(text)) throw new Error(`response leaks internals (${leak}): ${text}`);
  }
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** What a command printed and how it ended. */
export interface CommandRun {
  /** The exit code; `null` when a signal ended it. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `pnpm <args>` from the repository root, as the docs tell a user to, with `env` added to
 * this process's environment. Asynchronous, so an app in this process keeps answering it.
 */
export function runPnpm(args: string[], env: Record<string, string> = {}): Promise<CommandRun> {
  return new Promise((resolve) => {
    execFile(
      'pnpm',
      args,
      { cwd: repoRoot, env: { ...process.env, ...env }, timeout: 90_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * Starts the example app on its embedded services (PGlite, aedes, in-memory limits) with data in
 * `dataDir`, on free ports and without log output; `env` adds or overrides settings.
 */
export async function startEmbeddedApp(
  dataDir: string,
  env: Record<string, string> = {},
): Promise<{ iot: IotApp; url: string }> {
  const iot = await createApp(
    loadConfig({ DATA_DIR: dataDir, PORT: '0', MQTT_PORT: '0', LOG_LEVEL: 'silent', ...env }),
  );
  const { url } = await iot.start();
  return { iot, url };
}

/** Stops an app from {@link startEmbeddedApp} (if it started) and removes its data folder. */
export async function stopEmbeddedApp(iot: IotApp | undefined, dataDir: string): Promise<void> {
  await iot?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
