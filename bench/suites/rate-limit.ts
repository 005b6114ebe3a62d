// Overhead of a @bulwark/rate-limit policy against plain express-rate-limit with the same store.
import type { AddressInfo } from 'node:net';
import { rateLimit } from '@bulwark/rate-limit';
import express, { type RequestHandler } from 'express';
import { rateLimit as expressRateLimit, MemoryStore } from 'express-rate-limit';
import { RedisStore } from 'rate-limit-redis';
import { createClient } from 'redis';
import { type LoadResult, loadFromChild } from '../load.js';
import type { BenchRow, BenchSuite, BenchTarget } from '../types.js';

const rounds = 5;
const seconds = 1;
const connections = 20;
/** High enough that no request is refused: this measures the cost of counting, not of 429s. */
const limit = 1_000_000_000;

async function serve(handler?: RequestHandler) {
  const app = express();
  if (handler) app.use(handler);
  app.get('/', (_req, res) => {
    res.json({ ok: true });
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * Measures every variant in turn, `rounds` times, and keeps each one's median: on a shared,
 * noisy machine, interleaving spreads the noise over all variants instead of one.
 */
async function measureAll(variants: [string, RequestHandler | undefined][]): Promise<BenchRow[]> {
  const servers = await Promise.all(variants.map(([, handler]) => serve(handler)));
  try {
    const samples = variants.map(() => [] as LoadResult[]);
    for (const server of servers)
      await loadFromChild({ url: server.url, connections, duration: 1 });
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < servers.length; i++) {
        const result = await loadFromChild({
          url: servers[i]!.url,
          connections,
          duration: seconds,
        });
        if (result.non2xx > 0 || result.errors > 0) {
          throw new Error(
            `${variants[i]![0]}: ${result.non2xx} non-2xx responses and ${result.errors} errors`,
          );
        }
        samples[i]!.push(result);
      }
    }
    return variants.map(([name], i) => ({
      name,
      opsPerSec: median(samples[i]!.map((r) => r.requests.average)),
      p50Ms: median(samples[i]!.map((r) => r.latency.p50)),
      p99Ms: median(samples[i]!.map((r) => r.latency.p99)),
    }));
  } finally {
    await Promise.all(servers.map((server) => server.close()));
  }
}

export const suite: BenchSuite = {
  name: 'rate-limit',
  async run() {
    const notes = [
      `autocannon, ${connections} connections, median of ${rounds} interleaved ${seconds} s runs per row after a 1 s warm-up; servers on loopback, the load generator in a child process of its own`,
      `limit ${limit} so every request is counted and admitted`,
    ];
    const variants: [string, RequestHandler | undefined][] = [
      ['bare express', undefined],
      [
        'express-rate-limit (memory)',
        expressRateLimit({
          limit,
          store: new MemoryStore(),
          standardHeaders: 'draft-8',
          legacyHeaders: true,
        }),
      ],
      [
        'bulwark rateLimit (same memory store)',
        rateLimit({ name: 'bench-memory', limit, store: new MemoryStore() }),
      ],
      ['bulwark rateLimit (default store)', rateLimit({ name: 'bench-default', limit })],
    ];
    const redis = createClient({ url: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' });
    redis.on('error', () => {});
    let redisUp = true;
    try {
      await redis.connect();
    } catch {
      redisUp = false;
      notes.push('Redis not reachable: Redis rows skipped');
    }
    const run = `bench:${process.pid}:${Date.now()}:`;
    if (redisUp) {
      const sendCommand = (...args: string[]) => redis.sendCommand(args) as Promise<never>;
      variants.push(
        [
          'express-rate-limit (redis)',
          expressRateLimit({
            limit,
            store: new RedisStore({ sendCommand, prefix: `${run}erl:` }),
            standardHeaders: 'draft-8',
            legacyHeaders: true,
          }),
        ],
        [
          'bulwark rateLimit (same redis store)',
          rateLimit({
            name: 'bench-redis',
            limit,
            store: new RedisStore({ sendCommand, prefix: `${run}bw:` }),
          }),
        ],
      );
    }
    let rows: BenchRow[];
    try {
      rows = await measureAll(variants);
    } finally {
      if (redisUp) {
        const keys = await redis.keys(`${run}*`);
        if (keys.length > 0) await redis.del(keys);
        await redis.quit();
      }
    }

    const bare = rows[0]!.opsPerSec;
    const ratios: Record<string, number> = {};
    for (const row of rows.slice(1)) ratios[`${row.name} / bare express`] = row.opsPerSec / bare;
    const byName = (name: string) => rows.find((row) => row.name === name)?.opsPerSec;
    const targets: BenchTarget[] = [];
    const pair = (ours: string, theirs: string) => {
      const a = byName(ours);
      const b = byName(theirs);
      if (a === undefined || b === undefined) return;
      const ratio = a / b;
      ratios[`${ours} / ${theirs}`] = ratio;
      targets.push({ name: `${ours} / ${theirs}`, ratio, min: 0.9, met: ratio >= 0.9 });
    };
    pair('bulwark rateLimit (same memory store)', 'express-rate-limit (memory)');
    pair('bulwark rateLimit (same redis store)', 'express-rate-limit (redis)');
    return { suite: 'rate-limit', baseline: 'bare express', rows, ratios, targets, notes };
  },
};
