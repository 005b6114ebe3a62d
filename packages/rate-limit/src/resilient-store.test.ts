// The breaker's states, and a Redis that hangs (paused, connections open) rather than refusing.
import { type ChildProcess, spawn } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { freePort, listen, requireService, SERVICES, waitForPort } from '@bulwark/test-utils';
import express, { type ErrorRequestHandler } from 'express';
import { createClient } from 'redis';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createRateLimits } from './create-rate-limits.js';
import { createRedisStore, redisSender } from './redis.js';
import { CircuitBreaker, ResilientStore } from './resilient-store.js';

const hasRedisServer = await requireService('redis-server');

describe('CircuitBreaker', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('opens after the configured consecutive failures, probes after the cooldown and closes on success', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const seen: string[] = [];
    const onFallback = () => seen.push('fallback');
    const onRecovered = () => seen.push('recovered');
    subscribe('bulwark:rate-limit:fallback', onFallback);
    subscribe('bulwark:rate-limit:recovered', onRecovered);
    const warnings: string[] = [];
    try {
      const breaker = new CircuitBreaker(
        { failures: 2, cooldownMs: 5_000 },
        { warn: (m) => warnings.push(m) },
      );
      expect(breaker.enter()).toBe('call');
      breaker.failed('p', 'call');
      expect(breaker.state).toBe('closed');
      breaker.succeeded('p', 'call');
      breaker.failed('p', 'call');
      expect(breaker.state).toBe('closed');
      breaker.failed('p', 'call');
      expect(breaker.state).toBe('open');
      expect(breaker.enter()).toBe('skip');
      // A call made before the circuit opened answers late: it does not close the circuit.
      breaker.succeeded('p', 'call');
      expect(breaker.state).toBe('open');
      expect(breaker.retryAfterSeconds()).toBe(5);
      vi.advanceTimersByTime(5_000);
      expect(breaker.enter()).toBe('probe');
      expect(breaker.enter()).toBe('skip');
      breaker.failed('p', 'probe');
      expect(breaker.state).toBe('open');
      vi.advanceTimersByTime(5_000);
      expect(breaker.enter()).toBe('probe');
      breaker.succeeded('p', 'probe');
      expect(breaker.state).toBe('closed');
    } finally {
      unsubscribe('bulwark:rate-limit:fallback', onFallback);
      unsubscribe('bulwark:rate-limit:recovered', onRecovered);
    }
    expect(seen).toEqual(['fallback', 'recovered']);
    expect(warnings).toHaveLength(1);
  });
});

describe('ResilientStore fallback', () => {
  it('stays under its key cap with 100k distinct keys while the store is unreachable', async () => {
    // A node-redis client that was never connected: every command fails at once.
    const closed = createClient({ url: 'redis://127.0.0.1:1' });
    const store = new ResilientStore({
      policy: 'flood',
      primary: createRedisStore(redisSender(closed, 'test'), 'bulwark-test:flood:'),
      breaker: new CircuitBreaker({ failures: 1, cooldownMs: 60_000 }, { warn: () => {} }),
      timeoutMs: 100,
      onStoreError: 'allow',
      fallbackMaxKeys: 5_000,
    });
    store.init({ windowMs: 60_000 } as Parameters<ResilientStore['init']>[0]);
    let firstHits = 0;
    for (let i = 0; i < 100_000; i++) {
      const { totalHits } = await store.increment(`ip:10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
      if (totalHits === 1) firstHits++;
    }
    expect(firstHits).toBe(100_000);
    expect(store.fallback.size).toBe(5_000);
    // Limiting still works for a client that keeps coming back.
    await store.increment('ip:192.0.2.1');
    expect((await store.increment('ip:192.0.2.1')).totalHits).toBe(2);
  });
});

describe('resetKey while Redis is unreachable', () => {
  it('resets a key of an allow policy during the outage instead of answering 503, and still refuses on a deny policy', async () => {
    // A node-redis client that was never connected: every command fails at once.
    const closed = createClient({ url: 'redis://127.0.0.1:1' });
    const limits = createRateLimits({
      redis: closed,
      defaults: { logger: { warn: () => {} }, breaker: { failures: 1, cooldownMs: 60_000 } },
    });
    const open = limits.policy('after-login', { limit: 1 });
    const strict = limits.policy('strict', { limit: 1, onStoreError: 'deny' });
    const app = express();
    app.get('/', open, (_req, res) => {
      res.json({ ok: true });
    });
    app.use(((err, _req, res, _next) => {
      res.status(err.status ?? 500).json({ code: err.code });
    }) as ErrorRequestHandler);
    const http = await listen(app);
    try {
      expect((await fetch(http.url)).status).toBe(200);
      expect((await fetch(http.url)).status).toBe(429);
      // e.g. after a successful login: the app's call must not fail because Redis is down.
      await expect(open.resetKey('ip:127.0.0.1')).resolves.toBeUndefined();
      expect((await fetch(http.url)).status).toBe(200);
      await expect(strict.resetKey('ip:127.0.0.1')).rejects.toMatchObject({
        status: 503,
        code: 'rate_limit_unavailable',
      });
    } finally {
      await http.close();
    }
  });
});

describe.runIf(hasRedisServer)('a Redis that stops answering', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
  });

  it('answers within the store timeout while Redis hangs, and resumes when it answers again', async () => {
    const port = await freePort();
    child = spawn(
      SERVICES['redis-server'].url,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await waitForPort(port);
    const redis = createClient({ url: `redis://127.0.0.1:${port}` });
    redis.on('error', () => {});
    await redis.connect();
    const limits = createRateLimits({
      redis,
      defaults: { storeTimeoutMs: 1_000, breaker: { failures: 1, cooldownMs: 200 } },
    });
    const app = express();
    app.get('/deny', limits.policy('deny', { onStoreError: 'deny' }), (_req, res) => {
      res.json({ ok: true });
    });
    app.get('/allow', limits.policy('allow'), (_req, res) => {
      res.json({ ok: true });
    });
    app.use(((err, _req, res, _next) => {
      res.status(err.status ?? 500).json({ code: err.code });
    }) as ErrorRequestHandler);
    const http = await listen(app);
    const get = (path: string) =>
      fetch(`${http.url}${path}`, { signal: AbortSignal.timeout(3_000) });
    try {
      expect((await get('/deny')).status).toBe(200);
      child.kill('SIGSTOP');
      const denied = await get('/deny');
      expect(denied.status).toBe(503);
      expect(await denied.json()).toEqual({ code: 'rate_limit_unavailable' });
      expect((await get('/allow')).status).toBe(200);
      child.kill('SIGCONT');
      let status = 0;
      const deadline = Date.now() + 5_000;
      while (status !== 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        status = (await get('/deny')).status;
      }
      expect(status).toBe(200);
      expect(limits.storeState()).toBe('closed');
    } finally {
      child.kill('SIGCONT');
      await http.close();
      redis.destroy();
    }
  });
});
