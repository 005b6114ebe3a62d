// Load from a separate process: the figures then measure the app, not the app plus its load.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./load-child.mjs', import.meta.url));

export interface LoadOptions {
  url: string;
  connections: number;
  /** Seconds to run; or give `amount`. */
  duration?: number;
  /** Requests to send; or give `duration`. */
  amount?: number;
  headers?: Record<string, string>;
  /**
   * Spread requests over `count` clients, each with its own X-Forwarded-For address and its own
   * HS256 token (subject `user-<i>`, the given claims), signed by the load process.
   */
  clients?: {
    count: number;
    token: { secretHex: string; issuer: string; audience: string; claims: object };
  };
}

export interface LoadResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}

/** Runs autocannon in a child process and returns its figures. */
export async function loadFromChild(options: LoadOptions): Promise<LoadResult> {
  const { stdout } = await run(process.execPath, [CHILD, JSON.stringify(options)], {
    maxBuffer: 1 << 20,
    timeout: 15 * 60_000,
  });
  return JSON.parse(stdout) as LoadResult;
}
