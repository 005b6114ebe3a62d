// Every supported Redis client drives the same policy: node-redis and ioredis, single node and cluster.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, redisPrefix, requireService, SERVICES, waitForPort } from '@bulwark/test-utils';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { Cluster, Redis } from 'ioredis';
import { createClient, createCluster } from 'redis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimits } from './create-rate-limits.js';
import type { RedisClientLike } from './redis.js';
import { createRedisStore, redisSender } from './redis.js';

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
