// createLogger(): a winston logger writing redacted lines (JSON, or pretty for a terminal) with the trace id.
import { fstatSync } from 'node:fs';
import { Writable } from 'node:stream';
import winston from 'winston';
import { checkOptions, describeValue, ErrorHandlerConfigError, invalidOption } from './config.js';
import { clientRequestIdOf, currentTraceContext } from './context.js';
import { formatPretty } from './pretty.js';
import { applyRedaction, compileRedaction, redactField } from './redact.js';
import type { CreateLoggerOptions } from './types.js';

// triple-beam's symbols, shared by winston and its transports.
const LEVEL = Symbol.for('level');
const MESSAGE = Symbol.for('message');

const LEVELS = winston.config.npm.levels;
const LEVEL_NAMES = Object.keys(LEVELS);

const KNOWN = [
  'level',
  'stream',
  'transports',
  'defaultMeta',
  'redactKeys',
  'redactPatterns',
  'timestamp',
  'maxStringLength',
  'format',
] as const;

const FORMATS = ['json', 'pretty'];

// Keys with a place of their own in a line, or a meaning to winston: an access line whose
// metadata uses one takes the general path.
const RESERVED = new Set([
  'level',
  'message',
  'timestamp',
  'trace_id',
  'traceId',
  'client_request_id',
  'exception',
  '__proto__',
]);

type Fields = Record<string, unknown> & { [LEVEL]?: string };

/**
 * Makes `trace_id` the one name of the trace id: a `traceId` in the metadata (as other packages
 * write it) becomes `trace_id` when the line has none, and is dropped when it is empty or the
 * same id. A different id under `traceId` is kept, so nothing is lost.
 */
function normaliseTraceKey(fields: Record<string, unknown>): void {
  if (!Object.hasOwn(fields, 'traceId')) return;
  const value = fields.traceId;
  if (fields.trace_id === undefined && typeof value === 'string' && value !== '') {
    fields.trace_id = value;
    delete fields.traceId;
  } else if (value === null || value === undefined || value === '' || value === fields.trace_id) {
    delete fields.traceId;
  }
}

/**
 * Adds `trace_id` from the current request when the line has none, and the client's own request
 * id (`client_request_id`) when the line belongs to that request.
 */
function addTraceFields(fields: Record<string, unknown>): void {
  const context = currentTraceContext();
  if (context !== undefined && fields.trace_id === undefined) fields.trace_id = context.traceId;
  if (fields.client_request_id !== undefined || typeof fields.trace_id !== 'string') return;
  const clientId =
    context?.traceId === fields.trace_id
      ? context.clientRequestId
      : clientRequestIdOf(fields.trace_id);
  if (clientId !== undefined) fields.client_request_id = clientId;
}

// The stream behind each logger made here, so a fatal exit can wait for it to drain.
const streams = new WeakMap<object, NodeJS.WritableStream>();
const ownLoggers = new WeakSet<object>();

/**
 * Where a logger made here writes its lines. Writing to process.stdout or process.stderr is a
 * synchronous system call for files, pipes and terminals; access lines, one per request, are
 * gathered there and written together once per event-loop turn (and at exit), to a pipe in
 * writes of at most PIPE_BUF bytes cut at line ends. Every other line first writes what is
 * gathered, then itself, so lines keep their order.
 */
interface Sink {
  /** The stream winston's transport writes to. */
  readonly transportStream: NodeJS.WritableStream;
  write(text: string, gather: boolean): void;
  flush(): void;
}

const directSinks = new WeakMap<object, Sink>();

function directSink(stream: NodeJS.WritableStream): Sink {
  return {
    transportStream: stream,
    write(text) {
      stream.write(text);
    },
    flush() {},
  };
}

// POSIX writes of at most PIPE_BUF bytes (4096 on Linux) to a pipe are atomic.
const PIPE_BUF = 4096;

/**
 * True when `stream` writes to a pipe or FIFO, or to a local socket (what a Node parent, a
 * process manager or journald give a child as stdout), which other processes may share.
 */
