// Rate limits on a real Redis Sentinel deployment (a master, a replica, three sentinels): two instances, each supported client, the master killed under load.
import { setTimeout as delay } from 'node:timers/promises';
import type { RedisClientLike } from '@bulwark/rate-limit';
import {
  type RunningRedisSentinel,
  redisPrefix,
  requireService,
  startRedisSentinel,
} from '@bulwark/test-utils';
import { Redis } from 'ioredis';
import { createClient, createSentinel } from 'redis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eventually, load } from '../faults/support.js';
import {
  BAN_FAILURES,
  burst,
  counterKey,
  hit,
  type Instance,
  LIMIT,
  startInstance,
  tally,
  watchStoreErrors,
} from './support.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const ready = await requireService('redis-server');

interface Connected {
  redis: RedisClientLike;
  close(): Promise<unknown>;
}

/** Each supported client, connected the way the package README shows. */
const clients: { name: string; connect: (sentinel: RunningRedisSentinel) => Promise<Connected> }[] =
  [
    {
      name: 'node-redis',
      connect: async ({ name, sentinels }) => {
        const client = createSentinel({
          name,
          sentinelRootNodes: sentinels,
          nodeClientOptions: { socket: { connectTimeout: 1_000 } },
        });
        client.on('error', () => {});
        await client.connect();
        return { redis: client, close: async () => client.destroy() };
      },
    },
    {
      name: 'ioredis',
      connect: async ({ name, sentinels }) => {
        const client = new Redis({ name, sentinels, lazyConnect: true, connectTimeout: 1_000 });
        client.on('error', () => {});
        await client.connect();
        return { redis: client, close: async () => client.disconnect() };
      },
    },
  ];

/** The value of `key` read from the node on `port` itself. */
async function readOn(port: number, key: string): Promise<string | null> {
  const client = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.sendCommand(['GET', key])) as string | null;
  } finally {
    client.destroy();
  }
}

describe.runIf(ready).each(clients)(
  'two instances on Redis Sentinel through $name',
  ({ connect }) => {
    const prefix = redisPrefix('scale-sentinel');
    let sentinel: RunningRedisSentinel;
    const instances: Instance[] = [];
    const storeErrors = watchStoreErrors();

    beforeAll(async () => {
      sentinel = await startRedisSentinel({ sentinels: 3, downAfterMs: 1_000 });
      for (let i = 0; i < 2; i++) {
        const { redis, close } = await connect(sentinel);
        instances.push(await startInstance(redis, prefix, close));
      }
    });

    afterAll(async () => {
      storeErrors.stop();
      try {
        await Promise.all(instances.map((instance) => instance.close()));
      } finally {
        await sentinel?.stop();
      }
    });

    const names = (label: string) => Array.from({ length: 12 }, (_, i) => `${label}-${i}`);

    it('admits exactly the limit per client across both instances under 100 concurrent clients', async () => {
      storeErrors.clear();
      const clientNames = names('exact');
      for (const path of ['/closed', '/open']) {
        const { statuses, admitted } = await burst(instances, path, clientNames, 25, 100);
        expect([...statuses.keys()].sort(), path).toEqual([200, 429]);
        for (const client of clientNames)
          expect(admitted.get(client), `${path} ${client}`).toBe(LIMIT);
      }
      const master = await sentinel.master();
      expect(await readOn(master, counterKey(prefix, 'closed', 'exact-0'))).toBe('25');
      expect(storeErrors.events).toEqual([]);
    });

    it('refuses a client banned on one instance on the other instance too', async () => {
      storeErrors.clear();
      const [first, second] = instances as [Instance, Instance];
      for (let i = 0; i < BAN_FAILURES; i++) {
        expect((await hit(first, '/account/login', 'mallory', 'POST')).status).toBe(401);
      }
      const banned = await eventually(async () => {
        const answer = await hit(second, '/account/login', 'mallory', 'POST');
        return answer.code === 'client_banned' && answer.retryAfter > 1 ? answer : undefined;
      }, 5_000);
      expect(banned.status).toBe(429);
      expect(banned.retryAfter).toBeGreaterThan(50);
      expect((await hit(second, '/account/login', 'alice', 'POST')).status).toBe(401);
      expect(storeErrors.events).toEqual([]);
    });

    it('keeps fail-open policies serving and fail-closed ones answering 503, never 500, while the master fails over under load, and limits exactly again afterwards', async () => {
      const victim = await sentinel.master();
      const open = new Map<number, number>();
      const closed = new Map<number, number>();
      const refusals = new Set<string | undefined>();
      let unique = 0;
      await sentinel.kill(victim);
      const failover = sentinel.waitForFailover(victim, 30_000);
      const until = failover.then(() => delay(1_000));
      const answered = await load(
        20,
        async (worker) => {
          const id = `failover-${worker}-${unique++}`;
          const instance = instances[unique % 2]!;
          tally(open, (await hit(instance, '/open', id)).status);
          const { status, code } = await hit(instance, '/closed', id);
          tally(closed, status);
          if (status === 503) refusals.add(code);
          return status;
        },
        until,
      );
      const promoted = await failover;
      expect(answered.get(0) ?? 0, 'requests that got no answer').toBe(0);
      expect([...open.keys()]).toEqual([200]);
      // A fail-closed policy refuses while the store cannot count, and never answers otherwise.
      expect([...closed.keys()].filter((status) => status !== 200 && status !== 503)).toEqual([]);
      expect(closed.get(503)).toBeGreaterThan(0);
      expect([...refusals]).toEqual(['rate_limit_unavailable']);

      await eventually(
        async () => {
          const probe = `probe-${Date.now()}`;
          for (const instance of instances) {
            if ((await hit(instance, '/closed', probe)).status !== 200) return undefined;
            if (instance.limits.storeState() !== 'closed') return undefined;
          }
          return (await readOn(promoted, counterKey(prefix, 'closed', probe))) === '2'
            ? true
            : undefined;
        },
        20_000,
        'both instances using the promoted master',
      );

      storeErrors.clear();
      const clientNames = names('after');
      const { statuses, admitted } = await burst(instances, '/closed', clientNames, 25, 100);
      expect([...statuses.keys()].sort()).toEqual([200, 429]);
      for (const client of clientNames) expect(admitted.get(client), client).toBe(LIMIT);
      expect(await readOn(promoted, counterKey(prefix, 'closed', 'after-0'))).toBe('25');
      expect(storeErrors.events).toEqual([]);
    });
  },
);
