// The checkout tracker reports a client held too long once, with the stack that took it, and forgets released ones.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../test/support.js';
import type { LeakEvent } from './diagnostics.js';
import { CheckoutTracker, captureSite } from './leaks.js';

const client = (pid: number) => ({ processID: pid }) as unknown as pg.PoolClient;

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
});
