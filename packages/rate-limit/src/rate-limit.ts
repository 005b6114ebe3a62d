// One rate-limit policy as Express middleware, built on express-rate-limit.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import {
  rateLimit as expressRateLimit,
  type IncrementResponse,
  type Store,
} from 'express-rate-limit';
import { RateLimitConfigError, rateLimitedError, rejectUnknownOptions, show } from './errors.js';
import { channels } from './events.js';
import {
  headerPolicy,
  RateLimitInfo,
  recordCount,
  retryAfterSeconds,
  type StandardHeaders,
} from './headers.js';
import {
  createKeyGenerator,
  isPromiseLike,
  type KeyGenerator,
  type KeyOption,
  keyType,
  validateKey,
} from './keys.js';
import { warn } from './logger.js';
import { BoundedMemoryStore, countHit } from './memory-store.js';
import { rateLimitDescription } from './openapi.js';
import {
  booleanOption,
  DEFAULTS,
  disabledMiddleware,
  type FactoryContext,
  functionOption,
  MAX_WINDOW_MS,
  objectOptions,
  positiveInteger,
  rejectMiddlewareCall,
  resolveCommon,
  type SharedOptions,
} from './options.js';
import { CircuitBreaker, ResilientStore } from './resilient-store.js';

/** Options for {@link rateLimit}. */
export interface RateLimitOptions extends SharedOptions {
  /**
   * The policy's name: it prefixes every counter key (two policies never share counters), names
   * the policy in the `RateLimit` header and in events. Letters, digits, `.`, `_` and `-`.
   * Required.
   */
  name: string;
  /** Length of the window, in milliseconds. Default: `60_000`. */
  windowMs?: number;
  /**
   * Requests allowed per key per window, or a function of the request (e.g. per plan).
   * Default: `100`.
   */
  limit?: number | ((req: Request) => number | Promise<number>);
  /**
   * Whose requests are counted together: `'ip'`, `'user'`, `'tenant'`, `'api-key'` (the last
   * three read `req.auth` and fall back to the address) or `(req) => string`. Default: `'ip'`.
   */
  key?: KeyOption;
  /**
   * Where counters live: any express-rate-limit `Store`, used by this policy only.
   * Default: a {@link BoundedMemoryStore} holding at most 100 000 keys.
   */
  store?: Store;
  /**
   * Only requests with these methods are counted, e.g. `['POST', 'DELETE']`. A list with `GET`
   * also counts `HEAD`, which Express answers with the GET handler. Default: all.
   */
  methods?: readonly string[];
  /** Requests for which this returns true are neither counted nor limited. Default: none. */
  skip?: (req: Request, res: Response) => boolean | Promise<boolean>;
  /** Count only failed responses (status >= 400), e.g. for logins. Default: `false`. */
  skipSuccessfulRequests?: boolean;
  /** Count only successful responses (status < 400). Default: `false`. */
  skipFailedRequests?: boolean;
  /** What counts as a success for the two options above. Default: status < 400. */
  requestWasSuccessful?: (req: Request, res: Response) => boolean | Promise<boolean>;
  /**
   * Which IETF RateLimit headers every counted response carries: `'draft-8'` (`RateLimit` and
   * `RateLimit-Policy`, named after the policy), `'draft-7'` (`RateLimit` and `RateLimit-Policy`
   * without names), `'draft-6'` (`RateLimit-Limit`, `-Remaining`, `-Reset` and
   * `RateLimit-Policy`) or `false` for none. Where several policies count a request, list headers
   * carry an entry for each and single-value headers the strictest. Default: `'draft-8'`.
   */
  standardHeaders?: StandardHeaders;
  /**
   * Whether every counted response carries `X-RateLimit-Limit`, `-Remaining` and `-Reset` (of the
   * strictest policy, where several count the request). Default: `true`.
   */
  legacyHeaders?: boolean;
}

export type { StandardHeaders };

/** A policy's middleware, with helpers to inspect and reset its counters. */
export interface RateLimitMiddleware extends RequestHandler {
  /** The policy's name. */
  readonly policy: string;
  /** Whether the policy limits (false when disabled by option or `RATE_LIMIT_ENABLED`). */
  readonly enabled: boolean;
  /**
   * Resolves to the key a request is counted under, e.g. `ip:203.0.113.7` or `user:42`: always a
   * promise, since a `key` function may be async.
   */
  keyFor(req: Request): Promise<string>;
  /**
   * Forgets a key's count, e.g. after a successful login. While a shared store is down, an
   * `'allow'` policy clears its outage count and resolves; a `'deny'` policy rejects with 503
   * `rate_limit_unavailable`.
   */
  resetKey(key: string): Promise<void>;
}

