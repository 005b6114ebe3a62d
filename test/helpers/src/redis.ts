// Unique Redis key prefixes, and private redis-servers on free ports: one node, a cluster, sentinels.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { createClient } from 'redis';
import { freePort, waitForPort } from './ports.js';
import { SERVICES } from './services.js';

/** A key prefix no other suite or run uses: `bulwark-test:<label>:<random>:`. */
export function redisPrefix(label = 'test'): string {
  return `bulwark-test:${label}:${randomBytes(4).toString('hex')}:`;
}

export interface RunningRedis {
  port: number;
  url: string;
  /** Stops the server (SIGKILL by default, like a crash). */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

/** Starts a memory-only redis-server on a free loopback port. */
export async function startRedisServer(): Promise<RunningRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      SERVICES['redis-server'].url,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await waitForPort(port);
  };
  const stop = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill(signal);
    });
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, stop, start };
}

/** A loopback node address, as Redis clients take it in their seed lists. */
export interface RedisNodeAddress {
  host: string;
  port: number;
}

/** Redis processes started by this worker, killed if it exits without stopping them. */
const spawned = new Set<ChildProcess>();
let exitHookInstalled = false;

function spawnRedis(args: string[]): ChildProcess {
  const child = spawn(SERVICES['redis-server'].url, args, { stdio: 'ignore' });
  spawned.add(child);
  child.once('exit', () => spawned.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const running of spawned) running.kill('SIGKILL');
    });
  }
  return child;
}

async function killProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Sends one command to one node on a short-lived connection that never retries. */
async function ask(port: number, args: string[]): Promise<unknown> {
  const client = createClient({
    socket: { host: '127.0.0.1', port, connectTimeout: 1000, reconnectStrategy: false },
    disableOfflineQueue: true,
  });
  client.on('error', () => {});
  await client.connect();
  try {
    return await client.sendCommand(args);
  } finally {
    client.destroy();
  }
}

/** Polls `check` every 100 ms until it returns a value; rejects after `timeoutMs`. */
async function until<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await delay(100);
  }
}

const infoField = (info: unknown, field: string) =>
  new RegExp(`^${field}:(\\S+)`, 'm').exec(String(info))?.[1];

/** Options for {@link startRedisCluster}. */
export interface RedisClusterOptions {
  /** Masters, each holding an equal share of the 16384 slots. Default: `3`. */
  masters?: number;
  /** Replicas per master. Default: `1`. */
  replicas?: number;
  /** `cluster-node-timeout`: how long a silent master goes unanswered before failover. Default: `1_000`. */
  nodeTimeoutMs?: number;
}

/** A Redis Cluster of separate redis-server processes on loopback. */
export interface RunningRedisCluster {
  /** Every node, masters first, for a client's seed list. */
  nodes: RedisNodeAddress[];
  /** Ports of the masters that serve slots now. */
  masters(): Promise<number[]>;
  /** Port of the master that serves `key`'s slot now. */
  masterOf(key: string): Promise<number>;
  /** Kills one node with SIGKILL, like a crash. */
  kill(port: number): Promise<void>;
  /**
   * Resolves with the port of the replica promoted in place of the killed master on `port`, once
   * every live node reports `cluster_state:ok` and names it as the owner of those slots.
   */
  waitForFailover(port: number, timeoutMs?: number): Promise<number>;
  /** Kills every node and removes their files. */
  stop(): Promise<void>;
}

type SlotRange = [number, number, [string, number, ...unknown[]], ...unknown[]];

/**
 * Starts `masters × (1 + replicas)` memory-only redis-server processes in cluster mode on free
 * loopback ports (cluster bus ports too), assigns the slots, joins them and attaches the replicas;
 * resolves once every node reports `cluster_state:ok` and every replica is in sync.
 */
