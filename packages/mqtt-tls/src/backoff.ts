// Reconnect delays: exponential backoff with jitter and a cap.

/** How reconnect attempts are spaced. */
export interface ReconnectOptions {
  /** Delay before the first reconnect attempt, in ms. Default `1000`. */
  initialDelayMs?: number;
  /** Longest delay between attempts, in ms. Default `30_000`. */
  maxDelayMs?: number;
  /** Growth factor per failed attempt. Default `2`. */
  multiplier?: number;
  /** Fraction of each delay drawn at random (0 = none, 1 = full jitter). Default `0.5`. */
  jitter?: number;
}

export const RECONNECT_DEFAULTS: Required<ReconnectOptions> = {
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  multiplier: 2,
  jitter: 0.5,
};

/**
 * The delay before reconnect attempt `attempt` (1-based): `initialDelayMs * multiplier^(attempt-1)`,
 * capped at `maxDelayMs`, then reduced by up to `jitter` of itself at random so that many devices
 * cut off by one broker restart do not all come back in the same instant.
 */
export function backoffDelay(
  attempt: number,
  options: Required<ReconnectOptions>,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 64));
  const base = Math.min(
    options.maxDelayMs,
    options.initialDelayMs * options.multiplier ** exponent,
  );
  return Math.max(0, Math.round(base * (1 - options.jitter * random())));
}