export const rateLimitOptionNames = [
  'name',
  'windowMs',
  'limit',
  'key',
  'store',
  'enabled',
  'ipv6Subnet',
  'onStoreError',
  'storeTimeoutMs',
  'breaker',
  'fallbackMaxKeys',
  'methods',
  'skip',
  'skipSuccessfulRequests',
  'skipFailedRequests',
  'requestWasSuccessful',
  'standardHeaders',
  'legacyHeaders',
  'app',
  'forwardedHeaders',
  'logger',
] as const;

const usedStores = new WeakSet<object>();
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const rateLimitHeaders = [
  'Retry-After',
  'RateLimit',
  'RateLimit-Policy',
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-RateLimit-Reset',
];
const standardHeaderValues: readonly StandardHeaders[] = ['draft-8', 'draft-7', 'draft-6', false];

function standardHeadersOption(where: string, value: unknown): StandardHeaders {
  if (standardHeaderValues.includes(value as StandardHeaders)) return value as StandardHeaders;
  throw new RateLimitConfigError(
    'ERR_BULWARK_RATE_LIMIT_HEADERS',
    `${where}: standardHeaders: ${show(value)} is not valid. Use 'draft-8' (the default), 'draft-7', 'draft-6' or false for no RateLimit headers.`,
  );
}

export function validateName(where: string, name: unknown): string {
  if (typeof name === 'string' && namePattern.test(name)) return name;
  throw new RateLimitConfigError(
    'ERR_BULWARK_RATE_LIMIT_NAME',
    `${where}: name ${show(name)} is not valid. Give each policy a unique name of letters, digits, '.', '_' or '-' (up to 64), such as 'telemetry-export'.`,
  );
}

function validateStore(where: string, store: unknown): Store {
  const candidate = store as Partial<Store> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.increment !== 'function' ||
    typeof candidate.decrement !== 'function' ||
    typeof candidate.resetKey !== 'function'
  ) {
    throw new RateLimitConfigError(
      'ERR_BULWARK_RATE_LIMIT_STORE',
      `${where}: store ${show(store)} is not an express-rate-limit store. Pass an object with increment, decrement and resetKey, such as new RedisStore({ sendCommand }) from rate-limit-redis.`,
    );
  }
  if (usedStores.has(candidate)) {
    throw new RateLimitConfigError(
      'ERR_BULWARK_RATE_LIMIT_STORE_REUSE',
      `${where}: this store instance already serves another policy, and a store keeps one window length. Create a new store for each policy (createRateLimits does this for you).`,
    );
  }
  usedStores.add(candidate);
  return candidate as Store;
}

/** What express-rate-limit leaves on `req.rateLimit` when it counts a request. */
interface LimitInfo {
  key: string;
  limit: number;
  used: number;
  resetTime?: Date | undefined;
}

type CountedRequest = Request & { rateLimit?: unknown };

