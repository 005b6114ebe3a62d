// Connects rate-limit-redis stores to node-redis or ioredis: one node, Sentinel or Cluster.
import { createHash } from 'node:crypto';
import type { ClientRateLimitInfo, IncrementResponse, Options } from 'express-rate-limit';
import { type RedisReply, RedisStore, type SendCommandClusterDetails } from 'rate-limit-redis';
import { RateLimitConfigError, show } from './errors.js';

/**
 * A Redis connection `createRateLimits` can use: a node-redis client, Sentinel or cluster (v4/v5),
 * an ioredis client (also with `sentinels`) or cluster (v5), or a raw sender in
 * rate-limit-redis's shape, `{ sendCommand: (...args) => reply }` or
 * `{ sendCommandCluster: ({ key, isReadOnly, command }) => reply }`.
 */
export type RedisClientLike =
  | { sendCommand: (...args: never[]) => unknown }
  | { sendCommandCluster: (details: SendCommandClusterDetails) => Promise<RedisReply> }
  | { call: (...args: never[]) => unknown };

type Loose = Record<string, unknown>;
type Call = (...args: string[]) => Promise<RedisReply>;

export type StoreSender =
  | { sendCommand: (...args: string[]) => Promise<RedisReply> }
  | { sendCommandCluster: (details: SendCommandClusterDetails) => Promise<RedisReply> };

/** Works out which client was given and how to send a raw command through it. */
export function redisSender(client: unknown, where: string): StoreSender {
  const c = client as Loose | null;
  if (typeof c === 'object' && c !== null) {
    if (typeof c.sendCommandCluster === 'function') {
      const send = c.sendCommandCluster as (d: SendCommandClusterDetails) => Promise<RedisReply>;
      return { sendCommandCluster: (details) => send.call(c, details) };
    }
    // ioredis: `call` sends any command; a cluster routes it by its key, and a client given
    // `sentinels` asks them for the master after every reconnect.
    if (typeof c.call === 'function') {
      const call = (c.call as Call).bind(c);
      if (c.isCluster === true) {
        return { sendCommandCluster: ({ command }) => call(...command) };
      }
      return { sendCommand: (...args) => call(...args) };
    }
    if (typeof c.sendCommand === 'function') {
      const send = c.sendCommand as (...args: unknown[]) => Promise<RedisReply>;
      // node-redis cluster: sendCommand(firstKey, isReadonly, args).
      if (typeof c.getSlotMaster === 'function' || 'masters' in c) {
        const follow = failoverFollower(c as unknown as NodeRedisCluster);
        return {
          sendCommandCluster: ({ key, isReadOnly, command }) => {
            follow();
            return send.call(c, key, isReadOnly, command);
          },
        };
      }
      // node-redis Sentinel: sendCommand(isReadonly, args). Always the master, so an instance
      // reads the counters and bans the others have just written.
      if (typeof c.getMasterNode === 'function') {
        return { sendCommand: (...args) => send.call(c, false, args) };
      }
      // node-redis client: sendCommand(args), recognised by its connection API.
      if (typeof c.connect === 'function' && typeof c.duplicate === 'function') {
        return { sendCommand: (...args) => send.call(c, args) };
      }
      // A raw sender in rate-limit-redis's own shape.
      return { sendCommand: (...args) => send.call(c, ...args) };
    }
  }
  throw new RateLimitConfigError(
    'ERR_BULWARK_RATE_LIMIT_REDIS',
    `${where}: redis ${show(client)} is not a Redis client this package knows. Pass a node-redis client, Sentinel or cluster (createClient(), createSentinel(), createCluster()), an ioredis client or cluster (new Redis(), new Cluster()), or { sendCommand: (...args) => reply }.`,
  );
}

/** The parts of a node-redis (v4 or v5) cluster client that {@link failoverFollower} reads. */
interface NodeRedisNode {
  address: string;
  client?: { isReady?: boolean; sendCommand(args: string[]): Promise<unknown> };
}
interface NodeRedisCluster {
  masters?: NodeRedisNode[];
  getMasters?(): NodeRedisNode[];
  slots?: ({ master?: NodeRedisNode } | undefined)[];
  getSlotMaster?(slot: number): NodeRedisNode | undefined;
  sendCommand(firstKey: string, isReadonly: boolean, args: string[]): Promise<unknown>;
}
type SlotRange = [number, number, [string, number, ...unknown[]], ...unknown[]];

const crcTable = Uint16Array.from({ length: 256 }, (_, byte) => {
  let crc = byte << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
  return crc & 0xffff;
});

/** The cluster slot of a key without a hash tag: CRC16 (XMODEM) of its bytes, modulo 16384. */
export function keySlot(key: string): number {
  let crc = 0;
  for (const byte of Buffer.from(key)) crc = ((crc << 8) & 0xffff) ^ crcTable[(crc >> 8) ^ byte]!;
  return crc % 16384;
}

/** A key whose slot passes `wanted`; every slot has one within a few hundred thousand tries. */
function keyInSlot(wanted: (slot: number) => boolean): string | undefined {
  for (let i = 0; i < 500_000; i++) {
    const key = `bulwark:slot-probe:${i}`;
    if (wanted(keySlot(key))) return key;
  }
  return undefined;
}

/**
 * node-redis reads a cluster's topology again only when a node answers MOVED or ASK. A master
 * that died answers nothing, so its slots stay routed to it after its replica has taken over,
 * and every command for them waits or fails until the process restarts. While a master's
 * connection is down, this asks a live master, at most once a second, who serves that master's
 * slots now. Once another node does, a command for a key in one of those slots is sent through
 * the live master, which answers MOVED, and node-redis reads the topology again (once per
 * redirection it is allowed, then the command gives up; its answer is not needed).
 */
