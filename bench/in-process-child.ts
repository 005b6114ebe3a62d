// Several measured apps in one process, driven without sockets: each request is an
// IncomingMessage and a ServerResponse made in memory and handed to the app, whose answer goes
// to a stream that keeps nothing. Neither the kernel nor a load generator takes part, so what
// a layer adds here is the JavaScript it runs. The apps take turns in short batches, in
// alternating order, so a change in the machine's speed hits each alike; the parent
// (in-process.ts) sends the apps in argv and reads each batch's CPU µs per request back.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import { createPermissionStore } from '@bulwark/rbac';
import type { Express } from 'express';
import pg from 'pg';
import { type AppSpec, buildApp, PATH } from './apps.js';

export interface InProcessOptions {
  specs: Record<string, AppSpec>;
  headers: Record<string, string>;
  databaseUrl: string;
  /** Requests in flight at once, as autocannon's connections. */
  concurrency: number;
  warmupMs: number;
  batchMs: number;
  rounds: number;
}

/** CPU µs per request of each app, one figure per batch, batch i of every app in round i. */
export type InProcessResult = Record<string, number[]>;

const options = JSON.parse(process.argv[2]!) as InProcessOptions;

/** A connection that accepts every write and keeps nothing. */
class NullSocket extends Duplex {
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 40_000;
  override _read(): void {}
  override _write(_chunk: unknown, _encoding: BufferEncoding, callback: () => void): void {
    callback();
  }
  override _writev(_chunks: unknown, callback: () => void): void {
    callback();
  }
  setTimeout(): this {
    return this;
  }
}

const headers: Record<string, string> = {
  host: '127.0.0.1',
  connection: 'keep-alive',
  ...options.headers,
};
const rawHeaders = Object.entries(headers).flat();

const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 2 });
const permissions = createPermissionStore({ db: pool, listen: false });
const apps = Object.entries(options.specs).map(([name, spec]) => ({
  name,
  app: buildApp(spec, permissions),
}));

let failed: string | undefined;

/** One GET answered by `app` over `socket`; resolves when the response has finished. */
function request(app: Express, name: string, socket: NullSocket): Promise<void> {
  return new Promise((resolve) => {
    const req = new IncomingMessage(socket as never);
    req.method = 'GET';
    req.url = PATH;
    req.httpVersion = '1.1';
    req.httpVersionMajor = 1;
    req.httpVersionMinor = 1;
    req.headers = { ...headers };
    req.rawHeaders = rawHeaders;
    req.complete = true;
    req.push(null);
    const res = new ServerResponse(req);
    res.shouldKeepAlive = true;
    res.assignSocket(socket as never);
    res.on('finish', () => {
      if (res.statusCode !== 200) failed ??= `${name} answered ${res.statusCode}`;
      res.detachSocket(socket as never);
      resolve();
    });
    app(req, res);
  });
}

const sockets = Array.from({ length: options.concurrency }, () => new NullSocket());

/** Runs `app` for `ms` with every socket busy; returns the requests it answered. */
async function run(app: Express, name: string, ms: number): Promise<number> {
  const until = performance.now() + ms;
  let answered = 0;
  await Promise.all(
    sockets.map(async (socket) => {
      while (performance.now() < until) {
        await request(app, name, socket);
        answered++;
      }
    }),
  );
  return answered;
}

for (const { name, app } of apps) await run(app, name, options.warmupMs);
const result: InProcessResult = Object.fromEntries(apps.map(({ name }) => [name, []]));
for (let round = 0; round < options.rounds && failed === undefined; round++) {
  const order = round % 2 === 0 ? apps : [...apps].reverse();
  for (const { name, app } of order) {
    const before = process.cpuUsage();
    const answered = await run(app, name, options.batchMs);
    const used = process.cpuUsage(before);
    result[name]!.push((used.user + used.system) / answered);
  }
}
await permissions.close();
await pool.end();
process.send?.(failed === undefined ? { result } : { error: failed }, () => process.exit(0));
