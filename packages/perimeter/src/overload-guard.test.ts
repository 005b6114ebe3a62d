// overloadGuard() over real HTTP: a CPU hog on the event loop makes it shed with 503, then it recovers.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { type Listening, listen } from '@bulwark/test-utils';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonErrors } from '../test/app.js';
import { type OverloadGuard, overloadGuard } from './overload-guard.js';

const running: Listening[] = [];
const guards: OverloadGuard[] = [];
afterEach(async () => {
  for (const g of guards.splice(0)) g.close();
  for (const s of running.splice(0)) await s.close();
});

function busyLoop(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // Holds the event loop, as a CPU-bound handler does.
  }
}

interface OverloadEvent {
  state: 'overloaded' | 'recovered';
  reasons: string[];
  eventLoopDelayMs: number;
}

function nextEvent(events: OverloadEvent[], state: OverloadEvent['state']): Promise<OverloadEvent> {
  const seen = events.length;
  return new Promise((resolve) => {
    const check = setInterval(() => {
      const found = events.slice(seen).find((e) => e.state === state);
      if (found) {
        clearInterval(check);
        resolve(found);
      }
    }, 5);
  });
}

describe('overloadGuard', () => {
  it('answers 503 overloaded at once while a CPU hog holds the event loop, lets probes through, and recovers when the hog stops', async () => {
    const events: OverloadEvent[] = [];
    const onEvent = (m: unknown) => events.push(m as OverloadEvent);
    subscribe('bulwark:perimeter:overload', onEvent);
    // A long interval gives the shed window room on a busy machine; the hog is 300 ms a call.
    const guard = overloadGuard({ sampleIntervalMs: 500, maxEventLoopDelayMs: 100, retryAfter: 3 });
    guards.push(guard);
    let hogRuns = 0;
    let workRuns = 0;
    const app = express();
    app.use(guard);
    app.get('/hog', (_req, res) => {
      hogRuns++;
      busyLoop(300);
      res.json({ ok: true });
    });
    app.get('/work', (_req, res) => {
      workRuns++;
      res.json({ ok: true });
    });
    app.get('/health', (_req, res) => res.json({ ok: true }));
    app.get('/health/live', (_req, res) => res.json({ ok: true }));
    app.get('/healthz', (_req, res) => res.json({ ok: true }));
    app.use(jsonErrors);
    const server = await listen(app);
    running.push(server);

    try {
      let hogging = true;
      const hogStatuses: number[] = [];
      const overloaded = nextEvent(events, 'overloaded');
      const hogClients = Array.from({ length: 4 }, async () => {
        while (hogging) {
          const res = await fetch(`${server.url}/hog`);
          hogStatuses.push(res.status);
          await res.arrayBuffer();
        }
      });

      const event = await overloaded;
      expect(event.reasons).toContain('eventLoopDelay');
      expect(event.eventLoopDelayMs).toBeGreaterThan(100);
      expect(guard.state().overloaded).toBe(true);

      const hogRunsAtSend = hogRuns;
      const [work, health, live, lookalike] = await Promise.all([
        fetch(`${server.url}/work`),
        fetch(`${server.url}/health`),
        fetch(`${server.url}/health/live`),
        fetch(`${server.url}/healthz`),
      ]);
      // The 503 did not wait for another 300 ms hog call: it came from the guard's own check.
      expect(hogRuns).toBe(hogRunsAtSend);
      expect(work.status).toBe(503);
      expect(work.headers.get('retry-after')).toBe('3');
      expect(await work.json()).toEqual({ code: 'overloaded', message: 'Server overloaded' });
      expect(workRuns).toBe(0);
      expect(health.status).toBe(200);
      expect(live.status).toBe(200);
      expect(lookalike.status).toBe(503);

      const recovered = nextEvent(events, 'recovered');
      hogging = false;
      await Promise.all(hogClients);
      // Hog calls that arrived during the overload were shed, not run.
      expect(hogStatuses).toContain(503);
      const back = await recovered;
      expect(back.reasons).toEqual([]);
      // The hog no longer runs, so the next samples stay under the limit.
      await nextSample(guard);
      expect(guard.state().overloaded).toBe(false);
      const again = await fetch(`${server.url}/work`);
      expect(again.status).toBe(200);
      expect(workRuns).toBe(1);
    } finally {
      unsubscribe('bulwark:perimeter:overload', onEvent);
    }
  });

  it('does not hold the stall of the app’s own start-up, before its first request, against that request', async () => {
    const events: OverloadEvent[] = [];
    const onEvent = (m: unknown) => events.push(m as OverloadEvent);
    subscribe('bulwark:perimeter:overload', onEvent);
    const guard = overloadGuard({ sampleIntervalMs: 50, maxEventLoopDelayMs: 100 });
    guards.push(guard);
    const app = express();
    app.use(guard);
    app.get('/work', (req, res) => {
      if (req.query.hog === '1') busyLoop(300);
      res.json({ ok: true });
    });
    app.use(jsonErrors);
    try {
      // Start-up work holding the loop past the limit, then a sample that measures it.
      busyLoop(300);
      await nextSample(guard);
      expect(guard.state().eventLoopDelayMs).toBeGreaterThan(100);
      expect(guard.state().overloaded).toBe(false);
      const server = await listen(app);
      running.push(server);
      expect((await fetch(`${server.url}/work`)).status).toBe(200);
      expect(events).toEqual([]);
      // Once serving, the same stall sheds.
      const overloaded = nextEvent(events, 'overloaded');
      expect((await fetch(`${server.url}/work?hog=1`)).status).toBe(200);
      // The 300 ms stall is past the delay limit, and a busy loop for the whole sample too.
      expect((await overloaded).reasons).toContain('eventLoopDelay');
    } finally {
      unsubscribe('bulwark:perimeter:overload', onEvent);
    }
  });

  it('sheds on heap and resident memory limits, and lets every request through after close()', async () => {
    const guard = overloadGuard({
      maxEventLoopDelayMs: false,
      maxEventLoopUtilization: false,
      maxHeapUsedBytes: 1,
      maxRssBytes: 1,
      sampleIntervalMs: 20,
    });
    guards.push(guard);
    const app = express();
    app.use(guard);
    app.get('/work', (_req, res) => res.json({ ok: true }));
    app.use(jsonErrors);
    const server = await listen(app);
    running.push(server);

    await nextSample(guard);
    const state = guard.state();
    expect(state.overloaded).toBe(true);
    expect(state.reasons).toEqual(['heapUsed', 'rss']);
    expect(state.heapUsedBytes).toBeGreaterThan(1);
    expect(state.rssBytes).toBeGreaterThan(1);
    const shed = await fetch(`${server.url}/work`);
    expect(shed.status).toBe(503);
    expect(shed.headers.get('retry-after')).toBe('10');

    guard.close();
    guard.close();
    expect(guard.state().overloaded).toBe(false);
    const passed = await fetch(`${server.url}/work`);
    expect(passed.status).toBe(200);
  });

  it('refuses a sample interval too short to measure the event loop', () => {
    expect(() => overloadGuard({ sampleIntervalMs: 5 })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_PERIMETER_INVALID_NUMBER',
        message: expect.stringMatching(/sampleIntervalMs: 5 .*at least 10/),
      }),
    );
  });

  it('refuses an event-loop utilisation limit outside 0 to 1', () => {
    expect(() => overloadGuard({ maxEventLoopUtilization: 98 })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_PERIMETER_INVALID_NUMBER',
        message: expect.stringMatching(/maxEventLoopUtilization: 98 .*such as 0.98/),
      }),
    );
  });

  it('refuses fractional or negative limits, intervals and Retry-After values', () => {
    for (const options of [
      { maxEventLoopDelayMs: 0 },
      { maxHeapUsedBytes: -1 },
      { maxRssBytes: 1.5 },
      { retryAfter: 0 },
      { sampleIntervalMs: 100.5 },
    ]) {
      expect(() => overloadGuard(options)).toThrow(
        expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_NUMBER' }),
      );
    }
  });

  it('refuses exempt paths that do not start with a slash', () => {
    expect(() => overloadGuard({ exempt: ['health'] })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_PERIMETER_INVALID_PATH',
        message: expect.stringContaining('"health" is not a path'),
      }),
    );
  });

  it('refuses a guard whose every limit is turned off', () => {
    expect(() =>
      overloadGuard({ maxEventLoopDelayMs: false, maxEventLoopUtilization: false }),
    ).toThrow(expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_OVERLOAD_NO_LIMITS' }));
  });

  it('names the closest option for a misspelled one', () => {
    expect(() =>
      overloadGuard({ maxEventLoopDelay: 100 } as unknown as Parameters<typeof overloadGuard>[0]),
    ).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_PERIMETER_UNKNOWN_OPTION',
        message: expect.stringContaining('Did you mean `maxEventLoopDelayMs`?'),
      }),
    );
  });
});

/** Resolves once the guard has taken a new measurement. */
function nextSample(guard: OverloadGuard): Promise<void> {
  const before = guard.state();
  return new Promise((resolve) => {
    const check = setInterval(() => {
      if (guard.state() !== before) {
        clearInterval(check);
        resolve();
      }
    }, 5);
  });
}
