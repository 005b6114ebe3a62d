// Starts measured apps in processes of their own (app-child.ts) and reads their CPU time, write
// calls and memory, so each figure is the app's alone: the load comes from yet another process.
import { type ChildProcess, fork } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import type { ChildRequest, ChildUsage } from './app-child.js';
import type { AppSpec } from './apps.js';
import { PATH } from './apps.js';
import { type LoadOptions, type LoadResult, loadFromChild } from './load.js';

const here = import.meta.dirname;
const WORK = join(here, '.work');

/**
 * A child process's code (`app-child`, `in-process-child`) as plain JavaScript in bench/.work,
 * with the apps it builds, so the measured process runs on Node.js alone: no TypeScript loader
 * thread in its CPU time or its memory. Each file is written once a run.
 */
export const childScript = (() => {
  const written = new Map<string, string>();
  return (child = 'app-child') => {
    let path = written.get(child);
    if (path) return path;
    mkdirSync(WORK, { recursive: true });
    for (const name of ['apps', child]) {
      if (written.has(name)) continue;
      const source = readFileSync(join(here, `${name}.ts`), 'utf8');
      const { outputText } = ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
        fileName: `${name}.ts`,
      });
      path = join(WORK, `${name}.mjs`);
      writeFileSync(path, outputText.replace("'./apps.js'", "'./apps.mjs'"));
      written.set(name, path);
    }
    return written.get(child)!;
  };
})();

/** Full runs measure ≥ 5 rounds of 5 s; BENCH_QUICK=1 shortens every HTTP suite for development. */
export const QUICK = process.env.BENCH_QUICK === '1';

export interface AppProcess {
  name: string;
  /** `http://127.0.0.1:<port>`. */
  origin: string;
  /** The origin and the path every suite's route answers with a 200. */
  url: string;
  pid: number;
  /** CPU time and memory of the app process now. */
  usage(): Promise<ChildUsage>;
  /** Memory after two full garbage collections. */
  memory(): Promise<ChildUsage>;
  /**
   * Write system calls made so far by the app's main thread (the event loop), from
   * /proc/<pid>/task/<pid>/io; undefined where /proc does not have it.
   */
  mainThreadWrites(): number | undefined;
  /** Promises created while serving `requests` sequential requests over one keep-alive connection. */
  countPromises(requests: number, headers: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** The figures of one measuring round of one app. */
export interface Round {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  /** CPU time of the app process (user + system, all its threads) per request served, in µs. */
  cpuUsPerRequest: number;
  /** Write system calls of the app's main thread per request, where /proc has them. */
  writesPerRequest?: number;
}

/**
 * Where the app processes' stdout goes: one file per app in a fresh temporary folder, as with
 * `node app.js > app.log`, so every logger writes to a real file. Removed by `remove()`.
 */
export function logFolder(): { path: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-bench-'));
  return {
    path: (name) => join(dir, `${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.log`),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Starts `spec` in a process of its own with stdout to `logPath`, and waits until it listens. */
export async function startApp(
  name: string,
  spec: AppSpec,
  options: { logPath: string; databaseUrl?: string },
): Promise<AppProcess> {
  const out = openSync(options.logPath, 'a');
  let child: ChildProcess;
  try {
    child = fork(childScript(), [JSON.stringify({ spec, databaseUrl: options.databaseUrl })], {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', out, 'inherit', 'ipc'],
      env: { ...process.env, NODE_ENV: 'production' },
    });
  } finally {
    closeSync(out);
  }
  const pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (e: Error) => void }
  >();
  let nextId = 1;
  let exited: Error | undefined;
  const ready = new Promise<{ port: number }>((resolve, reject) => {
    pending.set(0, { resolve: resolve as (value: unknown) => void, reject });
  });
  child.on('message', (message: { id: number; value: unknown }) => {
    const waiting = pending.get(message.id);
    pending.delete(message.id);
    waiting?.resolve(message.value);
  });
  child.on('exit', (code, signal) => {
    exited = new Error(`app process "${name}" exited (${signal ?? `code ${code}`})`);
    for (const waiting of pending.values()) waiting.reject(exited);
    pending.clear();
  });
  const ask = <T>(message: WithoutId<ChildRequest>): Promise<T> => {
    if (exited) return Promise.reject(exited);
    const id = nextId++;
    const answer = new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
    });
    child.send({ ...message, id });
    return answer;
  };
  const { port } = await ready;
  const pid = child.pid!;
  const origin = `http://127.0.0.1:${port}`;
  const url = `${origin}${PATH}`;
  const ioPath = `/proc/${pid}/task/${pid}/io`;

  return {
    name,
    origin,
    url,
    pid,
    usage: () => ask<ChildUsage>({ type: 'usage' }),
    memory: () => ask<ChildUsage>({ type: 'memory' }),
    mainThreadWrites() {
      try {
        const match = /^syscw:\s*(\d+)$/m.exec(readFileSync(ioPath, 'utf8'));
        return match ? Number(match[1]) : undefined;
      } catch {
        return undefined;
      }
    },
    async countPromises(requests, headers) {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        // The connection is opened (and the route warmed) before counting starts.
        for (let i = 0; i < 20; i++) await get(url, headers, agent);
        await ask({ type: 'count', on: true });
        for (let i = 0; i < requests; i++) await get(url, headers, agent);
        return await ask<number>({ type: 'count', on: false });
      } finally {
        agent.destroy();
      }
    },
    async close() {
      if (exited) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'exit', id: nextId++ });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** One GET over `agent`; rejects unless the answer is a 200. */
function get(url: string, headers: Record<string, string>, agent: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    request(url, { headers, agent }, (response) => {
      response.resume();
      response.on('end', () =>
        response.statusCode === 200
          ? resolve()
          : reject(new Error(`${url} answered ${response.statusCode}`)),
      );
    })
      .on('error', reject)
      .end();
  });
}

/**
 * One measuring round: load from autocannon in its own process, and the app's CPU time and
 * main-thread write calls read before and after, divided by the requests it answered. Every
 * answer must be a 2xx, or with `failing` every answer must not be: the route's error path.
 */
export async function measureRound(
  app: AppProcess,
  load: Omit<LoadOptions, 'url'>,
  route: { path?: string; failing?: boolean } = {},
): Promise<Round> {
  const before = await app.usage();
  const writesBefore = app.mainThreadWrites();
  const url = route.path === undefined ? app.url : `${app.origin}${route.path}`;
  const result: LoadResult = await loadFromChild({ ...load, url });
  const after = await app.usage();
  const writesAfter = app.mainThreadWrites();
  const unexpected = route.failing ? result.requests.total - result.non2xx : result.non2xx;
  if (unexpected > 0 || result.errors > 0) {
    throw new Error(
      `${app.name}: ${result.non2xx} non-2xx answers of ${result.requests.total} and ${result.errors} errors: check the app`,
    );
  }
  const served = result.requests.total;
  return {
    requests: result.requests,
    latency: result.latency,
    cpuUsPerRequest: (after.cpuUs - before.cpuUs) / served,
    ...(writesBefore !== undefined &&
      writesAfter !== undefined && {
        writesPerRequest: (writesAfter - writesBefore) / served,
      }),
  };
}
