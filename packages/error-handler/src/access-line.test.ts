// Tests for the access lines a createLogger() logger writes directly: the same text as winston's own
// path line after line, whatever the values remembered from the line before, and the level verdicts.
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type winston from 'winston';
import { runWithTraceId } from './context.js';
import { accessLines, accessWriterOf, createLogger } from './logger.js';
import { compileRedaction } from './redact.js';
import { captureLogger } from './test-helpers.js';
import type { CreateLoggerOptions } from './types.js';

afterEach(() => {
  vi.useRealTimers();
});

type Line = [level: string, fields: Record<string, unknown>];

/**
 * Writes `lines` as httpLogger() does through two loggers made alike: one whose access lines take
 * the direct path, and one with a 'data' listener, whose lines all take winston's own path.
 * `between` runs before each line, on both loggers.
 */
function bothWays(
  options: Omit<CreateLoggerOptions, 'stream' | 'transports'>,
  lines: readonly Line[],
  between?: (logger: winston.Logger, index: number) => void,
): [string[], string[]] {
  const outputs: string[][] = [];
  for (const watched of [false, true]) {
    const { logger, raw } = captureLogger(options);
    if (watched) logger.on('data', () => {});
    const write = accessWriterOf(logger)!;
    lines.forEach(([level, fields], index) => {
      between?.(logger, index);
      if (!write(level, 'request', fields))
        (logger as unknown as Record<string, (m: string, f: unknown) => void>)[level]!(
          'request',
          fields,
        );
    });
    outputs.push(raw().split('\n').filter(Boolean));
  }
  return outputs as [string[], string[]];
}

const base = {
  method: 'GET',
  route: '/devices/:id',
  path: '/devices/d-1',
  status: 200,
  duration_ms: 0.25,
  bytes: 70,
  ip: '127.0.0.1',
  user_agent: 'probe Bearer s3cr3t',
  user: 'user-1',
  tenant: 'acme',
  trace_id: '4bc3e127-07d4-4846-a441-1d7ea9571ab1',
};

