// Shared pieces of the fault suites: a cuttable TCP proxy, bounded load, polling.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** A loopback TCP proxy the test can cut (every connection dropped, nothing listening) and restore. */
export interface CuttableProxy {
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startProxy(
  targetPort: number,
  targetHost = '127.0.0.1',
): Promise<CuttableProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const open = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(targetPort, targetHost);
        sockets.add(client);
        sockets.add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as { port: number }).port;
        server = s;
        resolve();
      });
    });
  const cut = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await open();
  return { port, cut, restore: open, close: cut };
}

/** Polls `check` every 100 ms until it returns a value or `timeoutMs` passes. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await delay(100);
  }
}

/**
 * Runs `workers` loops of `once` until `stop()` resolves, and counts answers by status. Each call
 * is bounded by the caller; the load ends by itself when `stop` settles.
 */
export async function load(
  workers: number,
  once: (worker: number, round: number) => Promise<number>,
  stop: Promise<unknown>,
): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  let done = false;
  void stop.finally(() => {
    done = true;
  });
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let round = 0; !done; round++) {
        const status = await once(worker, round).catch(() => 0);
        counts.set(status, (counts.get(status) ?? 0) + 1);
      }
    }),
  );
  return counts;
}
