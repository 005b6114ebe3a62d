// Shared pieces of the scale suites: app instances on one Redis deployment, bursts of clients, store errors.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Writable } from 'node:stream';
import { createLogger, errorHandler } from '@bulwark/error-handler';
import { createRateLimits, type RateLimits, type RedisClientLike } from '@bulwark/rate-limit';
import { listen } from '@bulwark/test-utils';
import express from 'express';

/** Requests one client may make per policy window. */
export const LIMIT = 10;
/** Failed logins that earn a ban. */
export const BAN_FAILURES = 3;
/** How long a ban lasts; a shared ban is told from a momentary refusal by its Retry-After. */
export const BAN_MS = 60_000;

// The answers are the subject here; the handler's log lines would only fill the test output.
const quiet = createLogger({
  stream: new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  }),
});

/** One app instance: its own Redis connection, policies and HTTP server. */
export interface Instance {
  url: string;
  limits: RateLimits;
  close(): Promise<void>;
}

/**
 * An app like one replica of a service: a fail-open (`/open`) and a fail-closed (`/closed`)
 * policy keyed by `X-Client`, and an abuse guard in front of a login that always fails.
 */
export async function startInstance(
  redis: RedisClientLike,
  prefix: string,
  disconnect: () => Promise<unknown>,
): Promise<Instance> {
  const limits = createRateLimits({
    redis,
    prefix,
    // Generous for a busy test machine: a store call that answers is never counted as a failure.
    defaults: {
      storeTimeoutMs: 1_000,
      breaker: { failures: 3, cooldownMs: 1_000 },
      logger: quiet,
    },
  });
  const byClient = (req: express.Request) => req.get('x-client');
  const app = express();
  const ok: express.RequestHandler = (_req, res) => {
    res.json({ ok: true });
  };
  app.get(
    '/open',
    limits.policy('open', { limit: LIMIT, windowMs: 60_000, key: byClient, onStoreError: 'allow' }),
    ok,
  );
  app.get(
    '/closed',
    limits.policy('closed', {
      limit: LIMIT,
      windowMs: 60_000,
      key: byClient,
      onStoreError: 'deny',
    }),
    ok,
  );
  app.use(
    '/account',
    limits.abuseGuard({
      failures: BAN_FAILURES,
      windowMs: 60_000,
      banMs: BAN_MS,
      statuses: [401],
      key: byClient,
      onStoreError: 'deny',
    }),
  );
  app.post('/account/login', (_req, res) => {
    res.status(401).json({ ok: false });
  });
  app.use(errorHandler({ logger: quiet }));
  const http = await listen(app);
  return {
    url: http.url,
    limits,
    close: async () => {
      await http.close();
      await disconnect();
    },
  };
}

/** The Redis key a policy counts `client` under. */
export const counterKey = (prefix: string, policy: string, client: string) =>
  `${prefix}${policy}:custom:${client}`;

/** One request as a client; its status, with 0 for a request that got no answer. */
export async function hit(
  instance: Instance,
  path: string,
  client: string,
  method = 'GET',
): Promise<{ status: number; code?: string; retryAfter: number }> {
  try {
    const response = await fetch(`${instance.url}${path}`, {
      method,
      headers: { 'x-client': client },
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json().catch(() => ({}))) as { code?: string };
    return {
      status: response.status,
      ...(body.code ? { code: body.code } : {}),
      retryAfter: Number(response.headers.get('retry-after') ?? 0),
    };
  } catch {
    return { status: 0, retryAfter: 0 };
  }
}

export interface BurstResult {
  /** Answers by status, over every request of the burst. */
  statuses: Map<number, number>;
  /** Requests admitted (200) per client. */
  admitted: Map<string, number>;
}

/**
 * `concurrency` callers share `perClient` requests for each of `clients` on `path`, sent to the
 * instances in turn, so each client's requests arrive at every instance at once.
 */
export async function burst(
  instances: Instance[],
  path: string,
  clients: string[],
  perClient: number,
  concurrency = 100,
): Promise<BurstResult> {
  const queue: { instance: Instance; client: string }[] = [];
  for (let round = 0; round < perClient; round++) {
    clients.forEach((client, i) => {
      queue.push({ instance: instances[(round + i) % instances.length]!, client });
    });
  }
  const statuses = new Map<number, number>();
  const admitted = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < queue.length) {
        const { instance, client } = queue[next++]!;
        const { status } = await hit(instance, path, client);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status === 200) admitted.set(client, (admitted.get(client) ?? 0) + 1);
      }
    }),
  );
  return { statuses, admitted };
}

/** Collects `bulwark:rate-limit:store-error` events until `stop()`. */
export function watchStoreErrors() {
  const events: { policy: string; reason: string; code?: string }[] = [];
  const onEvent = (message: unknown) => {
    events.push(message as (typeof events)[number]);
  };
  subscribe('bulwark:rate-limit:store-error', onEvent);
  return {
    events,
    clear: () => {
      events.length = 0;
    },
    stop: () => unsubscribe('bulwark:rate-limit:store-error', onEvent),
  };
}

/** Counts answers by status. */
export function tally(into: Map<number, number>, status: number): void {
  into.set(status, (into.get(status) ?? 0) + 1);
}
