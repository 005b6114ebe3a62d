// The outage policy: a timeout on every store call, a circuit breaker, and a bounded in-memory fallback.
import type { ClientRateLimitInfo, IncrementResponse, Options, Store } from 'express-rate-limit';
import { unavailableError } from './errors.js';
import { channels } from './events.js';
import { type Logger, warn } from './logger.js';
import { BoundedMemoryStore } from './memory-store.js';

/** Circuit-breaker settings, shared by every policy that uses the same store connection. */
export interface BreakerOptions {
  /** Consecutive failed or timed-out calls that open the circuit. Default: `3`. */
  failures?: number;
  /** How long the circuit stays open before one call probes the store again. Default: `5_000`. */
  cooldownMs?: number;
}

/** What a policy does while its store cannot be reached. */
export type OnStoreError = 'allow' | 'deny';

type Mode = 'call' | 'probe' | 'skip';

/**
 * Tracks the health of one store connection. Closed: calls go through. Open: calls are skipped
 * until `cooldownMs` has passed. Then one call probes; its success closes the circuit.
 */
export class CircuitBreaker {
  readonly failureThreshold: number;
  readonly cooldownMs: number;
  readonly #logger: Logger | undefined;
  #state: 'closed' | 'open' | 'half-open' = 'closed';
  #failures = 0;
  #openedAt = 0;
  #firstOpenedAt = 0;

  constructor({ failures = 3, cooldownMs = 5_000 }: BreakerOptions, logger: Logger | undefined) {
    this.failureThreshold = failures;
    this.cooldownMs = cooldownMs;
    this.#logger = logger;
  }

  get state(): 'closed' | 'open' | 'half-open' {
    return this.#state;
  }

  /** Seconds a client should wait before the store is tried again. */
  retryAfterSeconds(): number {
    if (this.#state === 'closed') return 1;
    return Math.max(1, Math.ceil((this.#openedAt + this.cooldownMs - Date.now()) / 1000));
  }

  enter(): Mode {
    if (this.#state === 'closed') return 'call';
    if (this.#state === 'open' && Date.now() - this.#openedAt >= this.cooldownMs) {
      this.#state = 'half-open';
      return 'probe';
    }
    return 'skip';
  }

  succeeded(policy: string, mode: Mode): void {
    if (this.#state === 'closed') {
      this.#failures = 0;
      return;
    }
    // A call started before the circuit opened may still answer late; only the probe decides.
    if (mode !== 'probe') return;
    this.#failures = 0;
    const downMs = Date.now() - this.#firstOpenedAt;
    this.#state = 'closed';
    if (channels.recovered.hasSubscribers) channels.recovered.publish({ policy, downMs });
    this.#logger?.info?.('rate-limit store reachable again; shared limits resumed', {
      code: 'BULWARK_RATE_LIMIT_RECOVERED',
      policy,
      downMs,
    });
  }

  failed(policy: string, mode: Mode): void {
    this.#failures++;
    if (mode === 'probe') {
      this.#state = 'open';
      this.#openedAt = Date.now();
      return;
    }
    if (this.#state !== 'closed' || this.#failures < this.failureThreshold) return;
    this.#state = 'open';
    this.#openedAt = Date.now();
    this.#firstOpenedAt = this.#openedAt;
    if (channels.fallback.hasSubscribers) {
      channels.fallback.publish({ policy, failures: this.#failures, cooldownMs: this.cooldownMs });
    }
    warn(
      this.#logger,
      'BULWARK_RATE_LIMIT_FALLBACK',
      `rate-limit store unreachable after ${this.#failures} failed calls; policies now limit in memory on this instance or refuse, as each is configured`,
      { policy },
    );
  }
}

class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError';
}

type CallResult<T> = { ok: true; value: T } | { ok: false };
const FAILED: CallResult<never> = Object.freeze({ ok: false });

/** Settings for {@link ResilientStore}. */
export interface ResilientStoreOptions {
  policy: string;
  primary: Store;
  breaker: CircuitBreaker;
  timeoutMs: number;
  onStoreError: OnStoreError;
  fallbackMaxKeys: number;
  /** Prepended to every key, so policies sharing one store never share counters. */
  keyPrefix?: string;
}

/**
 * Wraps a shared store (Redis) so that a slow or dead store never turns into a 500 or a hung
 * request: each call is bounded by `timeoutMs`; failures feed the breaker; while the store is
 * unusable, `allow` policies count in a bounded memory store on this instance and `deny`
 * policies answer 503 `rate_limit_unavailable`.
 */
export class ResilientStore implements Store {
  readonly localKeys = false;
  readonly fallback: BoundedMemoryStore;
  readonly #options: ResilientStoreOptions;
  readonly #keyPrefix: string;
  #initOptions: Options | undefined;
  #needsInit = false;

  constructor(options: ResilientStoreOptions) {
    this.#options = options;
    this.#keyPrefix = options.keyPrefix ?? '';
    this.fallback = new BoundedMemoryStore({ maxKeys: options.fallbackMaxKeys });
  }

  init(options: Options): void {
    this.#initOptions = options;
    this.fallback.init(options);
    this.#runInit(options).catch((error: unknown) => {
      // The next call retries the initialisation.
      this.#report(error);
    });
  }

  async #runInit(options: Options): Promise<void> {
    const { primary } = this.#options;
    if (typeof primary.init !== 'function') return;
    try {
      await this.#timed(Promise.resolve(primary.init(options)));
      this.#needsInit = false;
    } catch (error) {
      // rate-limit-redis keeps a rejected script-load promise forever; loading again is the only
      // way back once Redis answers.
      this.#needsInit = true;
      throw error;
    }
  }

  #timed<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new StoreTimeoutError('store call timed out')),
        this.#options.timeoutMs,
      );
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  #report(error: unknown): void {
    if (!channels.storeError.hasSubscribers) return;
    const reason =
      error instanceof StoreTimeoutError
        ? 'timeout'
        : error instanceof Error
          ? error.name
          : typeof error;
    const code = (error as { code?: unknown } | undefined)?.code;
    channels.storeError.publish({
      policy: this.#options.policy,
      reason,
      ...(typeof code === 'string' ? { code } : {}),
    });
  }

