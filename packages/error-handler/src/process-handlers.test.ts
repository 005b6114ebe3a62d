// Tests for installProcessHandlers(): a real child process dies, logs with its trace id, and exits.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installProcessHandlers } from './process-handlers.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/fatal-app.ts', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bulwark-fatal-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function runFixture(mode: string) {
  const logFile = join(dir, `${mode}.log`);
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', FIXTURE, mode, logFile],
      { cwd: PACKAGE_DIR, timeout: 45_000, env: { ...process.env, NODE_OPTIONS: '' } },
      (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
    );
  });
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const lines = text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { ...result, lines };
}

type Run = Awaited<ReturnType<typeof runFixture>>;
const runs = new Map<string, Run>();

// The child processes start together: each pays Node and tsx start-up once.
beforeAll(async () => {
  const modes = ['exception', 'rejection'];
  const results = await Promise.all(modes.map((mode) => runFixture(mode)));
  for (const [i, mode] of modes.entries()) runs.set(mode, results[i]!);
}, 60_000);

describe('installProcessHandlers', () => {
  it('logs an uncaught exception with the request trace id, flushes every line, then exits 1', async () => {
    const { code, lines } = runs.get('exception')!;
    expect(code).toBe(1);
    expect(lines.filter((line) => line.message === 'filler')).toHaveLength(2000);
    const fatal = lines.find((line) => line.origin === 'uncaughtException');
    expect(fatal).toMatchObject({
      level: 'error',
      message: 'uncaught exception',
      trace_id: 'fatal-trace-1',
    });
    const err = fatal!.err as Record<string, unknown>;
    expect(err.message).toBe('thrown with postgres://app:[REDACTED]@db/iot');
    expect(String(err.stack)).toContain('fatal-app.ts');
  });

  it('logs an unhandled rejection with the request trace id, then calls a custom onFatal', () => {
    const { code, stderr, lines } = runs.get('rejection')!;
    expect(code).toBe(3);
    expect(stderr).toContain('onFatal unhandledRejection rejected with');
    expect(lines.find((line) => line.origin === 'unhandledRejection')).toMatchObject({
      message: 'unhandled promise rejection',
      trace_id: 'fatal-trace-1',
    });
  });

  it('refuses to install twice', () => {
    expect(runs.get('exception')!.stderr).toContain(
      'second install refused: ERR_BULWARK_ERRORS_PROCESS_HANDLERS_INSTALLED',
    );
  });

  it('refuses a missing logger and bad options before installing anything', () => {
    const before = process.listenerCount('uncaughtException');
    expect(() => installProcessHandlers(undefined)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_LOGGER' }),
    );
    const logger = { error() {}, warn() {}, info() {} };
    expect(() => installProcessHandlers(logger, { exitCode: 0 })).toThrow(/must not exit with 0/);
    expect(() => installProcessHandlers(logger, { onFatl: () => {} } as never)).toThrow(
      /Did you mean "onFatal"\?/,
    );
    expect(process.listenerCount('uncaughtException')).toBe(before);
  });
});
