// Public API of @bulwark/rate-limit.
export { type AbuseGuardMiddleware, type AbuseGuardOptions, abuseGuard } from './abuse-guard.js';
export {
  type AuthPresetOptions,
  type CreateRateLimitsOptions,
  createRateLimits,
  type PolicyDefaults,
  type PresetOptions,
  type RateLimits,
} from './create-rate-limits.js';
export { RateLimitConfigError } from './errors.js';
export type {
  BannedEvent,
  FallbackEvent,
  LimitedEvent,
  RecoveredEvent,
  StoreErrorEvent,
} from './events.js';
export type { KeyOption } from './keys.js';
export type { Logger } from './logger.js';
export { BoundedMemoryStore, type BoundedMemoryStoreOptions } from './memory-store.js';
export type { ForwardedHeaders } from './proxy.js';
export {
  type RateLimitMiddleware,
  type RateLimitOptions,
  rateLimit,
  type StandardHeaders,
} from './rate-limit.js';
export type { RedisClientLike } from './redis.js';
export type { BreakerOptions, OnStoreError } from './resilient-store.js';
