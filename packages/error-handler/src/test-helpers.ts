// Helpers shared by this package's tests: a logger whose JSON lines are kept in memory.
import { Writable } from 'node:stream';
import type winston from 'winston';
import { createLogger } from './logger.js';
import type { CreateLoggerOptions } from './types.js';

export interface CapturedLogger {
  logger: winston.Logger;
  /** Every line written so far, as text. */
  raw(): string;
  /** Every line written so far, parsed. */
  lines(): Array<Record<string, unknown>>;
}

/** A real createLogger() writing to an in-memory stream. */
export function captureLogger(
  options: Omit<CreateLoggerOptions, 'stream' | 'transports'> = {},
): CapturedLogger {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  const logger = createLogger({ level: 'debug', ...options, stream });
  const raw = () => chunks.join('');
  return {
    logger,
    raw,
    lines: () =>
      raw()
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/** Deep-freezes a value so a test fails if anything writes to it. */
export function deepFreeze<T>(value: T, seen = new Set<unknown>()): T {
  if (typeof value !== 'object' || value === null || seen.has(value)) return value;
  seen.add(value);
  for (const key of Reflect.ownKeys(value))
    deepFreeze((value as Record<PropertyKey, unknown>)[key], seen);
  return Object.freeze(value);
}