function headerValue(value: number | string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

/** Builds one policy; `createRateLimits` calls this with a shared store and breaker. */
export function buildRateLimit(input: unknown, context: FactoryContext): RateLimitMiddleware {
  const { where } = context;
  const options = objectOptions(where, input);
  rejectUnknownOptions(where, options, rateLimitOptionNames);
  const name = validateName(where, options.name);
  const windowMs = positiveInteger(
    where,
    'windowMs',
    options.windowMs ?? DEFAULTS.windowMs,
    'ERR_BULWARK_RATE_LIMIT_WINDOW',
    '60_000',
    { max: MAX_WINDOW_MS },
  );
  const limitOption = options.limit ?? DEFAULTS.limit;
  if (typeof limitOption !== 'function') {
    positiveInteger(where, 'limit', limitOption, 'ERR_BULWARK_RATE_LIMIT_LIMIT', '100', {
      allowZero: true,
    });
  }
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
  const skip =
    options.skip === undefined
      ? undefined
      : functionOption<NonNullable<RateLimitOptions['skip']>>(
          where,
          'skip',
          options.skip,
          'ERR_BULWARK_RATE_LIMIT_SKIP',
        );
  const requestWasSuccessful =
    options.requestWasSuccessful === undefined
      ? undefined
      : functionOption<NonNullable<RateLimitOptions['requestWasSuccessful']>>(
          where,
          'requestWasSuccessful',
          options.requestWasSuccessful,
          'ERR_BULWARK_RATE_LIMIT_SKIP',
        );
  const skipSuccessfulRequests = booleanOption(
    where,
    'skipSuccessfulRequests',
    options.skipSuccessfulRequests ?? false,
    'ERR_BULWARK_RATE_LIMIT_SKIP',
  );
  const skipFailedRequests = booleanOption(
    where,
    'skipFailedRequests',
    options.skipFailedRequests ?? false,
    'ERR_BULWARK_RATE_LIMIT_SKIP',
  );
  if (skipSuccessfulRequests && skipFailedRequests) {
    throw new RateLimitConfigError(
      'ERR_BULWARK_RATE_LIMIT_SKIP',
      `${where}: skipSuccessfulRequests and skipFailedRequests are both true, so nothing would ever be counted. Keep at most one.`,
    );
  }
  const standardHeaders = standardHeadersOption(where, options.standardHeaders ?? 'draft-8');
  const legacyHeaders = booleanOption(
    where,
    'legacyHeaders',
    options.legacyHeaders ?? true,
    'ERR_BULWARK_RATE_LIMIT_HEADERS',
  );
  let methods: Set<string> | undefined;
  if (options.methods !== undefined) {
    const list = options.methods;
    if (
      !Array.isArray(list) ||
      list.length === 0 ||
      !list.every((m) => typeof m === 'string' && /^[A-Za-z]+$/.test(m))
    ) {
      throw new RateLimitConfigError(
        'ERR_BULWARK_RATE_LIMIT_METHODS',
        `${where}: methods ${show(list)} is not valid. Use a non-empty list of HTTP methods, such as ['POST', 'PUT', 'PATCH', 'DELETE'].`,
      );
    }
    methods = new Set(list.map((m: string) => m.toUpperCase()));
    // Express answers HEAD with the GET handler, so a HEAD request costs what a GET does.
    if (methods.has('GET')) methods.add('HEAD');
  }

  const generate: KeyGenerator = createKeyGenerator(key, ipv6Subnet);
  const keyFor = async (req: Request) => generate(req);

  if (!enabled) {
    return disabledMiddleware(common, 'rate-limit policy', name, {
      keyFor,
      resetKey: async () => {},
      openapi: rateLimitDescription({
        name,
        windowMs,
        limit: limitOption,
        methods,
        standardHeaders,
        legacyHeaders,
        onStoreError,
        enabled,
      }),
    });
  }

  let store: Store;
  if (options.store !== undefined || context.createStore === undefined) {
    const given =
      options.store === undefined
        ? new BoundedMemoryStore({ maxKeys: DEFAULTS.memoryMaxKeys })
        : validateStore(where, options.store);
    store = given.localKeys
      ? given
      : new ResilientStore({
          policy: name,
          primary: given,
          breaker: context.breaker ?? new CircuitBreaker(common.breaker, logger),
          timeoutMs: storeTimeoutMs,
          onStoreError,
          fallbackMaxKeys,
          keyPrefix: `${name}:`,
        });
  } else {
    store = new ResilientStore({
      policy: name,
      primary: context.createStore(name),
      breaker: context.breaker ?? new CircuitBreaker(common.breaker, logger),
      timeoutMs: storeTimeoutMs,
      onStoreError,
      fallbackMaxKeys,
    });
  }

  const checkedLimit = (value: unknown): number => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new RateLimitConfigError(
        'ERR_BULWARK_RATE_LIMIT_LIMIT',
        `${where}: the limit function returned ${show(value)}. It must return a whole number of 0 or more.`,
      );
    }
    return value;
  };
  const perRequest =
    typeof limitOption === 'function'
      ? (limitOption as (req: Request) => number | Promise<number>)
      : undefined;
  const fixedLimit = perRequest === undefined ? (limitOption as number) : 0;

  const headers = headerPolicy(name, windowMs, standardHeaders, legacyHeaders);
  const refuse = (res: Response, next: NextFunction, info: RateLimitInfo) => {
    recordCount(res, info);
    // A refusal always says when to come back, whatever headers the policies send.
    const retryAfter = String(retryAfterSeconds(info));
    if (!res.headersSent) res.setHeader('Retry-After', retryAfter);
    const sent: Record<string, string> = {};
    for (const header of rateLimitHeaders) {
      const value = headerValue(res.getHeader(header));
      if (value !== undefined) sent[header] = value;
    }
    sent['Retry-After'] = retryAfter;
    if (channels.limited.hasSubscribers) {
      channels.limited.publish({
        policy: name,
        keyType: keyType(info.key),
        key: info.key,
        limit: info.limit,
        windowMs,
      });
    }
    next(rateLimitedError(name, sent));
  };
  const skipRequest =
    methods || skip
      ? (req: Request, res: Response) =>
          (methods !== undefined && !methods.has(req.method)) || (skip ? skip(req, res) : false)
      : undefined;

  const takesBack = skipSuccessfulRequests || skipFailedRequests;
  // What req.rateLimit held before express-rate-limit replaced it, for the count to link to.
  const earlier = new WeakMap<Request, unknown>();
  const adopt = (req: CountedRequest): RateLimitInfo => {
    const given = req.rateLimit as LimitInfo;
    const info = new RateLimitInfo(
      headers,
      given.limit,
      given.used,
      given.resetTime,
      given.key,
      earlier.get(req),
    );
    req.rateLimit = info;
    return info;
  };
  // express-rate-limit initialises every store but the bounded memory store, as it always has,
  // and counts the requests of a policy that takes counts back once the response is known.
  let limiter: RequestHandler | undefined;
  if (takesBack || !(store instanceof BoundedMemoryStore)) {
    limiter = expressRateLimit({
      windowMs,
      limit:
        perRequest === undefined
          ? fixedLimit
          : async (req: Request) => checkedLimit(await perRequest(req)),
      store,
      keyGenerator: generate,
      standardHeaders: false,
      legacyHeaders: false,
      identifier: name,
      validate: false,
      passOnStoreError: false,
      skipSuccessfulRequests,
      skipFailedRequests,
      ...(requestWasSuccessful ? { requestWasSuccessful } : {}),
      ...(skipRequest ? { skip: skipRequest } : {}),
      logger: {
        warn: (error: unknown) =>
          warn(
            logger,
            'BULWARK_RATE_LIMIT_STORE',
            `rate-limit policy '${name}': ${error instanceof Error ? error.message : 'store warning'}`,
          ),
        error: (error: unknown) =>
          warn(
            logger,
            'BULWARK_RATE_LIMIT_STORE',
            `rate-limit policy '${name}': ${error instanceof Error ? error.message : 'store error'}`,
          ),
      },
      handler(req: Request, res: Response, next: NextFunction) {
        refuse(res, next, adopt(req as CountedRequest));
      },
    });
  } else {
    store.init({ windowMs });
  }

  let count: (req: Request, res: Response, next: NextFunction) => void;
  if (!takesBack) {
    // The steps, their order and req.rateLimit are express-rate-limit's, without its promise per
    // step: a store in this process answers at once, so a request is counted without a promise
    // unless a function of the policy (skip, key, limit) returns one, and a shared store's answer
    // is waited for once.
    const memory = store instanceof BoundedMemoryStore ? store : undefined;
    const shared = store;
    // `now` is the clock reading a store in this process counted the request at, passed on when
    // nothing but this package's own code runs before the headers are written; after a store's
    // answer or a limit function the headers read the clock afresh.
    const finish = (
      req: Request,
      res: Response,
      next: NextFunction,
      limit: number,
      used: number,
      resetTime: Date | undefined,
      counterKey: string,
      now: number | undefined,
    ) => {
      const request = req as CountedRequest;
      const info = new RateLimitInfo(
        headers,
        limit,
        used,
        resetTime,
        counterKey,
        request.rateLimit,
      );
      request.rateLimit = info;
      if (used > limit) {
        refuse(res, next, info);
        return;
      }
      recordCount(res, info, now);
      next();
    };
    // Only the policy's own functions and the store are guarded: an error downstream is
    // Express's to handle.
    const limited = (
      req: Request,
      res: Response,
      next: NextFunction,
      given: unknown,
      used: number,
      resetTime: Date | undefined,
      counterKey: string,
    ) => {
      let value: number;
      try {
        value = checkedLimit(given);
      } catch (error) {
        next(error);
        return;
      }
      finish(req, res, next, value, used, resetTime, counterKey, undefined);
    };
    const counted = (
      req: Request,
      res: Response,
      next: NextFunction,
      used: number,
      resetTime: Date | undefined,
      counterKey: string,
      now: number | undefined,
    ) => {
      if (perRequest === undefined) {
        finish(req, res, next, fixedLimit, used, resetTime, counterKey, now);
        return;
      }
      let given: unknown;
      try {
        given = perRequest(req);
      } catch (error) {
        next(error);
        return;
      }
      if (isPromiseLike(given)) {
        Promise.resolve(given).then(
          (value) => limited(req, res, next, value, used, resetTime, counterKey),
          next,
        );
        return;
      }
      limited(req, res, next, given, used, resetTime, counterKey);
    };
    const hit = (req: Request, res: Response, next: NextFunction, counterKey: string) => {
      if (memory !== undefined) {
        // One clock reading for the count and its headers.
        const now = Date.now();
        const counter = memory[countHit](counterKey, now);
        counted(req, res, next, counter.hits, counter.resetTime, counterKey, now);
        return;
      }
      let answer: IncrementResponse | Promise<IncrementResponse>;
      try {
        answer = shared.increment(counterKey);
      } catch (error) {
        next(error);
        return;
      }
      Promise.resolve(answer).then((result) => {
        let used: number;
        let resetTime: Date | undefined;
        try {
          used = result.totalHits;
          resetTime = result.resetTime;
        } catch (error) {
          next(error);
          return;
        }
        counted(req, res, next, used, resetTime, counterKey, undefined);
      }, next);
    };
    const keyed = (req: Request, res: Response, next: NextFunction) => {
      let counterKey: string | Promise<string>;
      try {
        counterKey = generate(req);
      } catch (error) {
        next(error);
        return;
      }
      if (typeof counterKey === 'string') hit(req, res, next, counterKey);
      else counterKey.then((value) => hit(req, res, next, value), next);
    };
    count = (req, res, next) => {
      if (skipRequest !== undefined) {
        let skipped: boolean | Promise<boolean>;
        try {
          skipped = skipRequest(req, res);
        } catch (error) {
          next(error);
          return;
        }
        if (isPromiseLike(skipped)) {
          Promise.resolve(skipped).then((value) => {
            if (value) next();
            else keyed(req, res, next);
          }, next);
          return;
        }
        if (skipped) {
          next();
          return;
        }
      }
      keyed(req, res, next);
    };
  } else {
    const erl = limiter as RequestHandler;
    count = (req, res, next) => {
      // express-rate-limit sets req.rateLimit when it counts the request; a skipped request keeps
      // what an earlier policy left there, and gets no headers from this one.
      const before = (req as CountedRequest).rateLimit;
      earlier.set(req, before);
      void erl(req, res, (error?: unknown) => {
        const request = req as CountedRequest;
        if (
          error === undefined &&
          request.rateLimit !== undefined &&
          request.rateLimit !== before
        ) {
          recordCount(res, adopt(request));
        }
        next(error);
      });
    };
  }

  const middleware = function rateLimitMiddleware(req: Request, res: Response, next: NextFunction) {
    if (req.app) {
      const error = checkTrustProxy(req.app) ?? checkForwarded(req);
      if (error) {
        next(error);
        return;
      }
    }
    count(req, res, next);
  };
  return Object.assign(middleware, {
    policy: name,
    enabled: true,
    keyFor,
    openapi: rateLimitDescription({
      name,
      windowMs,
      limit: limitOption,
      methods,
      standardHeaders,
      legacyHeaders,
      onStoreError,
      enabled,
    }),
    resetKey: async (counterKey: string) => {
      await store.resetKey(counterKey);
    },
  });
}

