// fail2ban inside the app: counts a client's failed responses and bans it for a while.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Store } from 'express-rate-limit';
import { bannedError, RateLimitConfigError, rejectUnknownOptions, show } from './errors.js';
import { channels } from './events.js';
import { createKeyGenerator, type KeyOption, keyType, validateKey } from './keys.js';
import { BoundedMemoryStore } from './memory-store.js';
import { abuseGuardDescription } from './openapi.js';
import {
  DEFAULTS,
  disabledMiddleware,
  type FactoryContext,
  MAX_WINDOW_MS,
  objectOptions,
  positiveInteger,
  rejectMiddlewareCall,
  resolveCommon,
  type SharedOptions,
} from './options.js';
import { validateName } from './rate-limit.js';
import { CircuitBreaker, ResilientStore } from './resilient-store.js';

/** Options for {@link abuseGuard}. */
export interface AbuseGuardOptions extends SharedOptions {
  /** Names the guard's counters, events and error details. Default: `'abuse-guard'`. */
  name?: string;
  /** Response statuses that count as a failure. Default: `[401, 403, 404]`. */
  statuses?: readonly number[];
  /**
   * Failures within `windowMs` that earn a ban. Requests under way count against it too (each may
   * still fail), so it is also the most requests one key can have under way at once, less the
   * failures already recorded. Default: `20`.
   */
  failures?: number;
  /** Window in which failures are counted, in milliseconds. Default: `600_000` (10 minutes). */
  windowMs?: number;
  /** How long a ban lasts, in milliseconds. Default: `900_000` (15 minutes). */
  banMs?: number;
  /** Whose failures are counted together, as for `rateLimit`. Default: `'ip'`. */
  key?: KeyOption;
}

/** The guard's middleware, with helpers to inspect and lift bans. */
export interface AbuseGuardMiddleware extends RequestHandler {
  readonly policy: string;
  readonly enabled: boolean;
  /** Resolves to the key a request is counted under, e.g. `ip:203.0.113.7`. */
  keyFor(req: Request): Promise<string>;
  /** Lifts a ban and forgets the key's failures. */
  unban(key: string): Promise<void>;
}

const optionNames = [
  'name',
  'statuses',
  'failures',
  'windowMs',
  'banMs',
  'key',
  'ipv6Subnet',
  'onStoreError',
  'storeTimeoutMs',
  'breaker',
  'fallbackMaxKeys',
  'enabled',
  'app',
  'forwardedHeaders',
  'logger',
] as const;