function writesToPipe(stream: NodeJS.WritableStream): boolean {
  const fd = (stream as { fd?: unknown }).fd;
  if (typeof fd !== 'number') return false;
  try {
    const stat = fstatSync(fd);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false;
  }
}

/**
 * Writes whole lines to a pipe in writes of at most PIPE_BUF bytes, cut at line ends (a longer
 * line goes alone), so processes sharing the pipe (cluster workers inheriting stdout) cannot
 * interleave inside a line.
 */
function writeToPipe(stream: NodeJS.WritableStream, text: string): void {
  // A UTF-16 unit is at most 3 bytes of UTF-8.
  if (text.length * 3 <= PIPE_BUF || Buffer.byteLength(text) <= PIPE_BUF) {
    stream.write(text);
    return;
  }
  let start = 0;
  let bytes = 0;
  let at = 0;
  while (at < text.length) {
    const newline = text.indexOf('\n', at);
    const end = newline === -1 ? text.length : newline + 1;
    const lineBytes = Buffer.byteLength(text.slice(at, end));
    if (bytes > 0 && bytes + lineBytes > PIPE_BUF) {
      stream.write(text.slice(start, at));
      start = at;
      bytes = 0;
    }
    bytes += lineBytes;
    at = end;
  }
  if (start < text.length) stream.write(text.slice(start));
}

function gatheringSink(stream: NodeJS.WritableStream): Sink {
  let gathered = '';
  let scheduled = false;
  const pipe = writesToPipe(stream);
  const out = (text: string) => {
    if (pipe) writeToPipe(stream, text);
    else stream.write(text);
  };
  const flush = () => {
    scheduled = false;
    if (gathered === '') return;
    const text = gathered;
    gathered = '';
    out(text);
  };
  const write = (text: string, gather: boolean) => {
    if (!gather) {
      const pending = gathered;
      gathered = '';
      out(pending === '' ? text : pending + text);
      return;
    }
    gathered += text;
    if (gathered.length >= 65_536) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  // Writes to stdout and stderr complete synchronously, so nothing gathered is lost on exit.
  process.on('exit', flush);
  const transportStream = new Writable({
    write(chunk, _encoding, callback) {
      write(String(chunk), false);
      callback();
    },
  });
  return { transportStream, write, flush };
}

// One per destination, shared by every logger writing there, so their lines stay in order.
const gatheringSinks = new Map<NodeJS.WritableStream, Sink>();

function sinkFor(stream: NodeJS.WritableStream): Sink {
  if (stream !== process.stdout && stream !== process.stderr) {
    let sink = directSinks.get(stream);
    if (sink === undefined) {
      sink = directSink(stream);
      directSinks.set(stream, sink);
    }
    return sink;
  }
  let sink = gatheringSinks.get(stream);
  if (sink === undefined) {
    sink = gatheringSink(stream);
    gatheringSinks.set(stream, sink);
  }
  return sink;
}

// Per logger made here: its sink, and the writer of access lines that skips winston's streams.
const sinks = new WeakMap<object, Sink>();
type AccessWriter = (level: string, message: string, fields: Record<string, unknown>) => boolean;
const accessWriters = new WeakMap<object, AccessWriter>();

/**
 * Writes one access line through a logger made by `createLogger`, exactly as
 * `logger[level](message, fields)` would, but straight to its stream and, for stdout and stderr,
 * gathered with the other access lines of the same event-loop turn. Returns false when the logger
 * is not one made here, or has been changed (transports, format, listeners) so that only
 * winston's own path writes what it expects; the caller then calls the level method.
 */
export function writeAccessLine(
  logger: unknown,
  level: string,
  message: string,
  fields: Record<string, unknown>,
): boolean {
  const writer = accessWriters.get(logger as object);
  return writer?.(level, message, fields) === true;
}

/**
 * True for a logger made by `createLogger` (or a child of one), which redacts by itself. Other
 * loggers get metadata that is already redacted and plain.
 */
export function redactsItself(logger: unknown): boolean {
  let current: unknown = logger;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    if (ownLoggers.has(current)) return true;
    current = Object.getPrototypeOf(current);
  }
  return false;
}

