// Diagnostics channels on which the package reports limits, bans and store health.
import { channel } from 'node:diagnostics_channel';

/** `bulwark:rate-limit:limited`: a request went over a policy's limit. */
export interface LimitedEvent {
  policy: string;
  /** Which identity the counter belongs to: `ip`, `user`, `tenant`, `api-key`, `auth` or `custom`. */
  keyType: string;
  /** The counter's key, e.g. `ip:203.0.113.7` or `user:42` (never a credential). */
  key: string;
  limit: number;
  windowMs: number;
}

/** `bulwark:rate-limit:banned`: `abuseGuard` banned a client. */
export interface BannedEvent {
  policy: string;
  keyType: string;
  key: string;
  failures: number;
  banMs: number;
}

/** `bulwark:rate-limit:store-error`: one store call failed or timed out. */
export interface StoreErrorEvent {
  policy: string;
  /** `timeout` when the call took longer than `storeTimeoutMs`, else the error's name. */
  reason: string;
  /** The error's `code`, when it has one (e.g. `ECONNREFUSED`). */
  code?: string;
}

/** `bulwark:rate-limit:fallback`: the circuit opened; policies limit in memory on this instance. */
export interface FallbackEvent {
  policy: string;
  failures: number;
  /** How long the circuit stays open before the store is tried again. */
  cooldownMs: number;
}

/** `bulwark:rate-limit:recovered`: the store answered again; the circuit closed. */
export interface RecoveredEvent {
  policy: string;
  /** How long the circuit was open. */
  downMs: number;
}

export const channels = {
  limited: channel('bulwark:rate-limit:limited'),
  banned: channel('bulwark:rate-limit:banned'),
  storeError: channel('bulwark:rate-limit:store-error'),
  fallback: channel('bulwark:rate-limit:fallback'),
  recovered: channel('bulwark:rate-limit:recovered'),
} as const;