export function buildAbuseGuard(input: unknown, context: FactoryContext): AbuseGuardMiddleware {
  const { where } = context;
  const options = objectOptions(where, input ?? {});
  rejectUnknownOptions(where, options, optionNames);
  const name = validateName(where, options.name ?? DEFAULTS.abuseGuard.name);
  const statusList = options.statuses ?? DEFAULTS.abuseGuard.statuses;
  if (
    !Array.isArray(statusList) ||
    statusList.length === 0 ||
    !statusList.every((s) => Number.isInteger(s) && s >= 400 && s <= 599)
  ) {
    throw new RateLimitConfigError(
      'ERR_BULWARK_RATE_LIMIT_STATUSES',
      `${where}: statuses ${show(statusList)} is not valid. Use a non-empty list of 4xx/5xx statuses, such as [401, 403, 404].`,
    );
  }
  const statuses = new Set<number>(statusList as number[]);
  const failures = positiveInteger(
    where,
    'failures',
    options.failures ?? DEFAULTS.abuseGuard.failures,
    'ERR_BULWARK_RATE_LIMIT_FAILURES',
    '20',
  );
  const windowMs = positiveInteger(
    where,
    'windowMs',
    options.windowMs ?? DEFAULTS.abuseGuard.windowMs,
    'ERR_BULWARK_RATE_LIMIT_WINDOW',
    '600_000',
    { max: MAX_WINDOW_MS },
  );
  const banMs = positiveInteger(
    where,
    'banMs',
    options.banMs ?? DEFAULTS.abuseGuard.banMs,
    'ERR_BULWARK_RATE_LIMIT_BAN',
    '900_000',
    { max: MAX_WINDOW_MS },
  );
  const key = options.key ?? DEFAULTS.key;
  validateKey(key, where);
  const common = resolveCommon(where, options, context.enabled);
  const {
    ipv6Subnet,
    onStoreError,
    storeTimeoutMs,
    fallbackMaxKeys,
    logger,
    enabled,
    checkTrustProxy,
    checkForwarded,
  } = common;
  const generate = createKeyGenerator(key, ipv6Subnet);
  const keyFor = async (req: Request) => generate(req);

  if (!enabled) {
    return disabledMiddleware(common, 'abuse guard', name, {
      keyFor,
      unban: async () => {},
      openapi: abuseGuardDescription(name, onStoreError),
    });
  }

  const breaker = context.breaker ?? new CircuitBreaker(common.breaker, logger);
  const makeStore = (
    purpose: 'failures' | 'bans' | 'attempts',
    storeWindowMs: number,
  ): BoundedMemoryStore | ResilientStore => {
    const store = context.createStore
      ? new ResilientStore({
          policy: name,
          primary: context.createStore(`${name}:${purpose}`),
          breaker,
          timeoutMs: storeTimeoutMs,
          onStoreError,
          fallbackMaxKeys,
        })
      : new BoundedMemoryStore({ maxKeys: DEFAULTS.memoryMaxKeys });
    // Stores learn their window from express-rate-limit's options; only windowMs is read.
    store.init({ windowMs: storeWindowMs } as Parameters<NonNullable<Store['init']>>[0]);
    return store;
  };
  // Failures towards a ban.
  const failureStore = makeStore('failures', windowMs);
  const banStore = makeStore('bans', banMs);
  // The budget a request needs to reach the routes: failures plus requests under way, each of
  // which may still fail. A request is counted on arrival and taken back once it turns out not to
  // be a failure, one atomic step each, as express-rate-limit does for skipSuccessfulRequests;
  // two counters (failures, requests under way) would count a request twice, or not at all,
  // between its response and the second update.
  const attemptStore = makeStore('attempts', windowMs);

  const record = async (counterKey: string) => {
    try {
      const { totalHits } = await failureStore.increment(counterKey);
      if (totalHits < failures) return;
      await banStore.increment(counterKey);
      // Cleared after the ban is set: a request that counts itself after this clearing reads the
      // ban next and is refused.
      await failureStore.resetKey(counterKey);
      await attemptStore.resetKey(counterKey);
      if (channels.banned.hasSubscribers) {
        channels.banned.publish({
          policy: name,
          keyType: keyType(counterKey),
          key: counterKey,
          failures,
          banMs,
        });
      }
    } catch {
      // The store is down and the guard fails closed: requests are refused on the way in,
      // so there is nothing more to do for this response.
    }
  };

  const release = async (counterKey: string) => {
    try {
      await attemptStore.decrement(counterKey);
    } catch {
      // A count the store did not take back expires with the window.
    }
  };

  const middleware = async function abuseGuardMiddleware(
    req: Request,
    res: Response,
    next: NextFunction,
  ) {
    let counted: string | undefined;
    try {
      if (req.app) {
        const error = checkTrustProxy(req.app) ?? checkForwarded(req);
        if (error) return next(error);
      }
      const counterKey = await generate(req);
      const { totalHits: attempts } = await attemptStore.increment(counterKey);
      counted = counterKey;
      // The ban is read after counting, so a request racing a new ban either counts before
      // record() clears the attempts (and is over budget) or reads the ban.
      const ban = await banStore.get(counterKey);
      const until = ban?.resetTime?.getTime() ?? 0;
      if (ban && Number.isFinite(ban.totalHits) && ban.totalHits > 0 && until > Date.now()) {
        counted = undefined;
        await release(counterKey);
        return next(bannedError(name, Math.max(1, Math.ceil((until - Date.now()) / 1000))));
      }
      // Admitting more than the failures left would let parallel guesses all run before the
      // first failure is recorded.
      if (attempts > failures) {
        counted = undefined;
        await release(counterKey);
        return next(bannedError(name, 1));
      }
      let settled = false;
      const settle = (failed: boolean) => {
        if (settled) return;
        settled = true;
        // A failure keeps its attempt for the rest of the window; anything else gives it back.
        void (failed ? record(counterKey) : release(counterKey));
      };
      res.once('finish', () => settle(statuses.has(res.statusCode)));
      // A client that hangs up never gets a response: stop counting the request as under way.
      res.once('close', () => settle(false));
      counted = undefined;
      next();
    } catch (error) {
      if (counted !== undefined) await release(counted);
      next(error);
    }
  };
  return Object.assign(middleware, {
    policy: name,
    enabled: true,
    keyFor,
    openapi: abuseGuardDescription(name, onStoreError),
    unban: async (counterKey: string) => {
      await Promise.all([
        banStore.resetKey(counterKey),
        failureStore.resetKey(counterKey),
        attemptStore.resetKey(counterKey),
      ]);
    },
  });
}

/**
 * Bans clients that keep failing: counts responses with one of `statuses` per key and, after
 * `failures` of them within `windowMs`, answers every request from that key with 429
 * `client_banned` (and `Retry-After`) for `banMs`. Each request under way counts against
 * `failures` until its response is sent, so parallel guesses cannot all run before the first
 * failure is recorded; one that would exceed it gets the same 429 with `Retry-After: 1`. Mount it
 * early, before the routes it watches.
 * With `createRateLimits({ redis })`, use `limits.abuseGuard()` so bans are shared by every
 * instance.
 *
 * Defaults: `statuses` [401, 403, 404], `failures` 20, `windowMs` 10 minutes, `banMs` 15
 * minutes, `key` `'ip'`, memory store.
 *
 * @throws {RateLimitConfigError} on an invalid option (`ERR_BULWARK_RATE_LIMIT_*`).
 * @example
 * app.use(abuseGuard({ failures: 10, windowMs: 5 * 60_000, banMs: 30 * 60_000 }));
 */
export function abuseGuard(options: AbuseGuardOptions = {}): AbuseGuardMiddleware {
  // biome-ignore lint/complexity/noArguments: detects app.use(abuseGuard) without the call.
  rejectMiddlewareCall('abuseGuard', arguments);
  return buildAbuseGuard(options, { where: 'abuseGuard' });
}
