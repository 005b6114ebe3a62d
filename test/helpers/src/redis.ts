// Unique Redis key prefixes, and a private redis-server on a free port for outage tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { freePort, waitForPort } from './ports.js';
import { SERVICES } from './services.js';

/** A key prefix no other suite or run uses: `bulwark-test:<label>:<random>:`. */
export function redisPrefix(label = 'test'): string {
  return `bulwark-test:${label}:${randomBytes(4).toString('hex')}:`;
}

export interface RunningRedis {
  port: number;
  url: string;
  /** Stops the server (SIGKILL by default, like a crash). */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

/** Starts a memory-only redis-server on a free loopback port. */
export async function startRedisServer(): Promise<RunningRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      SERVICES['redis-server'].url,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await waitForPort(port);
  };
  const stop = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill(signal);
    });
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, stop, start };
}
