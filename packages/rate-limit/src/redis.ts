// Connects rate-limit-redis stores to node-redis or ioredis clients, single node or cluster.
import { type RedisReply, RedisStore, type SendCommandClusterDetails } from 'rate-limit-redis';
import { RateLimitConfigError, show } from './errors.js';

/**
 * A Redis connection `createRateLimits` can use: a node-redis client or cluster (v4/v5), an
 * ioredis client or cluster (v5), or a raw sender in rate-limit-redis's shape,
 * `{ sendCommand: (...args) => reply }` or `{ sendCommandCluster: ({ key, isReadOnly, command }) => reply }`.
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
    // ioredis: `call` sends any command; a cluster routes by the command's key itself.
    if (typeof c.call === 'function') {
      const call = (c.call as Call).bind(c);
      if (c.isCluster === true && typeof c.nodes === 'function') {
        const nodes = c.nodes as (role: string) => { call: Call }[];
        return {
          sendCommandCluster: async ({ command }) => {
            // A script must be loaded on the node that owns the key, which a keyless
            // SCRIPT LOAD cannot pick: load it on every master.
            if (command[0]?.toUpperCase() === 'SCRIPT') {
              const replies = await Promise.all(
                nodes.call(c, 'master').map((node) => node.call(...command)),
              );
              return replies[0] as RedisReply;
            }
            return call(...command);
          },
        };
      }
      return { sendCommand: (...args) => call(...args) };
    }
    if (typeof c.sendCommand === 'function') {
      const send = c.sendCommand as (...args: unknown[]) => Promise<RedisReply>;
      // node-redis cluster: sendCommand(firstKey, isReadonly, args).
      if (typeof c.getSlotMaster === 'function' || 'masters' in c) {
        return {
          sendCommandCluster: ({ key, isReadOnly, command }) =>
            send.call(c, key, isReadOnly, command),
        };
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
    `${where}: redis ${show(client)} is not a Redis client this package knows. Pass a node-redis client or cluster (createClient(), createCluster()), an ioredis client or cluster (new Redis(), new Cluster()), or { sendCommand: (...args) => reply }.`,
  );
}

/** Takes one hit back, never below zero, and never recreates a key that expired or was reset. */
const decrementScript =
  "local hits = tonumber(redis.call('GET', KEYS[1])) if hits and hits > 0 then redis.call('DECR', KEYS[1]) end return 0";

/**
 * rate-limit-redis's store with a decrement that matches the memory store's: its own is a plain
 * DECR, which turns a request counted before a reset (or before the window ended) and taken back
 * after it into a negative count without expiry, that is, extra requests for the key.
 */
class FlooredRedisStore extends RedisStore {
  override async decrement(key: string): Promise<void> {
    const prefixed = this.prefixKey(key);
    await this.sendCommand({
      key: prefixed,
      isReadOnly: false,
      command: ['EVAL', decrementScript, '1', prefixed],
    });
  }
}

/** A rate-limit-redis store under `prefix`, talking through `sender`. */
export function createRedisStore(sender: StoreSender, prefix: string): RedisStore {
  return new FlooredRedisStore({ ...sender, prefix });
}