/**
 * Ends `logger` and resolves once what it wrote has reached its stream, or after `timeoutMs`.
 * Loggers not made by `createLogger` are ended when they have `end()`.
 */
export function flushLogger(logger: unknown, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    const stream = streams.get(logger as object);
    const drain = () => {
      sinks.get(logger as object)?.flush();
      if (stream && (stream as { writable?: boolean }).writable !== false)
        stream.write('', () => done());
      else done();
    };
    const candidate = logger as {
      end?: unknown;
      once?: unknown;
      writableFinished?: boolean;
    } | null;
    if (candidate && typeof candidate.end === 'function' && typeof candidate.once === 'function') {
      if (candidate.writableFinished) return drain();
      (candidate.once as (event: string, fn: () => void) => void).call(candidate, 'finish', drain);
      (candidate.end as () => void).call(candidate);
    } else {
      done();
    }
  });
}

// Lines written within one millisecond share one timestamp string.
let lastStampAt = Number.NaN;
let lastStamp = '';

/** The current time in ISO 8601, the same text as `new Date().toISOString()`. */
function isoNow(): string {
  const now = Date.now();
  if (now !== lastStampAt) {
    lastStampAt = now;
    lastStamp = new Date(now).toISOString();
  }
  return lastStamp;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function copyMeta(into: Fields, meta: Record<string, unknown>): void {
  for (const key of Object.keys(meta)) {
    if (key === 'level') continue;
    const value = meta[key];
    if (key === 'message' && typeof into.message === 'string' && typeof value === 'string') {
      into.message = `${into.message} ${value}`;
    } else if (key !== 'message' || into.message === undefined) {
      into[key] = value;
    }
  }
}

/** Turns any winston call shape into a fresh info object, never touching the caller's values. */
function toFields(args: readonly unknown[]): Fields {
  const [first, second] = args;
  const fields: Fields = {};
  if (first instanceof Error) {
    fields.message = first.message;
    fields.err = first;
    if (isObject(second)) copyMeta(fields, second);
  } else if (isObject(first) && args.length === 1) {
    copyMeta(fields, first);
    if (typeof first.message === 'string') fields.message = first.message;
  } else {
    fields.message = first === undefined ? '' : first;
    if (second instanceof Error) fields.err = second;
    else if (isObject(second)) copyMeta(fields, second);
  }
  return fields;
}

/**
 * Creates a winston logger that writes one JSON object per line: `level`, `timestamp`,
 * `message`, `trace_id` (inside a request or `runWithTraceId`), `client_request_id` (the
 * client's own id, when `requestContext()` did not adopt it), then the metadata. A `traceId` in
 * the metadata is written as `trace_id`. Every line is redacted by key name and by value shape
 * (see `redact`); Errors anywhere in the metadata are written with their stack, fields and cause
 * chain. The caller's objects are never changed, and circular references are safe.
 *
 * - `level` (default `process.env.LOG_LEVEL`, else `'info'`): npm levels, `error` to `silly`.
 * - `format` (default `process.env.LOG_FORMAT`, else `'pretty'` when `NODE_ENV` is
 *   `development` and `stream` is a terminal, else `'json'`): `'pretty'` writes the same
 *   redacted fields as one readable line, errors and multi-line messages on indented lines
 *   after it, coloured on a terminal unless `NO_COLOR` is set.
 * - `stream` (default `process.stdout`) or `transports` (default: a stream transport).
 * - `defaultMeta`, `redactKeys`, `redactPatterns`, `timestamp` (default `true`),
 *   `maxStringLength` (default `10_000`).
 *
 * @throws {ErrorHandlerConfigError} ERR_BULWARK_ERRORS_LOG_LEVEL for an unknown level (also from
 *   `LOG_LEVEL`), ERR_BULWARK_ERRORS_LOG_FORMAT for an unknown format (also from `LOG_FORMAT`),
 *   and on unknown options, a bad stream or bad redaction rules.
 * @example
 * const logger = createLogger({ defaultMeta: { service: 'api' } });
 * logger.info('device registered', { deviceId, token }); // token is written as "[REDACTED]"
 */
export function createLogger(options?: CreateLoggerOptions): winston.Logger {
  const opts = checkOptions<CreateLoggerOptions>(
    'createLogger',
    options === undefined ? [] : [options],
    KNOWN,
  );
  const fromEnv =
    opts.level === undefined && process.env.LOG_LEVEL !== undefined && process.env.LOG_LEVEL !== '';
  const level = opts.level ?? (fromEnv ? process.env.LOG_LEVEL : undefined) ?? 'info';
  if (typeof level !== 'string' || !LEVEL_NAMES.includes(level)) {
    throw new ErrorHandlerConfigError(
      'ERR_BULWARK_ERRORS_LOG_LEVEL',
      `createLogger: ${fromEnv ? 'LOG_LEVEL' : 'level'}: ${describeValue(level)} is not a log level. Use one of ${LEVEL_NAMES.join(', ')}.`,
    );
  }
  if (opts.stream !== undefined && opts.transports !== undefined) {
    invalidOption(
      'createLogger',
      'stream',
      opts.stream,
      'Pass either stream or transports, not both.',
    );
  }
  const stream = opts.stream ?? process.stdout;
  if (!isObject(stream) || typeof stream.write !== 'function' || typeof stream.on !== 'function') {
    throw new ErrorHandlerConfigError(
      'ERR_BULWARK_ERRORS_STREAM',
      `createLogger: stream: ${describeValue(stream)} is not a writable stream. Pass a stream such as process.stdout or fs.createWriteStream(path).`,
    );
  }
  const defaultMeta = opts.defaultMeta ?? {};
  if (!isObject(defaultMeta) || Array.isArray(defaultMeta)) {
    invalidOption(
      'createLogger',
      'defaultMeta',
      defaultMeta,
      'Pass an object such as { service: "api" }.',
    );
  }
  const timestamp = opts.timestamp ?? true;
  if (typeof timestamp !== 'boolean')
    invalidOption('createLogger', 'timestamp', timestamp, 'Use true or false.');
  const formatFromEnv =
    opts.format === undefined &&
    process.env.LOG_FORMAT !== undefined &&
    process.env.LOG_FORMAT !== '';
  const terminal = opts.transports === undefined && (stream as { isTTY?: unknown }).isTTY === true;
  const format =
    opts.format ??
    (formatFromEnv ? process.env.LOG_FORMAT : undefined) ??
    (process.env.NODE_ENV === 'development' && terminal ? 'pretty' : 'json');
  if (typeof format !== 'string' || !FORMATS.includes(format)) {
    throw new ErrorHandlerConfigError(
      'ERR_BULWARK_ERRORS_LOG_FORMAT',
      `createLogger: ${formatFromEnv ? 'LOG_FORMAT' : 'format'}: ${describeValue(format)} is not a log format. Use 'json' (one JSON object per line, for log collectors) or 'pretty' (for reading in a terminal).`,
    );
  }
  const pretty = format === 'pretty';
  const noColour = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';
  const colours = pretty && terminal && !noColour;
  const compiled = compileRedaction({
    ...(opts.redactKeys !== undefined && { keys: opts.redactKeys }),
    ...(opts.redactPatterns !== undefined && { patterns: opts.redactPatterns }),
    ...(opts.maxStringLength !== undefined && { maxStringLength: opts.maxStringLength }),
  });

  const formatLine = (info: Fields): Record<string | symbol, unknown> => {
    const {
      level: infoLevel,
      timestamp: time,
      message,
      trace_id,
      client_request_id,
      ...rest
    } = info as Fields;
    // Entries written without the level methods (winston's profile() and startTimer()) get the
    // same fields here, read as late as it gets.
    const trace: Record<string, unknown> = { trace_id, client_request_id };
    if (Object.hasOwn(rest, 'traceId')) {
      // A child logger's metadata is merged in after the level method ran.
      const names: Record<string, unknown> = { trace_id, traceId: rest.traceId };
      normaliseTraceKey(names);
      trace.trace_id = names.trace_id;
      if (Object.hasOwn(names, 'traceId')) rest.traceId = names.traceId;
      else delete rest.traceId;
    }
    addTraceFields(trace);
    const stamp = time ?? (timestamp ? isoNow() : undefined);
    const ordered: Record<string, unknown> = { level: infoLevel };
    if (stamp !== undefined) ordered.timestamp = stamp;
    ordered.message = message;
    if (trace.trace_id !== undefined) ordered.trace_id = trace.trace_id;
    if (trace.client_request_id !== undefined) ordered.client_request_id = trace.client_request_id;
    Object.assign(ordered, rest);
    const clean = applyRedaction(ordered, compiled) as Record<string | symbol, unknown>;
    clean[LEVEL] = (info as Fields)[LEVEL] ?? infoLevel;
    clean[MESSAGE] = pretty ? formatPretty(clean, colours) : JSON.stringify(clean);
    return clean;
  };
  const lineFormat = winston.format(
    (info) => formatLine(info as Fields) as winston.Logform.TransformableInfo,
  )();

  const ownStream = opts.transports === undefined ? (stream as NodeJS.WritableStream) : undefined;
  const objectMode =
    (ownStream as { _writableState?: { objectMode?: unknown } } | undefined)?._writableState
      ?.objectMode === true;
  const sink = ownStream === undefined ? undefined : sinkFor(ownStream);
  const transport =
    sink === undefined
      ? undefined
      : new winston.transports.Stream({
          stream: objectMode ? (ownStream as NodeJS.WritableStream) : sink.transportStream,
          eol: '\n',
        });
  const logger = winston.createLogger({
    level,
    levels: LEVELS,
    format: lineFormat,
    defaultMeta,
    transports: opts.transports ?? [transport!],
    exitOnError: false,
  });
  ownLoggers.add(logger);
  if (ownStream !== undefined) streams.set(logger, ownStream);
  if (sink !== undefined && !objectMode) sinks.set(logger, sink);
  // A failing destination (a closed pipe, a full disk) must not crash the app through an
  // unhandled 'error' event.
  let warned = false;
  logger.on('error', (err: unknown) => {
    if (warned) return;
    warned = true;
    process.emitWarning(
      `a log transport failed: ${err instanceof Error ? err.message : String(err)}`,
      {
        code: 'BULWARK_ERRORS_LOG_TRANSPORT',
      },
    );
  });

  // Replace winston's level methods on this logger's own class: winston writes the caller's
  // object as the log entry (adding `level` to it) and reads the trace id only when the entry
  // is formatted, which can be after the request's async context is gone.
  const proto = Object.getPrototypeOf(logger) as Record<string, unknown>;
  const entry = (self: winston.Logger, logLevel: string, args: readonly unknown[]): Fields => {
    const fields: Fields = {
      ...(self.defaultMeta as Record<string, unknown> | undefined),
      ...toFields(args),
    };
    fields.level = logLevel;
    fields[LEVEL] = logLevel;
    if (timestamp && fields.timestamp === undefined) fields.timestamp = isoNow();
    normaliseTraceKey(fields);
    addTraceFields(fields);
    return fields;
  };

  // What winston's own path would do with the entry (format it, hand it to the one transport,
  // which writes the formatted line), done in place while nothing else watches that path:
  // winston's streams cost more per line than formatting it.
  type StreamState = { length: number; ended: boolean; pipes: unknown };
  const internals = logger as unknown as {
    _writableState: StreamState;
    _readableState: StreamState;
    silent?: boolean;
  };
  const bypassable =
    sink === undefined || objectMode || transport === undefined
      ? undefined
      : (): boolean => {
          const pipes = internals._readableState.pipes;
          return (
            internals.silent !== true &&
            logger.format === lineFormat &&
            (pipes === transport ||
              (Array.isArray(pipes) && pipes.length === 1 && pipes[0] === transport)) &&
            !internals._writableState.ended &&
            internals._writableState.length === 0 &&
            internals._readableState.length === 0 &&
            logger.listenerCount('data') === 1 &&
            transport.silent !== true &&
            transport.format === undefined &&
            transport.listenerCount('logged') === 0
          );
        };
  const direct =
    bypassable === undefined
      ? undefined
      : (fields: Fields, gather: boolean): boolean => {
          if (!bypassable()) return false;
          const clean = formatLine(fields);
          // winston's transports leave out entries marked as exceptions unless told otherwise.
          if (clean.exception === true && !transport!.handleExceptions) return true;
          sink!.write(`${clean[MESSAGE] as string}\n`, gather);
          return true;
        };

  /**
   * The line `logger[level](message, fields)` writes, built in one pass: the same keys in the
   * same order, each value redacted as the general path redacts it. `undefined` when the
   * metadata uses a reserved key or repeats a key of `defaultMeta`.
   */
  const accessText = (
    logLevel: string,
    message: string,
    fields: Record<string, unknown>,
  ): string | undefined => {
    const meta = logger.defaultMeta as Record<string, unknown> | null | undefined;
    const metaKeys = isObject(meta) ? Object.keys(meta) : [];
    for (const key of metaKeys)
      if (RESERVED.has(key) || Object.hasOwn(fields, key)) return undefined;
    const keys = Object.keys(fields);
    for (const key of keys) if (key !== 'trace_id' && RESERVED.has(key)) return undefined;
    const trace: Record<string, unknown> = { trace_id: fields.trace_id };
    addTraceFields(trace);
    const clean: Record<string, unknown> = { level: redactField('level', logLevel, compiled) };
    if (timestamp) clean.timestamp = redactField('timestamp', isoNow(), compiled);
    clean.message = redactField('message', message, compiled);
    if (trace.trace_id !== undefined)
      clean.trace_id = redactField('trace_id', trace.trace_id, compiled);
    if (trace.client_request_id !== undefined)
      clean.client_request_id = redactField('client_request_id', trace.client_request_id, compiled);
    for (const key of metaKeys) clean[key] = redactField(key, meta![key], compiled);
    for (const key of keys)
      if (key !== 'trace_id') clean[key] = redactField(key, fields[key], compiled);
    return pretty ? formatPretty(clean, colours) : JSON.stringify(clean);
  };
  const write = (
    self: winston.Logger,
    logLevel: string,
    args: readonly unknown[],
  ): winston.Logger => {
    if (!self.isLevelEnabled(logLevel)) return self;
    const fields = entry(self, logLevel, args);
    if (self !== logger || direct === undefined || !direct(fields, false))
      self.write(fields as winston.LogEntry);
    return self;
  };
  if (direct !== undefined) {
    accessWriters.set(logger, (logLevel, message, fields) => {
      if (!logger.isLevelEnabled(logLevel)) return true;
      if (!bypassable!()) return false;
      const text = accessText(logLevel, message, fields);
      if (text === undefined) return direct(entry(logger, logLevel, [message, fields]), true);
      sink!.write(`${text}\n`, true);
      return true;
    });
  }
  for (const name of LEVEL_NAMES) {
    proto[name] = function (this: winston.Logger, ...args: unknown[]) {
      return write(this ?? logger, name, args);
    };
  }
  proto.log = function (this: winston.Logger, ...args: unknown[]) {
    const self = this ?? logger;
    const [first, ...rest] = args;
    if (isObject(first) && args.length === 1) {
      const { level: entryLevel, ...entry } = first;
      return write(self, typeof entryLevel === 'string' ? entryLevel : 'info', [entry]);
    }
    return write(self, typeof first === 'string' ? first : 'info', rest);
  };
  return logger;
}
