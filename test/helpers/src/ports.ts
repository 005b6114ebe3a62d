// Free loopback ports and waiting for a port to accept connections.
import { createConnection, createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** A port the system offers on 127.0.0.1 now, released again before it is returned. */
function offeredPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

// Ports already handed out in this process: the system may offer a released port again at once,
// and two servers a test starts one after the other must not be given the same one.
const handedOut = new Set<number>();

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, and not handed out before by this process
 * (of the last 10 000), so ports taken one after the other for the servers of one test differ.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await offeredPort();
    if (handedOut.has(port)) continue;
    if (handedOut.size >= 10_000) handedOut.clear();
    handedOut.add(port);
    return port;
  }
}

/** True when something accepts TCP connections on host:port within `timeoutMs`. */
export async function portOpen(
  port: number,
  host = '127.0.0.1',
  timeoutMs = 500,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Resolves once host:port accepts connections; rejects after `timeoutMs`. */
export async function waitForPort(
  port: number,
  host = '127.0.0.1',
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await portOpen(port, host, 250)) return;
    await delay(50);
  }
  throw new Error(`nothing accepted connections on ${host}:${port} within ${timeoutMs} ms`);
}