function failoverFollower(cluster: NodeRedisCluster): () => void {
  let busy = false;
  let lastCheck = 0;
  const masters = () => cluster.masters ?? cluster.getMasters?.() ?? [];
  const routedTo = (slot: number) =>
    (cluster.slots ? cluster.slots[slot]?.master : cluster.getSlotMaster?.(slot))?.address;
  const isDown = (node: NodeRedisNode) =>
    node.client !== undefined && node.client.isReady === false;

  const check = async () => {
    const down = new Set(
      masters()
        .filter(isDown)
        .map((node) => node.address),
    );
    const live = masters().find((node) => node.client?.isReady === true);
    if (down.size === 0 || !live?.client) return;
    const ranges = (await live.client.sendCommand(['CLUSTER', 'SLOTS'])) as SlotRange[];
    const moved = ranges.find(([from, , [host, port]]) => {
      const routed = routedTo(from);
      return routed !== undefined && down.has(routed) && `${host}:${port}` !== routed;
    });
    if (!moved) return;
    const through = keyInSlot((slot) => routedTo(slot) === live.address);
    const target = keyInSlot((slot) => slot >= moved[0] && slot <= moved[1]);
    if (through === undefined || target === undefined) return;
    await cluster.sendCommand(through, false, ['EXISTS', target]).catch(() => undefined);
  };

  return function followFailover() {
    const now = Date.now();
    if (busy || now - lastCheck < 1_000) return;
    lastCheck = now;
    if (!masters().some(isDown)) return;
    busy = true;
    check()
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  };
}

/** A Lua script sent by its SHA1, and whole only to a node that does not have it yet. */
interface Script {
  source: string;
  sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/** Counts one hit in a fixed window: a missing or expired counter starts at 1 for `ARGV[1]` ms. */
const incrementScript = script(
  "local ttl = redis.call('PTTL', KEYS[1]) if ttl <= 0 then redis.call('SET', KEYS[1], 1, 'PX', ARGV[1]) return { 1, tonumber(ARGV[1]) } end return { redis.call('INCR', KEYS[1]), ttl }",
);

/** Reads a counter and its remaining time. */
const getScript = script("return { redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]) }");

/** Takes one hit back, never below zero, and never recreates a key that expired or was reset. */
const decrementScript = script(
  "local hits = tonumber(redis.call('GET', KEYS[1])) if hits and hits > 0 then redis.call('DECR', KEYS[1]) end return 0",
);

const isNoScript = (error: unknown) =>
  error instanceof Error && /^NOSCRIPT(?:\s|$)/.test(error.message);

const toNumber = (value: unknown) => (typeof value === 'number' ? value : Number(value));

/**
 * rate-limit-redis's store, with its scripts run where the key lives. rate-limit-redis loads its
 * scripts at start-up on whichever node the client picks, and after a NOSCRIPT keeps the reload
 * as a promise; a reload that fails once (the node went away between the two) then fails every
 * later call until the process restarts. Here each call sends EVALSHA for its key and, only on a
 * NOSCRIPT reply, EVAL on the same key, which runs the script and caches it on the node that owns
 * the key: a promoted replica, a restarted node or any cluster master. Nothing is remembered
 * between calls, so nothing stays broken.
 *
 * Its decrement also matches the memory store's: rate-limit-redis's is a plain DECR, which turns
 * a request counted before a reset (or before the window ended) and taken back after it into a
 * negative count without expiry, that is, extra requests for the key.
 */
class KeyRoutedRedisStore extends RedisStore {
  override async init(options: Options): Promise<void> {
    this.windowMs = options.windowMs;
  }

  // Reads go to the master as writes do: a replica may not have the ban another instance has
  // just written.
  async #run(lua: Script, key: string, ...args: string[]): Promise<RedisReply> {
    try {
      return await this.sendCommand({
        key,
        isReadOnly: false,
        command: ['EVALSHA', lua.sha, '1', key, ...args],
      });
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return this.sendCommand({
        key,
        isReadOnly: false,
        command: ['EVAL', lua.source, '1', key, ...args],
      });
    }
  }

  override async increment(key: string): Promise<IncrementResponse> {
    const reply = await this.#run(incrementScript, this.prefixKey(key), String(this.windowMs));
    if (!Array.isArray(reply) || reply.length !== 2) {
      throw new TypeError('unexpected reply from Redis to the increment script');
    }
    return {
      totalHits: toNumber(reply[0]),
      resetTime: new Date(Date.now() + toNumber(reply[1])),
    };
  }

  override async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const reply = await this.#run(getScript, this.prefixKey(key));
    if (!Array.isArray(reply)) throw new TypeError('unexpected reply from Redis to the get script');
    const [hits, ttl] = reply;
    if (hits === null || hits === undefined || hits === false) return undefined;
    return {
      totalHits: toNumber(hits),
      resetTime: new Date(Date.now() + Math.max(0, toNumber(ttl))),
    };
  }

  override async decrement(key: string): Promise<void> {
    await this.#run(decrementScript, this.prefixKey(key));
  }
}

/** A rate-limit-redis store under `prefix`, talking through `sender`. */
export function createRedisStore(sender: StoreSender, prefix: string): RedisStore {
  return new KeyRoutedRedisStore({ ...sender, prefix });
}
