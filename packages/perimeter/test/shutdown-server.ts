// A real server process for the graceful shutdown tests: prints its state on stdout, exits on SIGTERM.
import type { AddressInfo } from 'node:net';
import express from 'express';
import { gracefulShutdown } from '../src/graceful-shutdown.js';

const holdMs = Number(process.env.HOLD_MS ?? 300);
const app = express();
app.get('/slow', (_req, res) => {
  process.stdout.write('request started\n');
  setTimeout(() => res.json({ finished: true }), holdMs);
});
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
const shutdown = gracefulShutdown(server, {
  timeoutMs: Number(process.env.DRAIN_MS ?? 5_000),
  logger: {
    warn: (message) => process.stdout.write(`warn ${message}\n`),
    info: (message) => process.stdout.write(`info ${message}\n`),
  },
});
shutdown.register('database', () => {
  process.stdout.write('closed database\n');
});
shutdown.register('mqtt', async () => {
  await new Promise((resolve) => setTimeout(resolve, 20));
  process.stdout.write('closed mqtt\n');
});
