// Tests for createLogger(): JSON and pretty lines, trace ids, levels, redaction and never touching inputs.
import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import winston from 'winston';
import { runWithTraceId } from './context.js';
import { createLogger } from './logger.js';
import { captureLogger, deepFreeze } from './test-helpers.js';

const savedEnv = {
  LOG_LEVEL: process.env.LOG_LEVEL,
  LOG_FORMAT: process.env.LOG_FORMAT,
  NODE_ENV: process.env.NODE_ENV,
};
afterEach(() => {
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
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

describe('createLogger trace id field', () => {
  it("writes another package's traceId as trace_id, so a line names its trace id once", () => {
    const { logger, lines } = captureLogger();
    // What @bulwark/rbac writes for a 403: its event carries traceId (null without requestContext).
    logger.info('permission denied', { code: 'forbidden', traceId: 'trace-rbac' });
    runWithTraceId('trace-ctx', () => {
      logger.info('permission denied', { code: 'forbidden', traceId: 'trace-ctx' });
      logger.info('permission denied', { code: 'forbidden', traceId: null });
      logger.child({ traceId: 'trace-ctx' }).info('from a child');
    });
    const out = lines();
    expect(out.map((line) => line.trace_id)).toEqual([
      'trace-rbac',
      'trace-ctx',
      'trace-ctx',
      'trace-ctx',
    ]);
    for (const line of out) expect(line).not.toHaveProperty('traceId');
  });

  it('takes a traceId given for the line as its trace_id, and keeps one that differs from trace_id', () => {
    const { logger, lines } = captureLogger();
    runWithTraceId('trace-now', () => {
      logger.info('replayed', { traceId: 'trace-then' });
      logger.info('replayed', { trace_id: 'trace-then', traceId: 'trace-other' });
    });
    const [renamed, both] = lines();
    expect(renamed).toMatchObject({ trace_id: 'trace-then' });
    expect(renamed).not.toHaveProperty('traceId');
    expect(both).toMatchObject({ trace_id: 'trace-then', traceId: 'trace-other' });
  });
});

describe('createLogger pretty format', () => {
  const TIME = /^\d{2}:\d{2}:\d{2}\.\d{3} /;

  it('writes the same redacted fields as one readable line', () => {
    const { logger, raw } = captureLogger({ format: 'pretty', defaultMeta: { service: 'orders' } });
    runWithTraceId('trace-p', () =>
      logger.warn('request', {
        method: 'POST',
        route: '/orders',
        status: 422,
        code: 'validation_failed',
        detail: 'The request body is not valid.',
        pointers: ['/body/email'],
        token: 'tok-s3cr3t',
        note: 'via postgres://app:pw-s3cr3t@db/orders',
      }),
    );
    const text = raw();
    expect(text.split('\n')).toHaveLength(2);
    expect(text).toMatch(TIME);
    expect(text.replace(TIME, '')).toBe(
      'WARN  request  service=orders method=POST route=/orders status=422 code=validation_failed detail="The request body is not valid." pointers=["/body/email"] token=[REDACTED] note="via postgres://app:[REDACTED]@db/orders"  trace_id=trace-p\n',
    );
    expect(text).not.toContain('s3cr3t');
  });

  it('prints a multi-line startup banner as indented lines, not a JSON string full of \\n', () => {
    const { logger, raw } = captureLogger({ format: 'pretty', timestamp: false });
    logger.info('orders api listening\n  http://127.0.0.1:3000\n  NODE_ENV=development');
    expect(raw()).toBe(
      'INFO  orders api listening\n      http://127.0.0.1:3000\n      NODE_ENV=development\n',
    );
  });

  it('escapes control characters, so no value can forge a log line or restyle the terminal', () => {
    const { logger, raw } = captureLogger({ format: 'pretty', timestamp: false });
    logger.info('user \u001b[31mred\u001b[0m\r\nINFO  admin logged in', {
      name: 'eve\nINFO  forged\u202e',
    });
    const text = raw();
    for (const unsafe of ['\u001b', '\r', '\u202e']) expect(text).not.toContain(unsafe);
    const lines = text.split('\n').filter(Boolean);
    // Only the first line starts like an entry; the message's second line is indented.
    expect(lines).toEqual([
      'INFO  user \\u001b[31mred\\u001b[0m  name="eve\\nINFO  forged\\u202e"',
      '    INFO  admin logged in',
    ]);
  });

  it("writes an error's stack, own fields and cause on indented lines under its entry, redacted", () => {
    const { logger, raw } = captureLogger({ format: 'pretty', timestamp: false });
    const cause = Object.assign(new Error('duplicate key value violates unique constraint'), {
      code: '23505',
      constraint: 'devices_pkey',
    });
    logger.error('request failed', {
      status: 500,
      err: new Error('connect postgres://app:pw-s3cr3t@db/iot failed', { cause }),
    });
    const lines = raw().split('\n').filter(Boolean);
    expect(lines[0]).toBe('ERROR request failed  status=500');
    expect(lines[1]).toBe('    err: Error: connect postgres://app:[REDACTED]@db/iot failed');
    expect(lines[2]).toMatch(/^ {6}at .*logger\.test\.ts/);
    const causeLine = lines.findIndex((line) =>
      line.startsWith('      caused by: Error: duplicate key value'),
    );
    expect(causeLine).toBeGreaterThan(2);
    expect(lines).toContain('        code=23505 constraint=devices_pkey');
    expect(lines.slice(1).every((line) => line.startsWith('    '))).toBe(true);
    expect(raw()).not.toContain('s3cr3t');
  });

  it('reads LOG_FORMAT, and an explicit format wins over it', () => {
    process.env.LOG_FORMAT = 'pretty';
    const fromEnv = captureLogger({ timestamp: false });
    fromEnv.logger.info('hello');
    expect(fromEnv.raw()).toBe('INFO  hello\n');
    const explicit = captureLogger({ format: 'json', timestamp: false });
    explicit.logger.info('hello');
    expect(explicit.lines()).toEqual([{ level: 'info', message: 'hello' }]);
  });

  it('refuses an unknown format, naming where it came from', () => {
    expect(() => createLogger({ format: 'text' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_LOG_FORMAT' }),
    );
    process.env.LOG_FORMAT = 'human';
    expect(() => createLogger()).toThrow(/LOG_FORMAT: "human" is not a log format. Use 'json'/);
  });
});

describe('createLogger default format', () => {
  const FIXTURE = fileURLToPath(new URL('./fixtures/default-format.ts', import.meta.url));
  const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

  /** Runs the fixture with stdout on a real terminal (`script` gives it a pty) or on a pipe. */
  function run(env: Record<string, string>, terminal: boolean): Promise<string> {
    const command = `${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(FIXTURE)}`;
    const [file, args] = terminal
      ? ['script', ['-qec', command, '/dev/null']]
      : [process.execPath, ['--import', 'tsx', FIXTURE]];
    const childEnv: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', ...env };
    delete childEnv.LOG_FORMAT;
    if (env.NO_COLOR === undefined) delete childEnv.NO_COLOR;
    return new Promise((resolve, reject) => {
      execFile(
        file as string,
        args as string[],
        { cwd: PACKAGE_DIR, timeout: 45_000, env: childEnv },
        (err, stdout) => (err ? reject(err) : resolve(stdout.replace(/\r\n/g, '\n'))),
      );
    });
  }

  it('is pretty and coloured in development on a terminal', async () => {
    const out = await run({ NODE_ENV: 'development' }, true);
    expect(out).toContain('\u001b[32mINFO \u001b[0m orders api listening');
    expect(out).toContain('\n      http://127.0.0.1:3000\n');
    expect(out).toContain('\u001b[33mWARN \u001b[0m permission denied');
    expect(out).toContain('[REDACTED]');
    expect(out).not.toContain('tok-s3cr3t');
  });

  it('is pretty without colours when NO_COLOR is set', async () => {
    const out = await run({ NODE_ENV: 'development', NO_COLOR: '1' }, true);
    expect(out).not.toContain('\u001b');
    expect(out).toMatch(
      / WARN {2}permission denied {2}service=orders code=forbidden token=\[REDACTED\] {2}trace_id=trace-7\n/,
    );
  });

  it('is JSON with the same fields in production on a terminal, and in development on a pipe', async () => {
    for (const [env, terminal] of [
      ['production', true],
      ['development', false],
    ] as const) {
      const out = await run({ NODE_ENV: env }, terminal);
      const lines = out
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines).toEqual([
        expect.objectContaining({
          level: 'info',
          message: 'orders api listening\n  http://127.0.0.1:3000\n  NODE_ENV=development',
          service: 'orders',
        }),
        expect.objectContaining({
          level: 'warn',
          message: 'permission denied',
          trace_id: 'trace-7',
          code: 'forbidden',
          token: '[REDACTED]',
        }),
      ]);
      expect(lines[1]).not.toHaveProperty('traceId');
    }
  });
});
