// The app's winston logger from @bulwark/error-handler: JSON lines with trace ids, secrets redacted.
import { Writable } from 'node:stream';
import { createLogger } from '@bulwark/error-handler';
import type { AppConfig } from './config.js';

export type Logger = ReturnType<typeof createLogger>;

/** A logger at `config.logLevel`; `silent` writes nothing (tests). */
export function appLogger(config: AppConfig): Logger {
  const silent = config.logLevel === 'silent';
  const stream = silent
    ? new Writable({ write: (_chunk, _encoding, done) => done() })
    : ((config.logStream as Writable | undefined) ?? process.stdout);
  return createLogger({
    level: silent ? 'error' : config.logLevel,
    stream,
    defaultMeta: { service: 'iot-app' },
  });
}
