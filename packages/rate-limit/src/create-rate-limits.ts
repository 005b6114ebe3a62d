// Binds policies, presets and the abuse guard to one Redis connection with unique prefixes.
import { createHash } from 'node:crypto';
import type { Request } from 'express';
import type { Store } from 'express-rate-limit';
import {
  type AbuseGuardMiddleware,
  type AbuseGuardOptions,
  buildAbuseGuard,
} from './abuse-guard.js';
import { RateLimitConfigError, rejectUnknownOptions, show } from './errors.js';
import { addressKey } from './keys.js';
import {
  booleanOption,
  breakerOption,
  DEFAULTS,
  loggerOption,
  objectOptions,
  rejectMiddlewareCall,
} from './options.js';
import {
  buildRateLimit,
  type RateLimitMiddleware,
  type RateLimitOptions,
  rateLimitOptionNames,
  validateName,
} from './rate-limit.js';
import { createRedisStore, type RedisClientLike, redisSender } from './redis.js';
import { CircuitBreaker } from './resilient-store.js';

/** Options every policy of a `createRateLimits` set starts from. */
export type PolicyDefaults = Omit<RateLimitOptions, 'name' | 'store'>;

/** Options for {@link createRateLimits}. */
export interface CreateRateLimitsOptions {
  /**
   * The Redis connection every policy shares: node-redis or ioredis, client or cluster.
   * Default: none, so each policy counts in memory on this instance.
   */
  redis?: RedisClientLike;
  /** Prepended to every Redis key, before the policy's name. Default: `'bulwark:rl:'`. */
  prefix?: string;
  /** Turns every policy of the set on or off. Default: `RATE_LIMIT_ENABLED` (true unless `false`). */
  enabled?: boolean;
  /** Options applied to every policy unless the policy sets them. Default: none. */
  defaults?: PolicyDefaults;
}

/** A preset's options: any policy option, including a `name` for a second use of the preset. */
export type PresetOptions = Partial<RateLimitOptions>;

/** Options for the `auth` preset. */
export interface AuthPresetOptions extends PresetOptions {
  /**
   * The account a login attempt targets, combined with the address in the key. Default: the
   * `username` or `email` string of `req.body`, lower-cased (hashed before it is stored).
   */
  account?: (req: Request) => string | undefined;
}

/** Policies bound to one store connection. */
export interface RateLimits {
  /** A named policy; each name can be used once. */
  policy(name: string, options?: Omit<RateLimitOptions, 'name'>): RateLimitMiddleware;
  /** Every request, per address: 300 per minute, fail open. */
  global(options?: PresetOptions): RateLimitMiddleware;
  /**
   * Logins and other credential checks, per address and account: 5 failed attempts per 15
   * minutes (successes are not counted), fail closed.
   */
  auth(options?: AuthPresetOptions): RateLimitMiddleware;
  /** POST, PUT, PATCH and DELETE, per user (address without one): 60 per minute. */
  mutations(options?: PresetOptions): RateLimitMiddleware;
  /** Costly routes (exports, imports), per tenant (address without one): 5 per minute. */
  heavy(options?: PresetOptions): RateLimitMiddleware;
  /** {@link abuseGuard} with bans kept in the shared store, so every instance enforces them. */
  abuseGuard(options?: AbuseGuardOptions): AbuseGuardMiddleware;
  /** State of the shared store's circuit breaker, for health checks. */
  storeState(): 'closed' | 'open' | 'half-open';
}

const optionNames = ['redis', 'prefix', 'enabled', 'defaults'] as const;
const prefixPattern = /^[\x21-\x7e]{1,64}$/;

function defaultAccount(req: Request): string | undefined {
  const body = (req as { body?: unknown }).body;
  if (typeof body !== 'object' || body === null) return undefined;
  const { username, email } = body as { username?: unknown; email?: unknown };
  const value =
    typeof username === 'string' ? username : typeof email === 'string' ? email : undefined;
  return value?.trim().toLowerCase() || undefined;
}

/**
 * Binds rate-limit policies to one Redis connection (or to memory, without `redis`) and hands
 * out policies whose keys never collide: `<prefix><policy name>:<key>`. All policies share one
 * circuit breaker, so when Redis stops answering they all move to their outage behaviour
 * together, and come back together.
 *
 * @throws {RateLimitConfigError} `ERR_BULWARK_RATE_LIMIT_REDIS` for an unrecognised client,
 *   `ERR_BULWARK_RATE_LIMIT_PREFIX`, `ERR_BULWARK_RATE_LIMIT_UNKNOWN_OPTION`, and from each
 *   policy `ERR_BULWARK_RATE_LIMIT_DUPLICATE_NAME` plus the `rateLimit` codes.
 * @example
 * const redis = createClient({ url: process.env.REDIS_URL });
 * redis.on('error', (err) => logger.warn('redis', { err }));
 * await redis.connect();
 * const limits = createRateLimits({ redis });
 * app.use(limits.global());
 * app.post('/login', limits.auth(), login);
 * app.get('/export', limits.heavy({ name: 'export' }), exportData);
 */
