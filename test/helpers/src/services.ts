// Which local services the tests need, and what happens when one is missing.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { portOpen } from './ports.js';

/** Where `name` is on PATH, if it is. */
function onPath(name: string): string | undefined {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, name))
    .find((file) => existsSync(file));
}

/** `name` when it is on PATH, else `fallback` when that exists (Debian's /usr/sbin is not on a user's PATH). */
function binary(name: string, fallback: string): string {
  return !onPath(name) && existsSync(fallback) ? fallback : name;
}

export const SERVICES = {
  postgres: {
    label: 'PostgreSQL',
    url: process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  },
  redis: { label: 'Redis', url: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' },
  mosquitto: { label: 'the mosquitto binary', url: process.env.MOSQUITTO_BIN ?? 'mosquitto' },
  'redis-server': {
    label: 'the redis-server binary',
    url: process.env.REDIS_SERVER_BIN ?? 'redis-server',
  },
  pgbouncer: {
    label: 'the pgbouncer binary',
    url: process.env.PGBOUNCER_BIN ?? binary('pgbouncer', '/usr/sbin/pgbouncer'),
  },
  // playwright-core wants a path, not a name to look up.
  chromium: {
    label: 'Chromium',
    url: process.env.CHROMIUM_BIN ?? onPath('chromium') ?? '/usr/bin/chromium',
  },
} as const;

export type ServiceName = keyof typeof SERVICES;

const cache = new Map<ServiceName, Promise<boolean>>();

function binaryRuns(bin: string, args: string[]): boolean {
  try {
    execFileSync(bin, args, { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch (err) {
    // mosquitto -h exits 3 after printing its help: it ran.
    return typeof (err as { status?: unknown }).status === 'number';
  }
}

async function probe(name: ServiceName): Promise<boolean> {
  if (name === 'mosquitto') return binaryRuns(SERVICES.mosquitto.url, ['-h']);
  if (name === 'redis-server') return binaryRuns(SERVICES['redis-server'].url, ['--version']);
  if (name === 'pgbouncer') return binaryRuns(SERVICES.pgbouncer.url, ['--version']);
  if (name === 'chromium') return binaryRuns(SERVICES.chromium.url, ['--version']);
  const url = new URL(SERVICES[name].url);
  return portOpen(Number(url.port || (name === 'postgres' ? 5432 : 6379)), url.hostname, 1000);
}

/** True when the service answers. Cached per process. */
export function serviceAvailable(name: ServiceName): Promise<boolean> {
  let found = cache.get(name);
  if (!found) {
    found = probe(name);
    cache.set(name, found);
  }
  return found;
}

/**
 * Use at the top of a test file: `const hasPg = await requireService('postgres')`, then
 * `describe.runIf(hasPg)(...)`. Under CI=true a missing service throws, so the suite fails;
 * elsewhere it returns false and prints why the suite does not run.
 */
export async function requireService(...names: ServiceName[]): Promise<boolean> {
  for (const name of names) {
    if (await serviceAvailable(name)) continue;
    const message = `${SERVICES[name].label} is not available (${SERVICES[name].url}). Run \`bash scripts/services.sh\` to start it.`;
    if (process.env.CI === 'true') throw new Error(message);
    process.stderr.write(`[bulwark tests] not running this suite: ${message}\n`);
    return false;
  }
  return true;
}
