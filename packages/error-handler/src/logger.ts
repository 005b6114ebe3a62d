// createLogger(): a winston logger writing redacted lines (JSON, or pretty for a terminal) with the trace id.
import { fstatSync } from 'node:fs';
import { Writable } from 'node:stream';
import winston from 'winston';
import { checkOptions, describeValue, ErrorHandlerConfigError, invalidOption } from './config.js';
import { clientRequestIdOf, currentTraceContext } from './context.js';
import { formatPretty } from './pretty.js';
import { applyRedaction, compileRedaction, redactFieldValue, secretKey } from './redact.js';
import { isoNow, isoText } from './timestamp.js';
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
 * writes of at most PIPE_BUF bytes cut at line ends. Their text is made there too, one line
 * after the other, from what each line's request left when it finished: a tight loop over the
 * turn's lines costs less than the same work spread between the requests. Every other line
 * first writes what is gathered, then itself, so lines keep their order.
 */
interface Sink {
  /** The stream winston's transport writes to. */
  readonly transportStream: NodeJS.WritableStream;
  write(text: string, gather: boolean): void;
  /** Writes the text `line.render(line)` makes, gathered with the access lines of the turn. */
  later(line: PendingLine): void;
  flush(): void;
}

const directSinks = new WeakMap<object, Sink>();

function directSink(stream: NodeJS.WritableStream): Sink {
  return {
    transportStream: stream,
    write(text) {
      stream.write(text);
    },
    later(line) {
      stream.write(`${line.render(line)}\n`);
    },
    flush() {},
  };
}

// Access lines waiting for their text, at most this many; then they are made and gathered.
const MAX_PENDING_LINES = 256;

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
  // Access lines whose text is still to be made, in the order they were written.
  let pending: PendingLine[] = [];
  const pipe = writesToPipe(stream);
  const out = (text: string) => {
    if (pipe) writeToPipe(stream, text);
    else stream.write(text);
  };
  /** Makes the text of the lines waiting for it, in order, and gathers it. */
  const render = () => {
    const waiting = pending;
    pending = [];
    for (const line of waiting) {
      try {
        gathered += `${line.render(line)}\n`;
      } catch {
        // An access line never breaks the app, nor the lines after it.
      }
    }
  };
  const flush = () => {
    scheduled = false;
    if (pending.length > 0) render();
    if (gathered === '') return;
    const text = gathered;
    gathered = '';
    out(text);
  };
  const schedule = () => {
    if (gathered.length >= 65_536) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  const write = (text: string, gather: boolean) => {
    if (pending.length > 0) render();
    if (!gather) {
      const before = gathered;
      gathered = '';
      out(before === '' ? text : before + text);
      return;
    }
    gathered += text;
    schedule();
  };
  const later = (line: PendingLine) => {
    pending.push(line);
    if (pending.length >= MAX_PENDING_LINES) render();
    schedule();
  };
  // Writes to stdout and stderr complete synchronously, so nothing gathered is lost on exit.
  process.on('exit', flush);
  const transportStream = new Writable({
    write(chunk, _encoding, callback) {
      write(String(chunk), false);
      callback();
    },
  });
  return { transportStream, write, later, flush };
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
export type AccessWriter = (
  level: string,
  message: string,
  fields: Record<string, unknown>,
) => boolean;
const accessWriters = new WeakMap<object, AccessWriter>();

/**
 * The writer of access lines of a logger made by `createLogger`, or `undefined` for any other
 * logger. It writes one access line exactly as `logger[level](message, fields)` would, but straight
 * to the logger's stream and, for stdout and stderr, gathered with the other access lines of the
 * same event-loop turn, whose text is made when they are written: `fields` must not change after
 * the call. It returns false when the logger has been changed (transports, format,
 * listeners) so that only winston's own path writes what it expects; the caller then calls the
 * level method.
 */
export function accessWriterOf(logger: unknown): AccessWriter | undefined {
  return accessWriters.get(logger as object);
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

// Keys an access-line builder keeps what it knows of; an app's lines use a few dozen.
const MAX_ACCESS_KEYS = 256;
// Longer strings are redacted every time, and not kept: at most a few hundred KiB in all.
const MAX_REMEMBERED_LENGTH = 1024;
const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,9})$/;