export function createRateLimits(options: CreateRateLimitsOptions = {}): RateLimits {
  // biome-ignore lint/complexity/noArguments: detects app.use(createRateLimits) without the call.
  rejectMiddlewareCall('createRateLimits', arguments);
  const where = 'createRateLimits';
  const given = objectOptions(where, options);
  rejectUnknownOptions(where, given, optionNames);
  const prefix = given.prefix ?? DEFAULTS.prefix;
  if (typeof prefix !== 'string' || !prefixPattern.test(prefix)) {
    throw new RateLimitConfigError(
      'ERR_BULWARK_RATE_LIMIT_PREFIX',
      `${where}: prefix ${show(prefix)} is not valid. Use up to 64 printable characters without spaces, such as 'myapp:rl:'.`,
    );
  }
  const enabled =
    given.enabled === undefined
      ? undefined
      : booleanOption(where, 'enabled', given.enabled, 'ERR_BULWARK_RATE_LIMIT_ENABLED');
  const defaults = objectOptions(`${where}: defaults`, given.defaults ?? {});
  rejectUnknownOptions(
    `${where}: defaults`,
    defaults,
    rateLimitOptionNames.filter((name) => name !== 'name' && name !== 'store'),
  );
  const sender = given.redis === undefined ? undefined : redisSender(given.redis, where);
  const breaker = new CircuitBreaker(
    breakerOption(where, defaults.breaker ?? {}),
    loggerOption(where, defaults.logger),
  );
  const createStore = sender
    ? (name: string): Store => createRedisStore(sender, `${prefix}${name}:`)
    : undefined;
  const names = new Set<string>();
  const claim = (policyWhere: string, name: unknown) => {
    const valid = validateName(policyWhere, name);
    if (names.has(valid)) {
      throw new RateLimitConfigError(
        'ERR_BULWARK_RATE_LIMIT_DUPLICATE_NAME',
        `${policyWhere}: a policy named '${valid}' already exists in this set, and would share its counters. Give each policy its own name, e.g. limits.heavy({ name: 'telemetry-export' }).`,
      );
    }
    names.add(valid);
  };
  const context = (policyWhere: string, own: Record<string, unknown>) => ({
    where: policyWhere,
    ...(createStore && own.store === undefined ? { createStore } : {}),
    ...(own.breaker === undefined ? { breaker } : {}),
    ...(enabled === undefined ? {} : { enabled }),
  });
  const build = (policyWhere: string, preset: Partial<RateLimitOptions>, own: unknown) => {
    const overrides = objectOptions(policyWhere, own ?? {});
    const merged = { ...defaults, ...preset, ...overrides };
    claim(policyWhere, merged.name);
    return buildRateLimit(merged, context(policyWhere, overrides));
  };

  return {
    policy(name, policyOptions = {}) {
      const overrides = objectOptions(`limits.policy('${String(name)}')`, policyOptions);
      return build(`limits.policy('${String(name)}')`, {}, { ...overrides, name });
    },
    global(presetOptions) {
      return build(
        'limits.global',
        { name: 'global', limit: 300, windowMs: 60_000, key: 'ip', onStoreError: 'allow' },
        presetOptions,
      );
    },
    auth(presetOptions = {}) {
      const { account = defaultAccount, ...rest } = objectOptions(
        'limits.auth',
        presetOptions,
      ) as AuthPresetOptions;
      if (typeof account !== 'function') {
        throw new RateLimitConfigError(
          'ERR_BULWARK_RATE_LIMIT_KEY',
          `limits.auth: account ${show(account)} is not valid. Pass a function (req) => string | undefined.`,
        );
      }
      const ipv6Subnet = (rest.ipv6Subnet ?? defaults.ipv6Subnet ?? DEFAULTS.ipv6Subnet) as number;
      const key = (req: Request) => {
        const address = addressKey(req, ipv6Subnet);
        const target = account(req);
        if (typeof target !== 'string' || target === '') return address;
        const digest = createHash('sha256').update(target).digest('base64url').slice(0, 22);
        return `${address}|account:${digest}`;
      };
      return build(
        'limits.auth',
        {
          name: 'auth',
          limit: 5,
          windowMs: 15 * 60_000,
          key,
          skipSuccessfulRequests: true,
          onStoreError: 'deny',
        },
        rest,
      );
    },
    mutations(presetOptions) {
      return build(
        'limits.mutations',
        {
          name: 'mutations',
          limit: 60,
          windowMs: 60_000,
          key: 'user',
          methods: ['POST', 'PUT', 'PATCH', 'DELETE'],
        },
        presetOptions,
      );
    },
    heavy(presetOptions) {
      return build(
        'limits.heavy',
        { name: 'heavy', limit: 5, windowMs: 60_000, key: 'tenant' },
        presetOptions,
      );
    },
    abuseGuard(guardOptions = {}) {
      const own = objectOptions('limits.abuseGuard', guardOptions);
      const guardDefaults: Record<string, unknown> = {};
      for (const name of [
        'ipv6Subnet',
        'onStoreError',
        'storeTimeoutMs',
        'fallbackMaxKeys',
        'app',
        'forwardedHeaders',
        'logger',
      ] as const) {
        if (defaults[name] !== undefined) guardDefaults[name] = defaults[name];
      }
      const merged = { name: 'abuse-guard', ...guardDefaults, ...own };
      claim('limits.abuseGuard', merged.name);
      return buildAbuseGuard(merged, context('limits.abuseGuard', own));
    },
    storeState() {
      return breaker.state;
    },
  };
}
