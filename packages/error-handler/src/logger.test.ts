// Tests for createLogger(): JSON lines, trace ids, levels, redaction and never touching inputs.
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import winston from 'winston';
import { runWithTraceId } from './context.js';
import { createLogger } from './logger.js';
import { captureLogger, deepFreeze } from './test-helpers.js';

const savedLevel = process.env.LOG_LEVEL;
afterEach(() => {
  if (savedLevel === undefined) delete process.env.LOG_LEVEL;
  else process.env.LOG_LEVEL = savedLevel;
});

describe('createLogger output', () => {
  it('writes one JSON object per line with level, timestamp and message first', () => {
    const { logger, raw, lines } = captureLogger();
    logger.info('first', { a: 1 });
    logger.warn('second');
    const text = raw();
    expect(text.split('\n')).toHaveLength(3);
    const [first, second] = lines();
    expect(Object.keys(first!).slice(0, 3)).toEqual(['level', 'timestamp', 'message']);
    expect(first).toMatchObject({ level: 'info', message: 'first', a: 1 });
    expect(second).toMatchObject({ level: 'warn', message: 'second' });
    expect(Number.isNaN(Date.parse(String(first!.timestamp)))).toBe(false);
  });

  it('adds trace_id inside a traced context and not outside', () => {
    const { logger, lines } = captureLogger();
    runWithTraceId('trace-abc', () => logger.info('inside'));
    logger.info('outside');
    const [inside, outside] = lines();
    expect(inside!.trace_id).toBe('trace-abc');
    expect(outside).not.toHaveProperty('trace_id');
  });

  it('keeps the trace id of the call even when the line is formatted later', async () => {
    const { logger, lines } = captureLogger();
    await runWithTraceId('trace-late', async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      logger.info('after a timer');
    });
    expect(lines()[0]!.trace_id).toBe('trace-late');
  });

  it('adds trace_id and timestamp to winston profiler lines too', () => {
    const { logger, lines } = captureLogger();
    runWithTraceId('trace-profile', () => logger.startTimer().done({ message: 'timed' }));
    expect(lines()[0]).toMatchObject({ message: 'timed', trace_id: 'trace-profile' });
    expect(lines()[0]).toHaveProperty('timestamp');
  });

  it('writes defaultMeta on every line and lets child loggers add fields', () => {
    const { logger, lines } = captureLogger({ defaultMeta: { service: 'api' } });
    logger.child({ component: 'ingest' }).info('child line');
    expect(lines()[0]).toMatchObject({
      service: 'api',
      component: 'ingest',
      message: 'child line',
    });
  });

  it('accepts every winston call shape', () => {
    const { logger, lines } = captureLogger();
    logger.log('info', 'by level');
    logger.log({ level: 'warn', message: 'as object', x: 1 });
    logger.info({ message: 'single object', y: 2 });
    logger.error(new Error('bare error'));
    logger.error('with error', new Error('second arg'));
    const out = lines();
    expect(out.map((line) => [line.level, line.message])).toEqual([
      ['info', 'by level'],
      ['warn', 'as object'],
      ['info', 'single object'],
      ['error', 'bare error'],
      ['error', 'with error'],
    ]);
    expect(out[1]!.x).toBe(1);
    expect((out[3]!.err as Record<string, unknown>).stack).toContain('logger.test.ts');
    expect((out[4]!.err as Record<string, unknown>).message).toBe('second arg');
  });
});

describe('createLogger levels', () => {
  it('defaults to info', () => {
    delete process.env.LOG_LEVEL;
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk, _e, cb) {
        chunks.push(String(chunk));
        cb();
      },
    });
    const logger = createLogger({ stream });
    logger.debug('hidden');
    logger.info('shown');
    expect(chunks).toHaveLength(1);
    expect(logger.level).toBe('info');
  });

  it('reads LOG_LEVEL when no level is given', () => {
    process.env.LOG_LEVEL = 'warn';
    const { logger, lines } = captureLogger({ level: undefined as never });
    logger.info('hidden');
    logger.warn('shown');
    expect(lines().map((line) => line.message)).toEqual(['shown']);
  });

  it('prefers the level option over LOG_LEVEL', () => {
    process.env.LOG_LEVEL = 'error';
    const { logger } = captureLogger({ level: 'debug' });
    expect(logger.level).toBe('debug');
  });

  it('refuses an unknown level, naming where it came from', () => {
    process.env.LOG_LEVEL = 'verbose!';
    expect(() => createLogger()).toThrow(/LOG_LEVEL: "verbose!" is not a log level/);
    expect(() => createLogger({ level: 'loud' })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_LOG_LEVEL' }),
    );
  });
});

