// What the field suites need: a guide's code blocks and install lines, a reader's shell, child
// processes bounded in time, and HTTP calls that carry the Host header a browser would send.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type IncomingHttpHeaders, request } from 'node:http';
import { delimiter, dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

interface Fence {
  lang: string;
  code: string;
  /** Offset just after the closing fence, to tell which blocks come before which. */
  end: number;
}

export interface Installs {
  dependencies: string[];
  devDependencies: string[];
}

export interface Guide {
  /** The last ts or js block whose first line is `// <name>` or `// <name>: ...`. */
  file(name: string): string;
  /**
   * Every `npm install` of the shell blocks up to the finished app, for one of the two setups of
   * step 0: the other setup's block is left out.
   */
  installs(setup: 'esm' | 'commonjs'): Installs;
  /** The lines of the shell block that makes `name` (`> name`) that touch `name`. */
  linesMaking(name: string): string[];
  /** The SQL of every `psql ... -c '...'` in the shell blocks. */
  psqlCommands(): string[];
}

function fencesOf(markdown: string): Fence[] {
  const fences: Fence[] = [];
  for (const match of markdown.matchAll(/^```(\w*)[^\n]*\n([\s\S]*?)^```[ \t]*$/gm)) {
    fences.push({
      lang: match[1] ?? '',
      code: (match[2] ?? '').replace(/\n$/, ''),
      end: (match.index ?? 0) + match[0].length,
    });
  }
  return fences;
}

function npmInstalls(code: string): Installs {
  const found: Installs = { dependencies: [], devDependencies: [] };
  for (const line of code.split('\n')) {
    for (const command of line.replace(/\s#.*$/, '').split('&&')) {
      const words = command.trim().split(/\s+/);
      if (words[0] !== 'npm' || (words[1] !== 'install' && words[1] !== 'i')) continue;
      const dev = words.includes('-D') || words.includes('--save-dev');
      const names = words.slice(2).filter((word) => !word.startsWith('-'));
      (dev ? found.devDependencies : found.dependencies).push(...names);
    }
  }
  return found;
}

export function readGuide(path: string): Guide {
  const fences = fencesOf(readFileSync(path, 'utf8'));
  const code = fences.filter((fence) => fence.lang === 'ts' || fence.lang === 'js');
  const shell = fences.filter((fence) => fence.lang === 'sh');
  const named = (name: string) =>
    code.filter((fence) => {
      const first = fence.code.split('\n', 1)[0] ?? '';
      return first === `// ${name}` || first.startsWith(`// ${name}:`);
    });
  const only = (what: string, pattern: RegExp) => {
    const blocks = shell.filter((fence) => pattern.test(fence.code));
    if (blocks.length !== 1) {
      throw new Error(`${path}: expected one shell block ${what}, found ${blocks.length}`);
    }
    return blocks[0] as Fence;
  };
  return {
    file(name) {
      const block = named(name).at(-1);
      if (!block) throw new Error(`${path}: no code block starts with "// ${name}"`);
      return `${block.code}\n`;
    },
    installs(setup) {
      const esm = only('that sets type=module', /npm pkg set type=module/);
      const commonjs = only('that installs express@4', /npm install express@4\b/);
      const finished = Math.max(...[...named('app.ts'), ...named('app.cjs')].map((f) => f.end));
      const skipped = setup === 'esm' ? commonjs : esm;
      const all: Installs = { dependencies: [], devDependencies: [] };
      for (const block of shell.filter((f) => f !== skipped && f.end < finished)) {
        const { dependencies, devDependencies } = npmInstalls(block.code);
        all.dependencies.push(...dependencies);
        all.devDependencies.push(...devDependencies);
      }
      return all;
    },
    linesMaking(name) {
      const block = only(`that writes ${name}`, new RegExp(`>\\s*${name.replace('.', '\\.')}\\b`));
      return block.code.split('\n').filter((line) => line.includes(name));
    },
    psqlCommands() {
      return shell.flatMap((fence) =>
        [...fence.code.matchAll(/psql\s+\S+\s+-c\s+'([^']+)'/g)].map((match) => match[1] ?? ''),
      );
    },
  };
}

/** `name@spec` split in two; a bare name stands for what `npm install name` picks. */
export function splitSpec(word: string): [name: string, spec: string] {
  const at = word.indexOf('@', 1);
  return at === -1 ? [word, 'latest'] : [word.slice(0, at), word.slice(at + 1)];
}

/**
 * The environment of a reader's shell: this Node.js first on PATH (so `npx`, `npm` and scripts
 * run under the Node.js that runs the suite), without what Vitest and pnpm add.
 */
export function readerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(NODE_ENV|TEST|VITEST.*|npm_.*|pnpm_.*|PNPM_.*)$/i.test(key)) continue;
    env[key] = value;
  }
  env.PATH = `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`;
  return { ...env, ...extra };
}

/** Runs a command to completion within `timeoutMs`; a failure carries its whole output. */
export async function sh(
  cmd: string,
  args: string[],
  cwd: string,
  { env = readerEnv(), timeoutMs = 60_000 }: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(cmd, args, {
      cwd,
      env,
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    const {
      stdout = '',
      stderr = '',
      killed,
    } = err as {
      stdout?: string;
      stderr?: string;
      killed?: boolean;
    };
    const why = killed ? `did not finish within ${timeoutMs} ms` : 'failed';
    throw new Error(`${cmd} ${args.join(' ')} ${why} in ${cwd}:\n${stdout}\n${stderr}`);
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningApp {
  child: ChildProcess;
  /** Everything the app printed so far, stdout and stderr. */
  output(): string;
  /** The JSON log lines printed so far. */
  // biome-ignore lint/suspicious/noExplicitAny: log lines are inspected field by field.
  logs(): any[];
  /** Resolves when the process has exited and its output is closed. */
  exited: Promise<Exit>;
  /** True while any process of the app's process group is alive. */
  alive(): boolean;
  /** Sends `signal` to the whole process group, as a terminal or a process manager does. */
  signal(signal: NodeJS.Signals): void;
}

/**
 * Starts a command in a process group of its own, so that a wrapper such as `npx` and the app it
 * starts receive a signal together, as they do in a terminal.
 */
export function startApp(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): RunningApp {
  const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let printed = '';
  child.stdout?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  const exited = new Promise<Exit>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const group = child.pid;
  return {
    child,
    output: () => printed,
    logs: () =>
      printed
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .flatMap((line) => {
          try {
            return [JSON.parse(line)];
          } catch {
            return [];
          }
        }),
    exited,
    alive() {
      if (group === undefined) return false;
      try {
        process.kill(-group, 0);
        return true;
      } catch {
        return false;
      }
    },
    signal(signal) {
      if (group !== undefined) process.kill(-group, signal);
    },
  };
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are inspected field by field.
  body: any;
  ms: number;
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * One HTTP request to 127.0.0.1:`port` on a fresh connection, with `Host: localhost:<port>` as a
 * browser on the same machine sends it. Rejects when no answer comes within `timeoutMs`.
 */
export function call(
  port: number,
  method: string,
  path: string,
  { token, body, headers = {}, timeoutMs = 10_000 }: CallOptions = {},
): Promise<Answer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        headers: {
          host: `localhost:${port}`,
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            body: parsed,
            ms: Date.now() - started,
          });
        });
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.once('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Polls `check` until it returns something other than `undefined`; rejects after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await delay(everyMs);
  }
}