describe('access lines', () => {
  it('are the lines of winston’s own path, line after line, as values repeat and change', () => {
    const pointers = ['/body/a'];
    const detail = { reason: 'password=hunter2' };
    const long = `${'x'.repeat(2_000)} token=abc`;
    const lines: Line[] = [
      ['info', base],
      ['info', { ...base }],
      ['info', { ...base, path: '/devices/d-2', duration_ms: 1.5, trace_id: 'token:abc123' }],
      ['warn', { ...base, status: 404, route: null, path: '/devices/d-2' }],
      ['error', { ...base, status: 500, code: 'internal_error' }],
      ['info', { ...base, user_agent: 'curl/8.0', path: undefined }],
      ['info', { ...base, user_agent: 'curl/8.0', path: undefined }],
      ['info', { ...base, status: -0, duration_ms: Number.NaN, bytes: Number.POSITIVE_INFINITY }],
      ['info', { ...base, status: 0, duration_ms: 1e21, bytes: 5e-7 }],
      ['info', { ...base, status: -0 }],
      // Objects are written as they are now, not as they were the line before.
      ['warn', { ...base, status: 422, pointers, detail }],
      ['warn', { ...base, status: 422, pointers, detail }],
      ['info', { ...base, token: 'abc', password: null, apiKey: undefined, secret: 0 }],
      ['info', { ...base, token: 'abd', password: null, apiKey: undefined, secret: 0 }],
      ['info', { ...base, big: 10n, when: new Date(0), note: long }],
      ['info', { ...base, big: 10n, when: new Date(1), note: long }],
      ['info', { ...base, text: 'line\nbreak "quoted" \u2028 \ud800 é', trace_id: 42 }],
      ['info', { ...base, text: 'line\nbreak "quoted" \u2028 \ud800 é', trace_id: 42 }],
      // Printable ASCII is written between quotes as it is; a backslash, a tab or DEL is not.
      ['info', { ...base, text: ' !#[]~ plain', trace_id: 'back\\slash' }],
      ['info', { ...base, text: 'tab\there \x7f', trace_id: '~' }],
      // Array-index keys come first in JSON.stringify's order.
      ['info', { method: 'GET', 1: 'one', 0: 'zero', status: 200 }],
      ['info', { method: 'GET', 1: 'one', 0: 'zero', status: 200 }],
      // A reserved key, or one of defaultMeta's, takes the general path.
      ['info', { ...base, level: 'debug' }],
      ['info', { ...base, service: 'other' }],
      ['info', { ...base, message: 'again' }],
      ['info', base],
    ];
    // The same objects on two lines, changed in between (the same changes on every run).
    const between = (_logger: winston.Logger, index: number) => {
      if (index === 10) {
        pointers.splice(0, pointers.length, '/body/a');
        detail.reason = 'password=hunter2';
      } else if (index === 11) {
        pointers.push('/body/b');
        detail.reason = 'secret: abc';
      }
    };
    for (const options of [
      { timestamp: false, defaultMeta: { service: 'api' } },
      { timestamp: false, redactKeys: ['tenant', /^user_/], redactPatterns: [/d-[0-9]/] },
      { timestamp: false, maxStringLength: 12 },
      { timestamp: false, format: 'pretty' as const, defaultMeta: { service: 'api' } },
    ]) {
      const [direct, general] = bothWays(options, lines, between);
      expect(direct, JSON.stringify(options)).toEqual(general);
      expect(direct).toHaveLength(lines.length);
    }
    const [json] = bothWays({ timestamp: false }, lines, between);
    expect(json.join('\n')).not.toMatch(/hunter2|s3cr3t|abc123|token=abc/);
    expect(JSON.parse(json[11]!)).toMatchObject({ pointers: ['/body/a', '/body/b'] });
  });

  it('follow changes to defaultMeta between lines', () => {
    const lines: Line[] = Array.from({ length: 6 }, () => ['info', base] as Line);
    const [direct, general] = bothWays({ timestamp: false }, lines, (logger, index) => {
      if (index === 1) logger.defaultMeta = { service: 'api' };
      if (index === 2) (logger.defaultMeta as Record<string, unknown>).service = 'api-2';
      if (index === 3) logger.defaultMeta = { region: 'eu', service: 'api-2' };
      if (index === 4) logger.defaultMeta = { password: 'p', 0: 'first' };
      if (index === 5) logger.defaultMeta = undefined;
    });
    expect(direct).toEqual(general);
    expect(JSON.parse(direct[3]!)).toMatchObject({ region: 'eu', service: 'api-2' });
  });

  it('write the current time', () => {
    vi.useFakeTimers();
    const { logger, lines } = captureLogger();
    const write = accessWriterOf(logger)!;
    const start = Date.UTC(2026, 0, 1, 0, 0, 0, 998);
    for (let step = 0; step < 4; step++) {
      vi.setSystemTime(start + step);
      write('info', 'request', { status: 200 });
      expect(lines().at(-1)!.timestamp).toBe(new Date(start + step).toISOString());
    }
  });

  it('are the same with more keys than are remembered', () => {
    const lines: Line[] = Array.from({ length: 40 }, (_, i) => {
      const fields: Record<string, unknown> = { ...base };
      for (let k = 0; k < 10; k++) fields[`k${i * 10 + k}`] = k % 2 === 0 ? 'v' : i;
      return ['info', fields] as Line;
    });
    const [direct, general] = bothWays({ timestamp: false }, [...lines, ...lines], undefined);
    expect(direct).toEqual(general);
  });
});

