// Every supported Redis client drives the same policy: node-redis and ioredis, single node and cluster.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  type RunningRedis,
  redisPrefix,
  requireService,
  SERVICES,
  startRedisServer,
  waitForPort,
} from '@bulwark/test-utils';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { Cluster, Redis } from 'ioredis';
import { createClient, createCluster } from 'redis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimits } from './create-rate-limits.js';
import type { RedisClientLike } from './redis.js';
import { createRedisStore, keySlot, redisSender } from './redis.js';

const hasRedis = await requireService('redis', 'redis-server');

const renderError: ErrorRequestHandler = (err, _req, res, _next) => {
  res.status(err.status ?? 500).json({ code: err.code });
};

function appWith(policy: RequestHandler) {
  const app = express();
  app.use(policy);
  app.get('/', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(renderError);
  return app;
}

async function expectSixthRefused(redis: RedisClientLike, prefix: string) {
  const limits = createRateLimits({
    redis,
    prefix,
    defaults: { storeTimeoutMs: 2_000, onStoreError: 'deny' },
  });
  const app = appWith(limits.policy('export', { limit: 5 }));
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await request(app).get('/')).status);
  expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
}

/** A one-node Redis Cluster holding every slot: a real cluster protocol on a single process. */
async function startClusterNode() {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-cluster-'));
  const port = await freePort();
  const child: ChildProcess = spawn(
    SERVICES['redis-server'].url,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(dir, 'nodes.conf'),
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--cluster-announce-ip',
      '127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  await waitForPort(port);
  const admin = createClient({ url: `redis://127.0.0.1:${port}` });
  await admin.connect();
  await admin.sendCommand(['CLUSTER', 'ADDSLOTSRANGE', '0', '16383']);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const info = String(await admin.sendCommand(['CLUSTER', 'INFO']));
    if (info.includes('cluster_state:ok')) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await admin.quit();
  return {
    port,
    stop: async () => {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe.runIf(hasRedis)('Redis clients', () => {
  const nodeRedis = createClient({ url: SERVICES.redis.url });
  const ioredis = new Redis(SERVICES.redis.url, { lazyConnect: true });
  const prefixes: string[] = [];
  let cluster: Awaited<ReturnType<typeof startClusterNode>>;

  beforeAll(async () => {
    nodeRedis.on('error', () => {});
    await Promise.all([nodeRedis.connect(), ioredis.connect()]);
    cluster = await startClusterNode();
  });

  afterAll(async () => {
    for (const prefix of prefixes) {
      const keys = await nodeRedis.keys(`${prefix}*`);
      if (keys.length > 0) await nodeRedis.del(keys);
    }
    await Promise.all([nodeRedis.quit(), ioredis.quit(), cluster?.stop()]);
  });

  const prefix = (label: string) => {
    const value = redisPrefix(label);
    prefixes.push(value);
    return value;
  };

  it('never takes a count below zero nor recreates a reset key when a request is taken back late', async () => {
    for (const client of [nodeRedis, ioredis]) {
      const p = prefix('decrement');
      const store = createRedisStore(redisSender(client, 'test'), p);
      await store.init({ windowMs: 60_000 } as Parameters<typeof store.init>[0]);
      await store.increment('ip:192.0.2.1');
      await store.decrement('ip:192.0.2.1');
      await store.decrement('ip:192.0.2.1');
      expect(await nodeRedis.get(`${p}ip:192.0.2.1`)).toBe('0');
      // A request counted before a reset and taken back after it leaves no key behind.
      await store.resetKey('ip:192.0.2.1');
      await store.decrement('ip:192.0.2.1');
      expect(await nodeRedis.exists(`${p}ip:192.0.2.1`)).toBe(0);
      expect((await store.increment('ip:192.0.2.1')).totalHits).toBe(1);
    }
  });

  it('limits through a node-redis client', async () => {
    await expectSixthRefused(nodeRedis, prefix('node-redis'));
  });

  it('limits through an ioredis client', async () => {
    await expectSixthRefused(ioredis, prefix('ioredis'));
  });

  it('limits through a raw sendCommand function', async () => {
    await expectSixthRefused(
      { sendCommand: (...args: string[]) => nodeRedis.sendCommand(args) },
      prefix('raw'),
    );
  });

  it('limits through a node-redis cluster', async () => {
    const client = createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${cluster.port}` }] });
    client.on('error', () => {});
    await client.connect();
    try {
      expect('sendCommandCluster' in redisSender(client, 'test')).toBe(true);
      await expectSixthRefused(client, 'bulwark-test:node-cluster:');
    } finally {
      await client.close();
    }
  });

  it('computes the cluster slot of a key as Redis does', async () => {
    const admin = createClient({ url: `redis://127.0.0.1:${cluster.port}` });
    await admin.connect();
    try {
      for (const key of ['', 'a', 'bulwark:rl:auth:ip:203.0.113.7', 'bulwark:slot-probe:41', 'ü']) {
        expect(keySlot(key), key).toBe(
          Number(await admin.sendCommand(['CLUSTER', 'KEYSLOT', key])),
        );
      }
    } finally {
      await admin.quit();
    }
  });

  it('limits through an ioredis cluster', async () => {
    const client = new Cluster([{ host: '127.0.0.1', port: cluster.port }], { lazyConnect: true });
    client.on('error', () => {});
    await client.connect();
    try {
      expect('sendCommandCluster' in redisSender(client, 'test')).toBe(true);
      await expectSixthRefused(client, 'bulwark-test:io-cluster:');
    } finally {
      client.disconnect();
    }
  });
});

describe.runIf(hasRedis)('scripts on a node that does not have them', () => {
  let server: RunningRedis;
  const admin = () => createClient({ url: server.url });
  let control: ReturnType<typeof admin>;

  beforeAll(async () => {
    server = await startRedisServer();
    control = admin();
    await control.connect();
  });

  afterAll(async () => {
    await control?.quit();
    await server?.stop();
  });

  it('loads nothing at start-up, sends a script whole only after NOSCRIPT, and never after any other error', async () => {
    const client = admin();
    await client.connect();
    const sent: string[] = [];
    const sender = {
      sendCommand: (...args: string[]) => {
        sent.push(args[0]!);
        return client.sendCommand(args);
      },
    };
    try {
      const store = createRedisStore(redisSender(sender, 'test'), 'noscript:');
      await store.init({ windowMs: 60_000 } as Parameters<typeof store.init>[0]);
      expect(sent).toEqual([]);
      expect((await store.increment('a')).totalHits).toBe(1);
      expect((await store.increment('a')).totalHits).toBe(2);
      expect(sent).toEqual(['EVALSHA', 'EVAL', 'EVALSHA']);
      // A script error (here the counter holds a hash) is an answer, not a missing script.
      await control.sendCommand(['HSET', 'noscript:b', 'field', 'value']);
      await control.sendCommand(['PEXPIRE', 'noscript:b', '60000']);
      sent.length = 0;
      await expect(store.increment('b')).rejects.toThrow(/WRONGTYPE/);
      expect(sent).toEqual(['EVALSHA']);
    } finally {
      await client.quit();
    }
  });

  it('counts again once the node accepts its scripts, after a reload that failed', async () => {
    await control.sendCommand([
      'ACL',
      'SETUSER',
      'limiter',
      'on',
      '>limiter-pw',
      '~*',
      '&*',
      '+@all',
    ]);
    const client = createClient({
      url: `redis://limiter:limiter-pw@127.0.0.1:${server.port}`,
    });
    client.on('error', () => {});
    await client.connect();
    try {
      const limits = createRateLimits({
        redis: client,
        prefix: 'reload:',
        defaults: { storeTimeoutMs: 2_000, breaker: { failures: 1, cooldownMs: 100 } },
      });
      const app = appWith(limits.policy('login', { limit: 5, onStoreError: 'deny' }));
      expect((await request(app).get('/')).status).toBe(200);
      // The node loses its scripts (a restart, a promoted replica) and cannot take them back yet.
      await control.sendCommand(['SCRIPT', 'FLUSH']);
      await control.sendCommand(['ACL', 'SETUSER', 'limiter', '-eval', '-script|load']);
      expect((await request(app).get('/')).status).toBe(503);
      await control.sendCommand(['ACL', 'SETUSER', 'limiter', '+eval', '+script|load']);
      const deadline = Date.now() + 5_000;
      let status = 503;
      while (status === 503 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 150));
        status = (await request(app).get('/')).status;
      }
      expect(status).toBe(200);
      expect(limits.storeState()).toBe('closed');
    } finally {
      await client.quit();
    }
  });
});
