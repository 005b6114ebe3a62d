// The checkout tracker reports a client held too long once, with the stack that took it, forgets released ones, and spares those held on purpose.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createTestDatabase, requireService, type TestDatabase } from '@bulwark/test-utils';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../test/support.js';
import type { LeakEvent } from './diagnostics.js';
import { checkHealth } from './health.js';
import { CheckoutTracker, captureSite, HELD } from './leaks.js';
import { createPool, type SafePool } from './pool.js';

const hasPg = await requireService('postgres');

const client = (pid: number) => ({ processID: pid }) as unknown as pg.PoolClient;

/** What a holder outside this package writes: the key by name, the function only if present. */
const declareHeld = (c: pg.PoolClient): unknown =>
  (c as unknown as Record<symbol, (() => unknown) | undefined>)[Symbol.for('bulwark.db.held')]?.();

describe('CheckoutTracker', () => {
  const events: LeakEvent[] = [];
  const onLeak = (message: unknown) => events.push(message as LeakEvent);
  subscribe('bulwark:db:leak', onLeak);
  afterEach(() => {
    events.length = 0;
  });
  afterAll(() => unsubscribe('bulwark:db:leak', onLeak));

  function takeClient(tracker: CheckoutTracker, pid: number) {
    const c = client(pid);
    tracker.acquired(c, captureSite(takeClient));
    return c;
  }

  it('reports a client held past the limit once, with the acquiring stack and pid', async () => {
    const warnings: unknown[] = [];
    const tracker = new CheckoutTracker(40, { warn: (_m, meta) => warnings.push(meta) });
    const held = takeClient(tracker, 4242);
    expect(await eventually(() => events.length > 0)).toBe(true);
    await eventually(() => false, 150);
    tracker.released(held);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ pid: 4242 });
    expect(events[0]?.stack).toContain('leaks.test.ts');
    expect(events[0]?.stack).not.toMatch(/^Error/);
    expect(warnings).toEqual([expect.objectContaining({ code: 'BULWARK_DB_LEAK', pid: 4242 })]);
  });

  it('does not report a client released before the limit', async () => {
    const tracker = new CheckoutTracker(40, { warn: () => {} });
    const c = takeClient(tracker, 1);
    tracker.released(c);
    await eventually(() => false, 120);
    expect(events).toEqual([]);
    expect(tracker.isCheckedOut(c)).toBe(false);
  });

  it('tracks checkouts but reports nothing when leak warnings are off', async () => {
    const tracker = new CheckoutTracker(0, { warn: () => {} });
    const c = client(2);
    tracker.acquired(c, undefined);
    expect(tracker.isCheckedOut(c)).toBe(true);
    expect(tracker.tracksLeaks).toBe(false);
    await eventually(() => false, 60);
    expect(events).toEqual([]);
    tracker.released(c);
  });
  it('does not report a checkout its holder declared long-lived, and still reports one beside it', async () => {
    const warnings: unknown[] = [];
    const tracker = new CheckoutTracker(40, { warn: (_m, meta) => warnings.push(meta) });
    const listener = client(7);
    tracker.expose(listener);
    tracker.acquired(listener, captureSite(takeClient));
    expect(declareHeld(listener)).toBe(true);
    const leaked = takeClient(tracker, 8);
    expect(await eventually(() => events.length > 0)).toBe(true);
    await eventually(() => false, 150);
    expect(events).toEqual([expect.objectContaining({ pid: 8 })]);
    expect(warnings).toEqual([expect.objectContaining({ code: 'BULWARK_DB_LEAK', pid: 8 })]);
    expect(tracker.isCheckedOut(listener)).toBe(true);
    expect(tracker.heldCount).toBe(1);
    tracker.released(leaked);
    tracker.released(listener);
    expect(tracker.heldCount).toBe(0);
  });

  it('ends the declaration with the checkout, so the same client taken again is watched', async () => {
    const tracker = new CheckoutTracker(40, { warn: () => {} });
    const c = client(9);
    tracker.expose(c);
    tracker.acquired(c, undefined);
    declareHeld(c);
    tracker.released(c);
    expect(declareHeld(c)).toBe(false);
    tracker.acquired(c, captureSite(takeClient));
    expect(await eventually(() => events.length > 0)).toBe(true);
    expect(events).toEqual([expect.objectContaining({ pid: 9 })]);
    tracker.released(c);
  });

  it('keys the declaration on the well-known symbol other packages look up', () => {
    expect(HELD).toBe(Symbol.for('bulwark.db.held'));
  });
});

describe.runIf(hasPg)('a checkout held on purpose, on a pool from createPool', () => {
  let database: TestDatabase;
  const pools: SafePool[] = [];
  const events: LeakEvent[] = [];
  const onLeak = (message: unknown) => events.push(message as LeakEvent);

  beforeAll(async () => {
    database = await createTestDatabase('dbsafety_held');
    subscribe('bulwark:db:leak', onLeak);
  });
  afterEach(() => {
    events.length = 0;
  });
  afterAll(async () => {
    unsubscribe('bulwark:db:leak', onLeak);
    await Promise.all(pools.map((pool) => (pool.ending ? undefined : pool.end())));
    await database?.drop();
  });

  const make = (options: Parameters<typeof createPool>[0] = {}) => {
    const pool = createPool({
      connectionString: database.url,
      leakWarningMs: 60,
      logger: { warn: () => {} },
      ...options,
    });
    pools.push(pool);
    return pool;
  };

  it('is not reported as a leak while a client never released beside it is', async () => {
    const pool = make({ max: 3 });
    const listener = await pool.connect();
    const leaked = await pool.connect();
    try {
      expect(declareHeld(listener)).toBe(true);
      await listener.query('LISTEN bulwark_held_test');
      const leakedPid = (leaked as unknown as { processID: number }).processID;
      expect(await eventually(() => events.length > 0)).toBe(true);
      await eventually(() => false, 300);
      expect(events).toEqual([expect.objectContaining({ pid: leakedPid })]);
      expect(events[0]?.stack).toContain('leaks.test.ts');
    } finally {
      leaked.release();
      listener.release();
    }
  });

  it('stays counted in the pool, in its health and by end(), which waits for its release', async () => {
    const pool = make({ max: 2 });
    const listener = await pool.connect();
    let ending: Promise<void> | undefined;
    try {
      declareHeld(listener);
      expect(pool.heldCount).toBe(1);
      expect({ total: pool.totalCount, idle: pool.idleCount }).toEqual({ total: 1, idle: 0 });
      const health = await checkHealth(pool, { cacheMs: 0 });
      expect(health.pool).toEqual({ total: 2, idle: 1, waiting: 0 });
      let ended = false;
      ending = pool.end().then(() => {
        ended = true;
      });
      await eventually(() => false, 150);
      expect(ended).toBe(false);
    } finally {
      listener.release();
    }
    await ending;
    expect(pool.heldCount).toBe(0);
    // Held for over twice leakWarningMs; the health probe's own checkout may be slow on a busy host.
    const listenerPid = (listener as unknown as { processID: number }).processID;
    expect(events.filter((event) => event.pid === listenerPid)).toEqual([]);
  });

  it('holds only the checkout it was declared for: the same connection taken again is reported', async () => {
    const pool = make({ max: 1 });
    const first = await pool.connect();
    declareHeld(first);
    first.release();
    const again = await pool.connect();
    try {
      expect(again).toBe(first);
      expect(pool.heldCount).toBe(0);
      expect(await eventually(() => events.length > 0)).toBe(true);
    } finally {
      again.release();
    }
  });
});