export async function startRedisCluster({
  masters: masterCount = 3,
  replicas: replicaCount = 1,
  nodeTimeoutMs = 1_000,
}: RedisClusterOptions = {}): Promise<RunningRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-redis-cluster-'));
  const total = masterCount * (1 + replicaCount);
  const children = new Map<number, ChildProcess>();
  const stop = async () => {
    await Promise.all([...children.values()].map(killProcess));
    children.clear();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports: { port: number; bus: number }[] = [];
    for (let i = 0; i < total; i++) ports.push({ port: await freePort(), bus: await freePort() });
    for (const { port, bus } of ports) {
      children.set(
        port,
        spawnRedis([
          '--port',
          String(port),
          '--cluster-port',
          String(bus),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          String(nodeTimeoutMs),
          // A replica may take over however long it was out of touch: the test decides when.
          '--cluster-replica-validity-factor',
          '0',
          '--cluster-announce-ip',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
        ]),
      );
    }
    await Promise.all(ports.map(({ port }) => waitForPort(port)));
    const ids = await Promise.all(ports.map(({ port }) => ask(port, ['CLUSTER', 'MYID'])));
    const masterPorts = ports.slice(0, masterCount);
    const share = Math.ceil(16384 / masterCount);
    await Promise.all(
      masterPorts.map(({ port }, i) =>
        ask(port, [
          'CLUSTER',
          'ADDSLOTSRANGE',
          String(i * share),
          String(Math.min(16383, (i + 1) * share - 1)),
        ]),
      ),
    );
    const first = ports[0]!;
    await Promise.all(
      ports
        .slice(1)
        .map(({ port }) =>
          ask(port, ['CLUSTER', 'MEET', '127.0.0.1', String(first.port), String(first.bus)]),
        ),
    );
    const knowsAll = async (port: number) =>
      String(await ask(port, ['CLUSTER', 'NODES']))
        .trim()
        .split('\n')
        .filter((line) => !/handshake|noaddr/.test(line)).length === total;
    await until(
      async () =>
        (await Promise.all(ports.map((p) => knowsAll(p.port)))).every(Boolean) || undefined,
      20_000,
      'the cluster nodes did not all meet',
    );
    await Promise.all(
      ports
        .slice(masterCount)
        .map(({ port }, i) => ask(port, ['CLUSTER', 'REPLICATE', String(ids[i % masterCount])])),
    );
    await until(
      async () => {
        for (const { port } of ports) {
          if (infoField(await ask(port, ['CLUSTER', 'INFO']), 'cluster_state') !== 'ok') return;
        }
        for (const { port } of ports.slice(masterCount)) {
          const info = await ask(port, ['INFO', 'replication']);
          if (infoField(info, 'master_link_status') !== 'up') return;
        }
        // Every node must see every replica as one, or a client may be sent to a replica.
        for (const { port } of ports) {
          const nodes = String(await ask(port, ['CLUSTER', 'NODES']));
          if ((nodes.match(/\bslave\b/g) ?? []).length !== total - masterCount) return;
        }
        return true;
      },
      30_000,
      'the cluster did not reach cluster_state:ok with every replica in sync',
    );
  } catch (error) {
    await stop();
    throw error;
  }

  const live = () =>
    [...children.entries()]
      .filter(([, child]) => child.exitCode === null && child.signalCode === null)
      .map(([port]) => port);
  const slots = async (port: number) => (await ask(port, ['CLUSTER', 'SLOTS'])) as SlotRange[];
  const ownerOf = async (port: number, slot: number) =>
    (await slots(port)).find(([from, to]) => slot >= from && slot <= to)?.[2][1];
  const lost = new Map<number, number>();

  return {
    nodes: [...children.keys()].map((port) => ({ host: '127.0.0.1', port })),
    async masters() {
      return [...new Set((await slots(live()[0]!)).map((range) => range[2][1]))];
    },
    async masterOf(key) {
      const port = live()[0]!;
      const slot = Number(await ask(port, ['CLUSTER', 'KEYSLOT', key]));
      const owner = await ownerOf(port, slot);
      if (owner === undefined) throw new Error(`no node serves slot ${slot}`);
      return owner;
    },
    async kill(port) {
      const owned = (await slots(port).catch(() => [])).find((range) => range[2][1] === port);
      if (owned) lost.set(port, owned[0]);
      await killProcess(children.get(port));
    },
    async waitForFailover(port, timeoutMs = 30_000) {
      const slot = lost.get(port);
      if (slot === undefined) throw new Error(`${port} was not a master when it was killed`);
      return until(
        async () => {
          const owners = new Set<number | undefined>();
          for (const node of live()) {
            if (infoField(await ask(node, ['CLUSTER', 'INFO']), 'cluster_state') !== 'ok') return;
            owners.add(await ownerOf(node, slot));
          }
          const [owner] = owners;
          if (owners.size !== 1 || owner === undefined || owner === port) return;
          const role = infoField(await ask(owner, ['INFO', 'replication']), 'role');
          return role === 'master' ? owner : undefined;
        },
        timeoutMs,
        `no replica took over the slots of ${port}`,
      );
    },
    stop,
  };
}

