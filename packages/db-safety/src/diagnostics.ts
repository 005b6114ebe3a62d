// Diagnostics channels (`bulwark:db:*`) and the optional logger every warning goes through.
import { channel } from 'node:diagnostics_channel';
import { warn as emit } from '../../../internal/warn.js';

/** Winston's call shape; any logger with these methods plugs in. */
export interface DbLogger {
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error?(message: string, meta?: Record<string, unknown>): unknown;
  info?(message: string, meta?: Record<string, unknown>): unknown;
  debug?(message: string, meta?: Record<string, unknown>): unknown;
}

/** Published on `bulwark:db:slow-query` when a query took at least `slowQueryMs`. */
export interface SlowQueryEvent {
  /** The parameterised SQL text (placeholders, never the values), cut to 1000 characters. */
  text: string;
  /** A short stable hash of the full text, to group occurrences without storing the SQL. */
  queryId: string;
  durationMs: number;
  /** One entry per parameter: its type only (`string`, `number`, `null`, ...), never its value. */
  params: string[];
  /** The SQLSTATE when the query failed. */
  sqlState?: string;
  /** Server process id of the connection. */
  pid?: number;
}

/** Published on `bulwark:db:leak` when a client stays checked out longer than `leakWarningMs`. */
export interface LeakEvent {
  heldMs: number;
  /** Stack of the code that checked the client out. */
  stack: string;
  pid?: number;
}

/** Published on `bulwark:db:pool-error` when a pooled connection fails (dropped, terminated). */
export interface PoolErrorEvent {
  /** SQLSTATE or Node error code, when there is one. */
  code?: string;
  message: string;
  /** Whether the connection was checked out at the time (otherwise it was idle in the pool). */
  checkedOut: boolean;
  pid?: number;
}

/** Published on `bulwark:db:retry` before a transaction is run again. */
export interface RetryEvent {
  /** The attempt that failed, from 1. */
  attempt: number;
  /** `40001` (serialization failure) or `40P01` (deadlock). */
  sqlState: string;
  /** How long the retry waits before starting. */
  delayMs: number;
}

export const channels = {
  slowQuery: channel('bulwark:db:slow-query'),
  leak: channel('bulwark:db:leak'),
  poolError: channel('bulwark:db:pool-error'),
  retry: channel('bulwark:db:retry'),
} as const;

/** Sends a warning to the logger, or to `process.emitWarning` with its code when there is none. */
export function warn(
  logger: DbLogger | undefined,
  code: string,
  message: string,
  meta: Record<string, unknown> = {},
  detail?: string,
): void {
  emit(logger, code, message, meta, { type: 'BulwarkDbWarning', detail });
}
