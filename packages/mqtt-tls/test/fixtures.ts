// Test fixtures for this package: a TCP proxy that can stall or cut a connection, and event helpers.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface StallingProxy {
  port: number;
  /** Stop forwarding in both directions (the connection stays open, like a stalled network). */
  stall(): void;
  /** Destroy every proxied connection, like a broker that went away. */
  cut(): void;
  close(): Promise<void>;
}

/** A loopback TCP proxy to `targetPort`. */
export async function startProxy(targetPort: number): Promise<StallingProxy> {
  const sockets = new Set<Socket>();
  let stalled = false;
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (chunk) => {
        if (!stalled) to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    stall: () => {
      stalled = true;
    },
    cut: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Records what is published on a diagnostics channel until `stop()`. */
export function record<T = Record<string, unknown>>(name: string): { events: T[]; stop(): void } {
  const events: T[] = [];
  const listener = (message: unknown) => events.push(message as T);
  subscribe(name, listener);
  return { events, stop: () => unsubscribe(name, listener) };
}

/** Resolves once `check()` is true, polling every 20 ms; rejects after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