/** Options for {@link startRedisSentinel}. */
export interface RedisSentinelOptions {
  /** The name the sentinels monitor the master under. Default: `'bulwark'`. */
  name?: string;
  /** Sentinels; a majority must agree on a failover. Default: `3`. */
  sentinels?: number;
  /** `down-after-milliseconds`: how long a silent master goes unanswered. Default: `1_000`. */
  downAfterMs?: number;
  /** `failover-timeout`. Default: `5_000`. */
  failoverTimeoutMs?: number;
}

/** A master, a replica and sentinels watching them, each its own redis-server on loopback. */
export interface RunningRedisSentinel {
  name: string;
  /** Every sentinel, for a client's seed list. */
  sentinels: RedisNodeAddress[];
  /** Port of the master the sentinels name now. */
  master(): Promise<number>;
  /** Kills one data node with SIGKILL, like a crash. */
  kill(port: number): Promise<void>;
  /**
   * Resolves with the port of the replica promoted in place of the killed master on `port`, once
   * every sentinel names it and it reports `role:master`.
   */
  waitForFailover(port: number, timeoutMs?: number): Promise<number>;
  /** Kills every process and removes their files. */
  stop(): Promise<void>;
}

/**
 * Starts a memory-only master, one replica of it and `sentinels` sentinels (quorum: a majority)
 * on free loopback ports; resolves once the replica is in sync and every sentinel knows the
 * replica and all the other sentinels.
 */
export async function startRedisSentinel({
  name = 'bulwark',
  sentinels: sentinelCount = 3,
  downAfterMs = 1_000,
  failoverTimeoutMs = 5_000,
}: RedisSentinelOptions = {}): Promise<RunningRedisSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-redis-sentinel-'));
  const data = new Map<number, ChildProcess>();
  const watchers = new Map<number, ChildProcess>();
  const stop = async () => {
    await Promise.all([...watchers.values(), ...data.values()].map(killProcess));
    data.clear();
    watchers.clear();
    rmSync(dir, { recursive: true, force: true });
  };
  const dataArgs = (port: number) => [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
  ];
  try {
    const masterPort = await freePort();
    const replicaPort = await freePort();
    data.set(masterPort, spawnRedis(dataArgs(masterPort)));
    await waitForPort(masterPort);
    data.set(
      replicaPort,
      spawnRedis([...dataArgs(replicaPort), '--replicaof', '127.0.0.1', String(masterPort)]),
    );
    await waitForPort(replicaPort);
    await until(
      async () =>
        infoField(await ask(replicaPort, ['INFO', 'replication']), 'master_link_status') === 'up' ||
        undefined,
      20_000,
      'the replica did not sync with the master',
    );
    for (let i = 0; i < sentinelCount; i++) {
      const port = await freePort();
      const file = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${masterPort} ${Math.floor(sentinelCount / 2) + 1}`,
          `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
          `sentinel failover-timeout ${name} ${failoverTimeoutMs}`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      watchers.set(port, spawnRedis([file, '--sentinel']));
    }
    await Promise.all([...watchers.keys()].map((port) => waitForPort(port)));
    await until(
      async () => {
        for (const port of watchers.keys()) {
          const replicas = (await ask(port, ['SENTINEL', 'REPLICAS', name])) as unknown[];
          const peers = (await ask(port, ['SENTINEL', 'SENTINELS', name])) as unknown[];
          if (replicas.length !== 1 || peers.length !== sentinelCount - 1) return;
        }
        return true;
      },
      30_000,
      'the sentinels did not discover the replica and each other',
    );
  } catch (error) {
    await stop();
    throw error;
  }

  const masterFrom = async (sentinel: number) => {
    const [, port] = (await ask(sentinel, [
      'SENTINEL',
      'GET-MASTER-ADDR-BY-NAME',
      name,
    ])) as string[];
    return Number(port);
  };

  return {
    name,
    sentinels: [...watchers.keys()].map((port) => ({ host: '127.0.0.1', port })),
    master: () => masterFrom([...watchers.keys()][0]!),
    kill: (port) => killProcess(data.get(port)),
    waitForFailover(port, timeoutMs = 30_000) {
      return until(
        async () => {
          const named = new Set<number>();
          for (const sentinel of watchers.keys()) named.add(await masterFrom(sentinel));
          const [master] = named;
          if (named.size !== 1 || master === undefined || master === port) return;
          const role = infoField(await ask(master, ['INFO', 'replication']), 'role');
          return role === 'master' ? master : undefined;
        },
        timeoutMs,
        `no replica took over from the master on ${port}`,
      );
    },
    stop,
  };
}