describe('createLogger redaction', () => {
  it('redacts secrets by key and shape at any depth, in message and metadata', () => {
    const { logger, raw, lines } = captureLogger();
    logger.info('login with postgres://app:s3cr3t@db/iot', {
      headers: { authorization: 'Bearer abc123', cookie: 'sid=xyz' },
      body: { user: 'ada', password: 'hunter2', devices: [{ api_key: 'k-1' }] },
    });
    const text = raw();
    for (const secret of ['s3cr3t', 'abc123', 'sid=xyz', 'hunter2', 'k-1'])
      expect(text).not.toContain(secret);
    const [line] = lines();
    expect(line!.message).toBe('login with postgres://app:[REDACTED]@db/iot');
    expect(line).toMatchObject({
      headers: { authorization: '[REDACTED]', cookie: '[REDACTED]' },
      body: { user: 'ada', password: '[REDACTED]', devices: [{ api_key: '[REDACTED]' }] },
    });
  });

  it('adds redactKeys and redactPatterns', () => {
    const { logger, lines } = captureLogger({
      redactKeys: ['serial'],
      redactPatterns: [/\bIMEI\d{15}\b/],
    });
    logger.info('device IMEI490154203237518', { serial: 'SN-1' });
    expect(lines()[0]).toMatchObject({ message: 'device [REDACTED]', serial: '[REDACTED]' });
  });

  it('never mutates the caller objects, including errors', () => {
    const { logger } = captureLogger();
    const meta = deepFreeze({ password: 'x', nested: { token: 't' } });
    const err = deepFreeze(new Error('frozen'));
    expect(() => logger.info('frozen meta', meta)).not.toThrow();
    expect(() => logger.info(meta as never)).not.toThrow();
    expect(() => logger.error(err)).not.toThrow();
    expect(meta).toEqual({ password: 'x', nested: { token: 't' } });
    expect(Object.keys(err)).toEqual([]);
  });

  it('writes circular metadata without throwing', () => {
    const { logger, lines } = captureLogger();
    const device: Record<string, unknown> = { id: 'd1' };
    device.self = device;
    logger.info('circular', { device });
    expect(lines()[0]!.device).toEqual({ id: 'd1', self: '[Circular]' });
  });

  it('writes an error with its cause chain and fields', () => {
    const { logger, lines } = captureLogger();
    const cause = Object.assign(new Error('duplicate key'), {
      code: '23505',
      constraint: 'devices_pkey',
    });
    logger.error('insert failed', { err: new Error('could not save device', { cause }) });
    const err = lines()[0]!.err as Record<string, unknown>;
    expect(err.message).toBe('could not save device');
    expect(err.cause).toMatchObject({
      message: 'duplicate key',
      code: '23505',
      constraint: 'devices_pkey',
    });
  });

  it('cuts very long strings', () => {
    const { logger, lines } = captureLogger({ maxStringLength: 10 });
    logger.info('x'.repeat(50));
    expect(lines()[0]!.message).toBe('xxxxxxxxxx… [40 more characters]');
  });
});

describe('createLogger options', () => {
  it('returns a winston logger', () => {
    expect(captureLogger().logger).toBeInstanceOf(winston.Logger);
  });

  it('refuses a misspelled option with a hint', () => {
    expect(() => createLogger({ levle: 'info' } as never)).toThrow(
      /unknown option "levle". Did you mean "level"\?/,
    );
  });

  it('refuses a stream that is not writable and both stream and transports', () => {
    expect(() => createLogger({ stream: {} as never })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_STREAM' }),
    );
    expect(() =>
      createLogger({ stream: process.stdout, transports: [new winston.transports.Console()] }),
    ).toThrow(expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_INVALID_OPTION' }));
  });

  it('works with custom transports and still redacts', () => {
    const seen: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      objectMode: true,
      write(info, _e, cb) {
        seen.push(info as Record<string, unknown>);
        cb();
      },
    });
    const logger = createLogger({ transports: [new winston.transports.Stream({ stream })] });
    logger.info('x', { token: 'abc' });
    expect(seen[0]!.token).toBe('[REDACTED]');
  });
});
