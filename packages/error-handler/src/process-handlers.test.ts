// Tests for installProcessHandlers(): a real child process dies, logs with its trace id, and exits.
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { closeLogger, installProcessHandlers } from './process-handlers.js';

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

describe('closeLogger', () => {
  it('resolves once every line logged before it is in the file, and writes nothing after', async () => {
    const file = join(dir, 'close.log');
    const logger = createLogger({ stream: createWriteStream(file), timestamp: false });
    for (let i = 0; i < 3000; i++) logger.info('line', { i });
    await closeLogger(logger);
    const warnings: { code?: string; message: string }[] = [];
    const onWarning = (warning: Error & { code?: string }) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      logger.info('after close');
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      process.off('warning', onWarning);
    }
    // The line is not written; the logger says so once, as for any destination that fails.
    expect(warnings).toEqual([
      expect.objectContaining({
        code: 'BULWARK_ERRORS_LOG_TRANSPORT',
        message: 'a log transport failed: write after end',
      }),
    ]);
    const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
    expect(lines).toHaveLength(3000);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ message: 'line', i: 2999 });
  });

  it('ends a plain winston-shaped logger that has end(), and resolves for one without', async () => {
    let ended = 0;
    const listeners: (() => void)[] = [];
    const withEnd = {
      error() {},
      warn() {},
      info() {},
      once(_event: string, listener: () => void) {
        listeners.push(listener);
      },
      end() {
        ended++;
        for (const listener of listeners) listener();
      },
    };
    await closeLogger(withEnd);
    expect(ended).toBe(1);
    await expect(closeLogger({ error() {}, warn() {}, info() {} })).resolves.toBeUndefined();
  });

  it('gives up waiting after timeoutMs', async () => {
    // A logger whose stream never finishes: closeLogger resolves at the timeout.
    const stuck = { error() {}, warn() {}, info() {}, once() {}, end() {} };
    const started = Date.now();
    await closeLogger(stuck, { timeoutMs: 50 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('refuses a missing logger and a bad timeoutMs with stable codes', () => {
    const logger = { error() {}, warn() {}, info() {} };
    expect(() => closeLogger(undefined)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_LOGGER' }),
    );
    for (const timeoutMs of [-1, Number.NaN, '2000'])
      expect(() => closeLogger(logger, { timeoutMs } as never)).toThrow(
        expect.objectContaining({
          code: 'ERR_BULWARK_ERRORS_INVALID_OPTION',
          message: expect.stringContaining('such as 2000'),
        }),
      );
    expect(() => closeLogger(logger, { timeout: 10 } as never)).toThrow(
      /Did you mean "timeoutMs"\?/,
    );
  });
});
