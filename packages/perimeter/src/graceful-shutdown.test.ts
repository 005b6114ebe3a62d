// gracefulShutdown(): in-flight requests finish, new ones are refused, resources close, the process exits.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { rawRequest } from '../test/app.js';
import { gracefulShutdown, type ShutdownController } from './graceful-shutdown.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const children: ChildProcess[] = [];
const controllers: ShutdownController[] = [];
const servers: Server[] = [];
afterAll(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});
afterEach(async () => {
  for (const c of controllers.splice(0)) c.dispose();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    if (s.listening) await new Promise((resolve) => s.close(resolve));
  }
});

/** Starts test/shutdown-server.ts and resolves with its port and a way to wait for its output. */
async function startChild(env: Record<string, string> = {}) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'test', 'shutdown-server.ts')],
    {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  let out = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) {
      if (out.includes(w.text)) w.resolve();
      else waiters.push(w);
    }
  });
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const waitFor = (text: string) =>
    new Promise<void>((resolve) => {
      if (out.includes(text)) resolve();
      else waiters.push({ text, resolve });
    });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  await waitFor('listening ');
  const port = Number(/listening (\d+)/.exec(out)?.[1]);
  return { child, port, waitFor, exited, output: () => out };
}

/** How a new request fares: 'answered', or the error code of a connection that was turned away. */
function refused(port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/slow', agent: false });
    req.on('response', () => resolve('answered'));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    req.end();
  });
}

describe('gracefulShutdown', () => {
  // Each of these starts its own server process through tsx, which takes a few seconds on a busy machine.
  describe('in a real process', { timeout: 30_000 }, () => {
    it('on SIGTERM finishes the in-flight request, refuses new ones, closes resources and exits 0', async () => {
      const { child, port, waitFor, exited, output } = await startChild({ HOLD_MS: '400' });
      const inFlight = rawRequest({ port, path: '/slow' });
      await waitFor('request started');
      child.kill('SIGTERM');
      await waitFor('info shutdown started');
      // Refused outright, or reset if it reached the backlog just before the listener closed.
      expect(await refused(port)).toMatch(/^(ECONNREFUSED|ECONNRESET)$/);
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ finished: true });
      expect(res.headers.connection).toBe('close');
      expect(await exited).toBe(0);
      const text = output();
      // Closed in reverse order of registration, after the requests drained.
      expect(text.indexOf('closed mqtt')).toBeGreaterThan(-1);
      expect(text.indexOf('closed mqtt')).toBeLessThan(text.indexOf('closed database'));
      expect(text).toContain('info shutdown complete');
    });
  });

  /** An in-process server whose /slow handler waits until released; exit is recorded, not run. */
  async function inProcess(options: Parameters<typeof gracefulShutdown>[1] = {}) {
    const app = express();
    let release: () => void = () => {};
    let started: () => void = () => {};
    const handlerStarted = new Promise<void>((resolve) => (started = resolve));
    app.get('/slow', (_req, res) => {
      release = () => res.json({ finished: true });
      started();
    });
    const server = createServer(app);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const exits: number[] = [];
    const warnings: string[] = [];
    const controller = gracefulShutdown(server, {
      signals: [],
      exit: (code) => exits.push(code),
      logger: { warn: (message) => warnings.push(message) },
      ...options,
    });
    controllers.push(controller);
    return { port, controller, exits, warnings, handlerStarted, release: () => release() };
  }

  it('cuts requests still running after timeoutMs and exits 1', async () => {
    const { port, controller, exits, warnings, handlerStarted } = await inProcess({
      timeoutMs: 200,
    });
    const closed: string[] = [];
    controller.register('database', () => {
      closed.push('database');
    });
    const inFlight = rawRequest({ port, path: '/slow' }).then(
      () => 'answered',
      (err: NodeJS.ErrnoException) => err.code ?? 'error',
    );
    await handlerStarted;
    expect(await controller.shutdown()).toBe(1);
    expect(await inFlight).toBe('ECONNRESET');
    expect(exits).toEqual([1]);
    expect(warnings[0]).toContain('1 request(s) still running after 200 ms');
    expect(closed).toEqual(['database']);
  });

  it('starts on a real signal and exits at once on a second one', async () => {
    const { port, controller, exits, handlerStarted } = await inProcess({
      signals: ['SIGUSR2'],
      timeoutMs: 20_000,
    });
    void rawRequest({ port, path: '/slow' }).catch(() => {});
    await handlerStarted;
    const firstHandled = new Promise((resolve) => process.once('SIGUSR2', resolve));
    process.kill(process.pid, 'SIGUSR2');
    await firstHandled;
    expect(controller.shuttingDown).toBe(true);
    expect(exits).toEqual([]);
    const secondHandled = new Promise((resolve) => process.once('SIGUSR2', resolve));
    process.kill(process.pid, 'SIGUSR2');
    await secondHandled;
    expect(exits).toEqual([1]);
  });

  it('can be started by code, with exit injected, and reports shuttingDown for readiness probes', async () => {
    const { port, controller, exits, warnings, handlerStarted, release } = await inProcess();
    const closed: string[] = [];
    controller.register('pool', () => {
      closed.push('pool');
    });
    controller.register('broken', () => {
      throw new Error('close failed');
    });
    const inFlight = rawRequest({ port, path: '/slow' });
    await handlerStarted;
    expect(controller.shuttingDown).toBe(false);
    const done = controller.shutdown('deploy');
    expect(controller.shuttingDown).toBe(true);
    // Refused outright, or reset if it reached the backlog just before the listener closed.
    expect(await refused(port)).toMatch(/^(ECONNREFUSED|ECONNRESET)$/);
    release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.headers.connection).toBe('close');
    expect(await done).toBe(1);
    expect(exits).toEqual([1]);
    expect(closed).toEqual(['pool']);
    expect(warnings).toEqual(['gracefulShutdown: closing broken failed.']);
  });

  it('refuses bad signals, numbers and closers at construction', () => {
    const server = createServer();
    expect(() => gracefulShutdown(server, { signals: ['SIGKILL'] })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_SIGNAL' }),
    );
    expect(() => gracefulShutdown(server, { timeoutMs: -5 })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_NUMBER' }),
    );
    expect(() => gracefulShutdown(server, { onShutdown: 'close' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_OPTION' }),
    );
    expect(() => gracefulShutdown({} as Server)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_NOT_A_SERVER' }),
    );
  });
});
