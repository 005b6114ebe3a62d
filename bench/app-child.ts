// One measured app in a process of its own, so its CPU time and memory are its own. The parent
// (app-process.ts) sends the spec in argv and asks for figures over the IPC channel.
import { createHook } from 'node:async_hooks';
import type { AddressInfo } from 'node:net';
import { createPermissionStore } from '@bulwark/rbac';
import pg from 'pg';
import { type AppSpec, buildApp, type Store, serverFor } from './apps.js';

export type ChildRequest =
  | { id: number; type: 'usage' }
  | { id: number; type: 'count'; on: boolean }
  | { id: number; type: 'memory' }
  | { id: number; type: 'exit' };

export interface ChildUsage {
  /** process.cpuUsage(), user + system, in µs. */
  cpuUs: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** Memory V8 holds for its heap, used or not. */
  heapTotalBytes: number;
}

const { spec, databaseUrl } = JSON.parse(process.argv[2]!) as {
  spec: AppSpec;
  databaseUrl?: string;
};

let pool: pg.Pool | undefined;
let permissions: Store | undefined;
if (spec.kind === 'bulwark' || spec.kind === 'control') {
  pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  permissions = createPermissionStore({ db: pool, listen: false });
}

const server = serverFor(spec, buildApp(spec, permissions)).listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));

// Promises made while counting: hooks slow every promise down, so they are on only when asked.
let promises = 0;
const hook = createHook({
  init(_id, type) {
    if (type === 'PROMISE') promises++;
  },
});

const usage = (): ChildUsage => {
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  return {
    cpuUs: cpu.user + cpu.system,
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    heapTotalBytes: memory.heapTotal,
  };
};

async function exit(): Promise<never> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await permissions?.close();
  await pool?.end();
  process.exit(0);
}

// Not an async function: a message handled while counting must not add a promise of its own.
process.on('message', (message: ChildRequest) => {
  const reply = (value: unknown) => process.send?.({ id: message.id, value });
  switch (message.type) {
    case 'usage':
      reply(usage());
      return;
    case 'count':
      if (message.on) {
        promises = 0;
        hook.enable();
        reply(0);
      } else {
        hook.disable();
        reply(promises);
      }
      return;
    case 'memory':
      // Two collections: the first can leave finalizable objects for the second.
      (globalThis as { gc?: () => void }).gc?.();
      (globalThis as { gc?: () => void }).gc?.();
      reply(usage());
      return;
    case 'exit':
      void exit();
  }
});

process.send?.({ id: 0, value: { port: (server.address() as AddressInfo).port } });