/**
 * One key of the access lines of a logger: its name as JSON, what the logger's rules say of it,
 * and the last value it had with that value redacted. Access lines repeat the same keys, most of
 * them with the same value from one line to the next (the level, the message, the service, the
 * method, the route, the address and user agent of a client), and what a value becomes depends
 * on nothing but its key, the value and the logger's redaction rules: a value equal to the last
 * one is not redacted and serialised again. Only primitive values are remembered, as an object
 * may have changed since, and only strings that redaction left as they were.
 */
interface KeySlot {
  readonly key: string;
  /** `,"key":` (for `level`, which opens every line, `{"level":`). */
  readonly name: string;
  readonly reserved: boolean;
  readonly secret: boolean;
  /** An array index, which JSON.stringify writes before every other key of an object. */
  readonly index: boolean;
  remembered: boolean;
  /** The last line brought a new value too. */
  changing: boolean;
  value: unknown;
  /** The value redacted. */
  clean: unknown;
  /** `,"key":value`, or undefined when the value leaves the key out of JSON. */
  text: string | undefined;
}

// Printable ASCII but the quote and the backslash: JSON writes it as it is, between quotes.
const PLAIN_JSON_STRING = /^[ !#-[\]-~]*$/;

/**
 * JSON.stringify(value), with shortcuts for numbers and plain strings (ids, times, paths), the
 * values that change from line to line.
 */
function jsonOf(value: unknown): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (typeof value === 'string' && PLAIN_JSON_STRING.test(value)) return `"${value}"`;
  return JSON.stringify(value);
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The slots of a list of keys, and what they say together; kept for the next line's keys. */
interface KeyList {
  keys: readonly string[];
  slots: readonly KeySlot[];
  /** A key the line may not carry: reserved (but `trace_id` among the fields), or an index. */
  reserved: boolean;
  index: boolean;
}

/**
 * An access line as the call that wrote it left it: what its text is made from, read when the
 * line was written (the time, the trace ids of the request, the lists of keys).
 */
interface PendingLine {
  /** Makes the line's text: the `render` of the builder that took it. */
  readonly render: (line: PendingLine) => string;
  readonly level: string;
  readonly message: string;
  readonly fields: Record<string, unknown>;
  /** The values of the logger's `defaultMeta` under `metaList`'s keys, as they were. */
  readonly metaValues: readonly unknown[];
  readonly metaList: KeyList;
  readonly fieldList: KeyList;
  readonly traceId: unknown;
  readonly clientId: string | undefined;
  /** Milliseconds since the epoch, when the line has a timestamp. */
  readonly time: number;
}

type AccessText = ((
  level: string,
  message: string,
  fields: Record<string, unknown>,
  meta: Record<string, unknown> | null | undefined,
) => string | undefined) & {
  /**
   * The line `logger[level](message, fields)` would write, taken now for its text to be made
   * later by `render`, or `undefined` when the general path writes it. Lines are rendered in the
   * order they were taken: what the builder remembers of a key's last value follows that order.
   */
  prepare(
    level: string,
    message: string,
    fields: Record<string, unknown>,
    meta: Record<string, unknown> | null | undefined,
  ): PendingLine | undefined;
  render(line: PendingLine): string;
  /** How many keys the builder keeps what it knows of (at most MAX_ACCESS_KEYS). */
  keyCount(): number;
};

/**
 * Builds the access lines of one logger: the line `logger[level](message, fields)` writes, the
 * same keys in the same order, each value redacted as the general path redacts it, as JSON, or
 * pretty when `colours` is given (true: coloured). `undefined` when the metadata uses a reserved
 * key or repeats a key of `defaultMeta`: the general path then writes the line.
 */
export function accessLines(
  compiled: ReturnType<typeof compileRedaction>,
  timestamp: boolean,
  colours: boolean | undefined,
): AccessText {
  const pretty = colours !== undefined;
  const slots = new Map<string, KeySlot>();
  const slotOf = (key: string, opens = false): KeySlot => {
    let slot = slots.get(key);
    if (slot === undefined) {
      slot = {
        key,
        name: `${opens ? '{' : ','}${JSON.stringify(key)}:`,
        reserved: RESERVED.has(key),
        secret: secretKey(key, compiled),
        index: ARRAY_INDEX.test(key) && Number(key) < 2 ** 32 - 1,
        remembered: false,
        changing: false,
        value: undefined,
        clean: undefined,
        text: undefined,
      };
      // Past the bound, a key is worked out for its line and forgotten.
      if (slots.size < MAX_ACCESS_KEYS) slots.set(key, slot);
    }
    return slot;
  };
  /** Gives `slot` the redacted `value`, unless it already holds it. */
  const fill = (slot: KeySlot, value: unknown): KeySlot => {
    if (slot.remembered && Object.is(value, slot.value)) {
      slot.changing = false;
      return slot;
    }
    const clean = redactFieldValue(value, slot.secret, compiled);
    const json = pretty ? undefined : jsonOf(clean);
    slot.clean = clean;
    // A string redaction changed is not kept either: what it hid stays out of long-lived memory.
    slot.remembered =
      typeof value === 'string'
        ? value.length <= MAX_REMEMBERED_LENGTH && clean === value
        : (typeof value !== 'object' && typeof value !== 'function') || value === null;
    slot.value = slot.remembered ? value : undefined;
    // A text likely to serve the next lines too is joined into one flat string, where `+` leaves
    // a pair of pieces that each line's text is copied from apart again. A value that changes
    // from line to line (an id, a duration) is not worth the join.
    if (json === undefined) slot.text = undefined;
    else if (slot.remembered && !slot.changing) slot.text = [slot.name, json].join('');
    else slot.text = slot.name + json;
    slot.changing = true;
    return slot;
  };
  /**
   * Fills `slot` with `value` and gives its JSON text (empty for a value JSON leaves out), or,
   * with `record`, puts the redacted value there.
   */
  const part = (slot: KeySlot, value: unknown, record: Record<string, unknown> | undefined) => {
    const filled = fill(slot, value);
    if (record === undefined) return filled.text ?? '';
    record[slot.key] = filled.clean;
    return '';
  };
  // The keys of the last line's metadata and fields: the next line has the same ones, mostly.
  const listOf = (keys: string[], last: KeyList, fields: boolean): KeyList => {
    if (sameKeys(keys, last.keys)) return last;
    const list: KeyList = {
      keys,
      slots: keys.map((key) => slotOf(key)),
      reserved: false,
      index: false,
    };
    for (const slot of list.slots) {
      if (slot.reserved && !(fields && slot.key === 'trace_id')) list.reserved = true;
      if (slot.index) list.index = true;
    }
    return list;
  };
  const empty: KeyList = { keys: [], slots: [], reserved: false, index: false };
  let lastMeta = empty;
  let lastFields = empty;
  const levelSlot = slotOf('level', true);
  const timestampSlot = slotOf('timestamp');
  const messageSlot = slotOf('message');
  const traceSlot = slotOf('trace_id');
  const clientSlot = slotOf('client_request_id');

  const prepare = (
    logLevel: string,
    message: string,
    fields: Record<string, unknown>,
    meta: Record<string, unknown> | null | undefined,
  ): PendingLine | undefined => {
    const metaList = isObject(meta) ? listOf(Object.keys(meta), lastMeta, false) : empty;
    lastMeta = metaList;
    if (metaList.reserved) return undefined;
    for (const key of metaList.keys) if (Object.hasOwn(fields, key)) return undefined;
    const fieldList = listOf(Object.keys(fields), lastFields, true);
    lastFields = fieldList;
    if (fieldList.reserved) return undefined;

    // What addTraceFields() adds, worked out without an object for it.
    const context = currentTraceContext();
    let traceId = fields.trace_id;
    if (context !== undefined && traceId === undefined) traceId = context.traceId;
    const clientId =
      typeof traceId !== 'string'
        ? undefined
        : context?.traceId === traceId
          ? context.clientRequestId
          : clientRequestIdOf(traceId);
    const metaValues: unknown[] = [];
    for (const key of metaList.keys) metaValues.push(meta![key]);
    return {
      render,
      level: logLevel,
      message,
      fields,
      metaValues,
      metaList,
      fieldList,
      traceId,
      clientId,
      time: timestamp ? Date.now() : 0,
    };
  };

  const render = (line: PendingLine): string => {
    const { metaList, fieldList, traceId, clientId, metaValues, fields } = line;
    // The record itself only where the text is not joined from the slots: pretty lines are made
    // from it, and JSON.stringify writes array-index keys first.
    const record: Record<string, unknown> | undefined =
      pretty || metaList.index || fieldList.index ? {} : undefined;
    // `level` opens the line, and always has a value.
    let json = part(levelSlot, line.level, record);
    if (timestamp) json += part(timestampSlot, isoText(line.time), record);
    json += part(messageSlot, line.message, record);
    if (traceId !== undefined) json += part(traceSlot, traceId, record);
    if (clientId !== undefined) json += part(clientSlot, clientId, record);
    const metaSlots = metaList.slots;
    for (let i = 0; i < metaSlots.length; i++) json += part(metaSlots[i]!, metaValues[i], record);
    for (const slot of fieldList.slots)
      if (slot !== traceSlot) json += part(slot, fields[slot.key], record);
    if (record === undefined) return `${json}}`;
    return pretty ? formatPretty(record, colours) : JSON.stringify(record);
  };

  const text = (...args: Parameters<typeof prepare>): string | undefined => {
    const line = prepare(...args);
    return line === undefined ? undefined : render(line);
  };
  return Object.assign(text, { prepare, render, keyCount: () => slots.size });
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

  const accessText = accessLines(compiled, timestamp, pretty ? colours : undefined);
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
    // Whether a level is enabled, remembered while the logger's level, its levels and its one
    // transport's level stay the ones the verdicts were given for (logger.level = 'warn' is seen
    // at the next line). At most one verdict per level name the writer is called with.
    const winstonIsLevelEnabled = logger.isLevelEnabled;
    const verdicts = new Map<string, boolean>();
    let seenLevel: unknown = logger.level;
    let seenLevels: unknown = logger.levels;
    let seenTransportLevel: unknown = transport!.level;
    const levelEnabled = (logLevel: string): boolean => {
      if (logger.isLevelEnabled !== winstonIsLevelEnabled) return logger.isLevelEnabled(logLevel);
      if (
        logger.level !== seenLevel ||
        logger.levels !== seenLevels ||
        transport!.level !== seenTransportLevel
      ) {
        verdicts.clear();
        seenLevel = logger.level;
        seenLevels = logger.levels;
        seenTransportLevel = transport!.level;
      }
      let enabled = verdicts.get(logLevel);
      if (enabled === undefined) {
        enabled = logger.isLevelEnabled(logLevel);
        if (verdicts.size < LEVEL_NAMES.length * 2) verdicts.set(logLevel, enabled);
      }
      return enabled;
    };
    accessWriters.set(logger, (logLevel, message, fields) => {
      // While the line can bypass winston's streams, the logger's only transport is the one made
      // here, and the level verdict can be remembered; both checks only read.
      const clear = bypassable!();
      if (!(clear ? levelEnabled(logLevel) : logger.isLevelEnabled(logLevel))) return true;
      if (!clear) return false;
      const line = accessText.prepare(
        logLevel,
        message,
        fields,
        logger.defaultMeta as Record<string, unknown> | null | undefined,
      );
      if (line === undefined) return direct(entry(logger, logLevel, [message, fields]), true);
      sink!.later(line);
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