  /**
   * One store call through the breaker and the timeout. Without a pending initialisation it
   * makes two promises (its own and the wait for the store), since a call is made per request.
   */
  #call<T>(run: () => T | Promise<T>): Promise<CallResult<T>> {
    const { breaker, policy, timeoutMs } = this.#options;
    const mode = breaker.enter();
    if (mode === 'skip') return Promise.resolve(FAILED);
    if (this.#needsInit && this.#initOptions) return this.#callAfterInit(run, mode);
    return new Promise<CallResult<T>>((resolve) => {
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#report(error);
        breaker.failed(policy, mode);
        resolve(FAILED);
      };
      const timer = setTimeout(
        () => fail(new StoreTimeoutError('store call timed out')),
        timeoutMs,
      );
      let answer: T | Promise<T>;
      try {
        answer = run();
      } catch (error) {
        fail(error);
        return;
      }
      Promise.resolve(answer).then((value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        breaker.succeeded(policy, mode);
        resolve({ ok: true, value });
      }, fail);
    });
  }

  async #callAfterInit<T>(run: () => T | Promise<T>, mode: Mode): Promise<CallResult<T>> {
    const { breaker, policy } = this.#options;
    try {
      await this.#runInit(this.#initOptions!);
      const value = await this.#timed(Promise.resolve(run()));
      breaker.succeeded(policy, mode);
      return { ok: true, value };
    } catch (error) {
      this.#report(error);
      breaker.failed(policy, mode);
      return FAILED;
    }
  }

  #unavailable(): never {
    throw unavailableError(this.#options.policy, this.#options.breaker.retryAfterSeconds());
  }

  increment(key: string): Promise<IncrementResponse> {
    return this.#call(() => this.#options.primary.increment(this.#keyPrefix + key)).then(
      (result) => {
        if (result.ok) return result.value;
        if (this.#options.onStoreError === 'deny') this.#unavailable();
        return this.fallback.increment(key);
      },
    );
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const { primary } = this.#options;
    if (typeof primary.get !== 'function') return this.fallback.get(key);
    const result = await this.#call(() => Promise.resolve(primary.get!(this.#keyPrefix + key)));
    if (result.ok) return result.value;
    if (this.#options.onStoreError === 'deny') this.#unavailable();
    return this.fallback.get(key);
  }

  async decrement(key: string): Promise<void> {
    if (this.#options.breaker.state !== 'closed') return this.fallback.decrement(key);
    await this.#call(async () => this.#options.primary.decrement(this.#keyPrefix + key));
  }

  /**
   * Forgets a key here and in the store. While the store is down, a `deny` policy answers 503
   * as it does for requests; an `allow` policy, which counts in the fallback meanwhile, has
   * forgotten what it counts and returns (a failed call is published on the store-error channel).
   * The store's own count then runs out with its window.
   */
  async resetKey(key: string): Promise<void> {
    await this.fallback.resetKey(key);
    const result = await this.#call(async () =>
      this.#options.primary.resetKey(this.#keyPrefix + key),
    );
    if (!result.ok && this.#options.onStoreError === 'deny') this.#unavailable();
  }
}
