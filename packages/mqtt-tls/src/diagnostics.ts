// Diagnostics channels (`bulwark:mqtt:*`) and warnings for apps that pass no logger.
import { channel } from 'node:diagnostics_channel';

/** The `node:diagnostics_channel` channels this package publishes on. */
export const channels = {
  connect: channel('bulwark:mqtt:connect'),
  reconnect: channel('bulwark:mqtt:reconnect'),
  tlsError: channel('bulwark:mqtt:tls-error'),
  publishRejected: channel('bulwark:mqtt:publish-rejected'),
} as const;

/** A winston-shaped logger; every method is optional. */
export interface MqttLogger {
  warn?(message: string, meta?: Record<string, unknown>): void;
  error?(message: string, meta?: Record<string, unknown>): void;
  info?(message: string, meta?: Record<string, unknown>): void;
  debug?(message: string, meta?: Record<string, unknown>): void;
}

/** Sends a warning to `logger.warn`, or to `process.emitWarning` with its code when there is no logger. */
export { warn } from '../../../internal/warn.js';