describe('the access-line builder', () => {
  it('remembers at most 256 keys, and writes every line right past that', () => {
    const build = accessLines(compileRedaction(), false, undefined);
    for (let i = 0; i < 100; i++) {
      const fields: Record<string, unknown> = {};
      for (let k = 0; k < 10; k++) fields[`key-${i}-${k}`] = `value ${i} password=x${k}`;
      const text = build('info', 'request', fields, undefined)!;
      const line = JSON.parse(text) as Record<string, unknown>;
      expect(Object.keys(line)).toEqual(['level', 'message', ...Object.keys(fields)]);
      expect(line[`key-${i}-3`]).toBe(`value ${i} password=[REDACTED]`);
      expect(build.keyCount()).toBeLessThanOrEqual(256);
    }
    expect(build.keyCount()).toBe(256);
  });

  it('makes a line taken earlier with the time, trace id and default metadata it was taken with', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-03-01T10:00:00.123Z'));
    const build = accessLines(compileRedaction(), true, undefined);
    const meta: Record<string, unknown> = { service: 'api' };
    const first = runWithTraceId('trace-1', () =>
      build.prepare('info', 'request', { path: '/a', status: 200 }, meta),
    )!;
    vi.setSystemTime(new Date('2026-03-01T10:00:05.000Z'));
    meta.service = 'changed';
    const second = build.prepare('warn', 'request', { path: '/a', status: 404 }, meta)!;
    expect(JSON.parse(build.render(first))).toEqual({
      level: 'info',
      timestamp: '2026-03-01T10:00:00.123Z',
      message: 'request',
      trace_id: 'trace-1',
      service: 'api',
      path: '/a',
      status: 200,
    });
    expect(JSON.parse(build.render(second))).toEqual({
      level: 'warn',
      timestamp: '2026-03-01T10:00:05.000Z',
      message: 'request',
      service: 'changed',
      path: '/a',
      status: 404,
    });
  });

  it('redacts a value again when it differs from the last one, however little', () => {
    const build = accessLines(compileRedaction(), false, undefined);
    const seen = (path: string) =>
      (JSON.parse(build('info', 'request', { path }, undefined)!) as { path: string }).path;
    expect(seen('/reset/abc')).toBe('/reset/abc');
    expect(seen('/reset/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln')).toBe('/reset/[REDACTED]');
    expect(seen('/reset/abc')).toBe('/reset/abc');
    expect(seen('/reset/ABC')).toBe('/reset/ABC');
    expect(seen('/reset/x?token=1')).toBe('/reset/x?token=[REDACTED]');
    expect(seen('/reset/x?token=1')).toBe('/reset/x?token=[REDACTED]');
  });
});

describe('access-line level verdicts', () => {
  const LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'];

  it('follow every change of the logger’s level and of its transport’s level', () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, callback) {
        chunks.push(String(chunk));
        callback();
      },
    });
    const logger = createLogger({ level: 'info', stream, timestamp: false });
    const write = accessWriterOf(logger)!;
    const transport = logger.transports[0]!;
    for (const transportLevel of [undefined, 'error', 'debug', 'nonsense']) {
      (transport as { level?: string | undefined }).level = transportLevel;
      for (const loggerLevel of [...LEVELS, 'nonsense']) {
        logger.level = loggerLevel;
        for (const level of LEVELS) {
          const expected = logger.isLevelEnabled(level);
          const before = chunks.length;
          expect(write(level, 'request', { status: 200 })).toBe(true);
          expect(chunks.length - before, `${transportLevel} ${loggerLevel} ${level}`).toBe(
            expected ? 1 : 0,
          );
        }
      }
    }
  });

  it('follow an isLevelEnabled replaced on the logger, and a new set of levels', () => {
    const { logger, raw } = captureLogger({ level: 'info', timestamp: false });
    const write = accessWriterOf(logger)!;
    write('info', 'request', { n: 1 });
    logger.isLevelEnabled = () => false;
    write('info', 'request', { n: 2 });
    delete (logger as { isLevelEnabled?: unknown }).isLevelEnabled;
    write('info', 'request', { n: 3 });
    logger.levels = { error: 0, info: 1, loud: 2 };
    logger.level = 'error';
    write('info', 'request', { n: 4 });
    logger.levels = { error: 0, info: 1 };
    logger.level = 'info';
    write('info', 'request', { n: 5 });
    expect(
      raw()
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { n: number }).n),
    ).toEqual([1, 3, 5]);
  });
});
