// The Redis client of the shared rate limits: connected at startup, or a startup error that names Redis and the fix.
import { Redis } from 'ioredis';
import type { Logger } from './logger.js';

export class RedisStartupError extends Error {
  override readonly name = 'RedisStartupError';
  readonly code = 'ERR_IOT_APP_REDIS_UNREACHABLE';
}

/** The URL as it may be shown: without its password. */
export function redisUrlForDisplay(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'REDIS_URL (not a valid URL)';
  }
}

/**
 * Connects to `url` once. When Redis does not answer, the client is closed (no reconnect loop
 * left behind) and the error says which Redis, why, and what to do.
 *
 * @throws {RedisStartupError} `ERR_IOT_APP_REDIS_UNREACHABLE`.
 */
export async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  let reason: string | undefined;
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    lazyConnect: true,
  });
  redis.on('error', (err: Error) => {
    reason ??= err.message;
    logger.warn('redis error', { message: err.message });
  });
  try {
    await redis.connect();
    return redis;
  } catch (err) {
    redis.disconnect();
    // ioredis rejects with "Connection is closed."; the cause it reported first says more.
    const why = reason ?? (err instanceof Error ? err.message : String(err));
    throw new RedisStartupError(
      `Redis at ${redisUrlForDisplay(url)} did not answer (${why}). The rate limits keep their counters there: start Redis, correct REDIS_URL, or unset REDIS_URL to keep the counters in this process's memory.`,
    );
  }
}
