// Option types for every factory of @bulwark/error-handler, each field with its default.
import type { Writable } from 'node:stream';
import type { Request, Response } from 'express';
import type { LoggerOptions } from 'winston';
import type { LoggerLike } from './config.js';

/** Options of `requestContext()`. */
export interface RequestContextOptions {
  /** Header read for an inbound id and set on the response. Default `'X-Request-Id'`. */
  header?: string;
  /**
   * Whose inbound id (the `header`, or `traceparent`) becomes the trace id. `'proxy'`: only when
   * the request's immediate peer is trusted by the app's Express `trust proxy` setting; `true`:
   * from any client, which lets a client make its requests collide with others' in logs and
   * audit rows; `false`: never. An id must be 1 to 128 characters of `[A-Za-z0-9._:-]`; a safe
   * id that is not adopted is logged as `client_request_id`. Default `'proxy'`.
   */
  trustInbound?: boolean | 'proxy';
  /**
   * Use the trace id of a valid W3C `traceparent` when no inbound id is accepted, from the peers
   * `trustInbound` trusts. Default `true`.
   */
  traceparent?: boolean;
  /** Makes a new id. Default: random version 4 UUIDs, as `crypto.randomUUID()` makes them. */
  generate?: () => string;
}

/** Options of `redact()`. */
export interface RedactOptions {
  /**
   * More key names whose values are replaced, at any depth. Strings match case-insensitively,
   * ignoring `-` and `_`; a RegExp is tested against the key as written. Default `[]`.
   */
  keys?: ReadonlyArray<string | RegExp>;
  /**
   * More value shapes: every match inside a string is replaced. Default `[]` (the built-in shapes
   * always apply).
   */
  patterns?: readonly RegExp[];
  /** What a secret is replaced with. Default `'[REDACTED]'`. */
  replacement?: string;
  /** Objects nested deeper than this become `'[Truncated]'`. Default `10`. */
  maxDepth?: number;
  /** Arrays keep this many items, then a note of how many were left out. Default `100`. */
  maxArrayLength?: number;
  /** Strings longer than this are cut, with a note of the original length. Default `10_000`. */
  maxStringLength?: number;
}

/** Options of `createLogger()`. */
export interface CreateLoggerOptions {
  /** Lowest level written (npm levels). Default `process.env.LOG_LEVEL`, else `'info'`. */
  level?: string;
  /** Where lines go when `transports` is not given. Default `process.stdout`. */
  stream?: Writable;
  /** winston transports to use instead of the stream. Default: one stream transport. */
  transports?: LoggerOptions['transports'];
  /** Fields added to every line, e.g. `{ service: 'api' }`. Redacted like the rest. Default none. */
  defaultMeta?: Record<string, unknown>;
  /** More key names to redact (see `RedactOptions.keys`). Default `[]`. */
  redactKeys?: ReadonlyArray<string | RegExp>;
  /** More value shapes to redact (see `RedactOptions.patterns`). Default `[]`. */
  redactPatterns?: readonly RegExp[];
  /** Add an ISO-8601 `timestamp` to every line. Default `true`. */
  timestamp?: boolean;
  /** Longest string kept in a line before it is cut. Default `10_000`. */
  maxStringLength?: number;
  /**
   * `'json'`: one JSON object per line, for log collectors. `'pretty'`: the same redacted fields
   * as one readable line, with errors and multi-line messages on indented lines after it,
   * coloured on a terminal unless `NO_COLOR` is set. Default `process.env.LOG_FORMAT`, else
   * `'pretty'` when `NODE_ENV` is `development` and `stream` is a terminal, else `'json'`.
   */
  format?: 'json' | 'pretty';
}

/** Options of `httpLogger()`. */
export interface HttpLoggerOptions {
  /** Where access lines go. Default: a new `createLogger()`. */
  logger?: LoggerLike;
  /** Message of each access line. Default `'request'`. */
  message?: string;
  /** Return `true` to write no line for a request (health checks). Default: log all. */
  skip?: (req: Request, res: Response) => boolean;
}

/** Options of `errorHandler()`. */
export interface ErrorHandlerOptions {
  /** Where errors are logged. Default: a new `createLogger()`. */
  logger?: LoggerLike;
  /**
   * Add the error's `stack` to 5xx response bodies, for local development only. Refused unless
   * `NODE_ENV` is `development` or `test`. Default `false`.
   */
  exposeStack?: boolean;
  /**
   * The problem `type` URI for a code, e.g. `(code) => \`https://docs.example.com/errors#${code}\``.
   * Default: always `'about:blank'`.
   */
  problemType?: (code: string, status: number) => string;
  /**
   * Log 4xx responses (status, code, detail, field pointers, the cause's class and database
   * constraint; never a stack or a value) at `info`, on httpLogger()'s access line when it logs
   * the request. Default `true`.
   */
  logClientErrors?: boolean;
}

/** Options of `installProcessHandlers()`. */
export interface ProcessHandlersOptions {
  /**
   * Called after the fatal error is logged. Default: flush the logger, then `process.exit(1)`.
   * It is called once, however many fatal errors follow.
   */
  onFatal?: (error: unknown, origin: 'uncaughtException' | 'unhandledRejection') => void;
  /** Longest wait for logs to flush before the default `onFatal` exits. Default `2000` ms. */
  flushTimeoutMs?: number;
  /** Exit code used by the default `onFatal`. Default `1`. */
  exitCode?: number;
}

export interface CloseLoggerOptions {
  /** Longest wait, in milliseconds, for the lines already logged to reach the log. Default `2000`. */
  timeoutMs?: number;
}