/**
 * One rate-limit policy as Express middleware. Over the limit, it calls `next()` with a 429
 * `rate_limited` error carrying `Retry-After` and the rate-limit headers the policy sends on every
 * counted response (by default the IETF draft 8 `RateLimit`/`RateLimit-Policy` headers and the
 * legacy `X-RateLimit-*` headers).
 *
 * Defaults: `windowMs` 60 000, `limit` 100, `key` `'ip'`, memory store (100 000 keys),
 * `ipv6Subnet` 56, `onStoreError` `'allow'`, `storeTimeoutMs` 200, `standardHeaders`
 * `'draft-8'`, `legacyHeaders` true, `enabled` from `RATE_LIMIT_ENABLED`.
 *
 * @throws {RateLimitConfigError} on a missing or invalid option (`ERR_BULWARK_RATE_LIMIT_*`),
 *   including `ERR_BULWARK_RATE_LIMIT_TRUST_PROXY` when `app` trusts every proxy in production.
 * @example
 * app.get('/devices/:id/telemetry/export',
 *   rateLimit({ name: 'telemetry-export', limit: 5, windowMs: 60_000, key: 'tenant' }),
 *   exportTelemetry);
 */
export function rateLimit(options: RateLimitOptions): RateLimitMiddleware {
  // biome-ignore lint/complexity/noArguments: detects app.use(rateLimit) without the call.
  rejectMiddlewareCall('rateLimit', arguments);
  return buildRateLimit(options, { where: 'rateLimit' });
}
