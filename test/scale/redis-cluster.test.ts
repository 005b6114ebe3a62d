// Rate limits on a real Redis Cluster (three masters, three replicas): two instances, each supported client, a master killed under load.
import { setTimeout as delay } from 'node:timers/promises';
import type { RedisClientLike } from '@bulwark/rate-limit';
import {
  type RunningRedisCluster,
  redisPrefix,
  requireService,
  startRedisCluster,
} from '@bulwark/test-utils';
import { Cluster } from 'ioredis';
import { createClient, createCluster } from 'redis';
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
const clients: { name: string; connect: (cluster: RunningRedisCluster) => Promise<Connected> }[] = [
  {
    name: 'node-redis',
    connect: async (cluster) => {
      const client = createCluster({
        rootNodes: cluster.nodes.map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
        defaults: { socket: { connectTimeout: 1_000 } },
      });
      client.on('error', () => {});
      await client.connect();
      return { redis: client, close: async () => client.destroy() };
    },
  },
  {
    name: 'ioredis',
    connect: async (cluster) => {
      const client = new Cluster(cluster.nodes, {
        lazyConnect: true,
        redisOptions: { connectTimeout: 1_000 },
      });
      client.on('error', () => {});
      await client.connect();
      return { redis: client, close: async () => client.disconnect() };
    },
  },
];

/** `perMaster` client names whose counters for `policy` live on each master now. */
async function clientsOnEveryMaster(
  cluster: RunningRedisCluster,
  prefix: string,
  policy: string,
  perMaster: number,
  label: string,
): Promise<Map<number, string[]>> {
  const byMaster = new Map((await cluster.masters()).map((port) => [port, [] as string[]]));
  for (let i = 0; [...byMaster.values()].some((list) => list.length < perMaster); i++) {
    if (i > 1_000) throw new Error(`no ${perMaster} clients found for every master`);
    const client = `${label}-${i}`;
    const list = byMaster.get(await cluster.masterOf(counterKey(prefix, policy, client)));
    if (list && list.length < perMaster) list.push(client);
  }
  return byMaster;
}

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
  'two instances on a three-master Redis Cluster through $name',
  ({ connect }) => {
    const prefix = redisPrefix('scale-cluster');
    let cluster: RunningRedisCluster;
    const instances: Instance[] = [];
    const storeErrors = watchStoreErrors();

    beforeAll(async () => {
      cluster = await startRedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 1_000 });
      for (let i = 0; i < 2; i++) {
        const { redis, close } = await connect(cluster);
        instances.push(await startInstance(redis, prefix, close));
      }
    });

    afterAll(async () => {
      storeErrors.stop();
      try {
        await Promise.all(instances.map((instance) => instance.close()));
      } finally {
        await cluster?.stop();
      }
    });

    it('admits exactly the limit per client across both instances under 100 concurrent clients, with counters on every master', async () => {
      storeErrors.clear();
      const byMaster = await clientsOnEveryMaster(cluster, prefix, 'closed', 4, 'exact');
      const names = [...byMaster.values()].flat();
      const perClient = 25;
      for (const path of ['/closed', '/open']) {
        const { statuses, admitted } = await burst(instances, path, names, perClient, 100);
        expect([...statuses.keys()].sort(), path).toEqual([200, 429]);
        expect(admitted.size, path).toBe(names.length);
        for (const [client, count] of admitted) expect(count, `${path} ${client}`).toBe(LIMIT);
      }
      // Every request was counted by the script on the master that owns the client's slot.
      for (const [port, owned] of byMaster) {
        expect(owned).toHaveLength(4);
        for (const client of owned) {
          expect(await readOn(port, counterKey(prefix, 'closed', client))).toBe(String(perClient));
        }
      }
      // No CROSSSLOT, MOVED, NOSCRIPT or timeout ever reached a policy.
      expect(storeErrors.events).toEqual([]);
    });

    it('refuses a client banned on one instance on the other instance too', async () => {
      storeErrors.clear();
      const [first, second] = instances as [Instance, Instance];
      for (let i = 0; i < BAN_FAILURES; i++) {
        expect((await hit(first, '/account/login', 'mallory', 'POST')).status).toBe(401);
      }
      // The ban is written once the third failed response has been sent.
      const banned = await eventually(async () => {
        const answer = await hit(second, '/account/login', 'mallory', 'POST');
        return answer.code === 'client_banned' && answer.retryAfter > 1 ? answer : undefined;
      }, 5_000);
      expect(banned.status).toBe(429);
      expect(banned.retryAfter).toBeGreaterThan(50);
      expect((await hit(second, '/account/login', 'alice', 'POST')).status).toBe(401);
      expect(storeErrors.events).toEqual([]);
    });

    it('keeps fail-open policies serving and fail-closed ones answering 503, never 500, while a master fails over under load, and limits exactly again afterwards', async () => {
      const [victim] = await cluster.masters();
      const open = new Map<number, number>();
      const closed = new Map<number, number>();
      const refusals = new Set<string | undefined>();
      let unique = 0;
      await cluster.kill(victim!);
      const failover = cluster.waitForFailover(victim!, 30_000);
      // The load runs through the failover and a little past it.
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
      // Every client is new, so a fail-open policy admits it, from Redis or from memory.
      expect([...open.keys()]).toEqual([200]);
      // A fail-closed policy refuses while the store cannot count, and never answers otherwise.
      expect([...closed.keys()].filter((status) => status !== 200 && status !== 503)).toEqual([]);
      expect(closed.get(503)).toBeGreaterThan(0);
      expect([...refusals]).toEqual(['rate_limit_unavailable']);

      // Within seconds both instances count on the promoted master again.
      await eventually(
        async () => {
          const byMaster = await clientsOnEveryMaster(
            cluster,
            prefix,
            'closed',
            1,
            `probe-${Date.now()}`,
          );
          const [probe] = byMaster.get(promoted) ?? [];
          if (!probe) return undefined;
          for (const instance of instances) {
            if ((await hit(instance, '/closed', probe)).status !== 200) return undefined;
            if (instance.limits.storeState() !== 'closed') return undefined;
          }
          return true;
        },
        20_000,
        'both instances using the promoted master',
      );

      storeErrors.clear();
      const byMaster = await clientsOnEveryMaster(cluster, prefix, 'closed', 4, 'after');
      expect([...byMaster.keys()]).toContain(promoted);
      const names = [...byMaster.values()].flat();
      const { statuses, admitted } = await burst(instances, '/closed', names, 25, 100);
      expect([...statuses.keys()].sort()).toEqual([200, 429]);
      for (const client of names) expect(admitted.get(client), client).toBe(LIMIT);
      for (const client of byMaster.get(promoted)!) {
        expect(await readOn(promoted, counterKey(prefix, 'closed', client))).toBe('25');
      }
      expect(storeErrors.events).toEqual([]);
    });
  },
);
