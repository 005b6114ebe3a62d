// An in-memory express-rate-limit store with a hard cap on the number of keys it holds.
import type { ClientRateLimitInfo, IncrementResponse, Options, Store } from 'express-rate-limit';
import { LRUCache } from 'lru-cache';
import { RateLimitConfigError, show } from './errors.js';

/** One key's count in the current window; `resetTime` is made once per window, not per hit. */
export interface Counter {
  hits: number;
  resetAt: number;
  resetTime: Date;
}

/**
 * Counts a hit and returns the key's counter, without a promise: the middleware reads it at once.
 * Not part of the package's API (index.ts does not export it).
 */
export const countHit: unique symbol = Symbol('countHit');

/** Options for {@link BoundedMemoryStore}. */
export interface BoundedMemoryStoreOptions {
  /**
   * Most keys held at once; the least recently seen key is dropped when a new one arrives.
   * Default: `100_000`.
   */
  maxKeys?: number;
}

/**
 * Counts hits in this process, like express-rate-limit's `MemoryStore`, but never holds more
 * than `maxKeys` counters: a flood of distinct addresses cannot grow memory without bound.
 *
 * @throws {RateLimitConfigError} `ERR_BULWARK_RATE_LIMIT_MAX_KEYS` when `maxKeys` is not a positive integer.
 * @example
 * rateLimit({ name: 'search', store: new BoundedMemoryStore({ maxKeys: 50_000 }) });
 */
export class BoundedMemoryStore implements Store {
  /** Counters live in this process only. */
  readonly localKeys = true;
  readonly maxKeys: number;
  #windowMs = 60_000;
  readonly #counters: LRUCache<string, Counter>;
  /**
   * The counter read or written last, which the cache holds as its most recently seen: a request
   * from the same client as the one before finds it here, without a lookup, and reading it from
   * the cache again would not change the order of eviction. Cleared whenever it may no longer be
   * the most recent (a deletion) or in the cache at all.
   */
  #lastKey: string | undefined;
  #lastCounter: Counter | undefined;

  constructor({ maxKeys = 100_000 }: BoundedMemoryStoreOptions = {}) {
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) {
      throw new RateLimitConfigError(
        'ERR_BULWARK_RATE_LIMIT_MAX_KEYS',
        `maxKeys: ${show(maxKeys)} is not a valid key cap. Use a positive integer, such as 100_000.`,
      );
    }
    this.maxKeys = maxKeys;
    this.#counters = new LRUCache<string, Counter>({ max: maxKeys });
  }

  /** Number of counters currently held. */
  get size(): number {
    return this.#counters.size;
  }

  init(options: Pick<Options, 'windowMs'>): void {
    this.#windowMs = options.windowMs;
  }

  /** The key's counter, which becomes the most recently seen; `undefined` when there is none. */
  #read(key: string): Counter | undefined {
    if (key === this.#lastKey) return this.#lastCounter;
    const counter = this.#counters.get(key);
    if (counter !== undefined) {
      this.#lastKey = key;
      this.#lastCounter = counter;
    }
    return counter;
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const counter = this.#read(key);
    if (!counter || counter.resetAt <= Date.now()) return undefined;
    return { totalHits: counter.hits, resetTime: new Date(counter.resetAt) };
  }

  /** Counts a hit at `now` (default: the clock now) and returns the key's counter. */
  [countHit](key: string, now: number = Date.now()): Counter {
    let counter = this.#read(key);
    if (!counter || counter.resetAt <= now) {
      const resetAt = now + this.#windowMs;
      counter = { hits: 0, resetAt, resetTime: new Date(resetAt) };
      this.#counters.set(key, counter);
      this.#lastKey = key;
      this.#lastCounter = counter;
    }
    counter.hits++;
    return counter;
  }

  async increment(key: string): Promise<IncrementResponse> {
    const counter = this[countHit](key);
    return { totalHits: counter.hits, resetTime: new Date(counter.resetAt) };
  }

  async decrement(key: string): Promise<void> {
    const counter = this.#read(key);
    if (counter && counter.hits > 0) counter.hits--;
  }

  async resetKey(key: string): Promise<void> {
    this.#forgetLast();
    this.#counters.delete(key);
  }

  async resetAll(): Promise<void> {
    this.#forgetLast();
    this.#counters.clear();
  }

  #forgetLast(): void {
    this.#lastKey = undefined;
    this.#lastCounter = undefined;
  }
}
