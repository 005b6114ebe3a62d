// Benchmarks @bulwark/error-handler: request overhead, the 500 path, and logger throughput.

import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import {
  createLogger,
  errorHandler,
  httpLogger,
  notFound,
  requestContext,
} from '@bulwark/error-handler';
import express, { type Express } from 'express';
import { Bench } from 'tinybench';
import { loadFromChild } from '../load.js';
import type { BenchRow, BenchSuite, BenchSuiteResult, BenchTarget } from '../types.js';

// winston as the package itself resolves it: the plain-winston baseline uses the same copy.
const requireFromPackage = createRequire(import.meta.resolve('@bulwark/error-handler'));
const winston = requireFromPackage('winston') as {
  createLogger(options: object): { info(message: string, meta: object): unknown };
  format: { combine(...formats: unknown[]): unknown; timestamp(): unknown; json(): unknown };
  transports: { Stream: new (options: { stream: Writable }) => unknown };
};

const nullStream = () =>
  new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });

async function cannon(name: string, app: Express, path: string): Promise<BenchRow> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const result = await loadFromChild({
      url: `http://127.0.0.1:${port}${path}`,
      connections: 10,
      duration: 4,
    });
    if (result.errors > 0) throw new Error(`${name}: ${result.errors} connection errors`);
    return {
      name,
      opsPerSec: result.requests.average,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
    };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

// The baseline error path: what an app without this package typically hand-writes.
function plainApp(): Express {
  const app = express();
  app.get('/ok', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/fail', () => {
    throw Object.assign(new Error('relation "devices" does not exist'), { code: '42P01' });
  });
  app.use(
    (_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).json({ error: 'Internal server error' });
    },
  );
  return app;
}

function bulwarkApp(): Express {
  const logger = createLogger({ stream: nullStream() });
  const app = express();
  app.use(requestContext());
  app.use(httpLogger({ logger }));
  app.get('/ok', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/fail', () => {
    throw Object.assign(new Error('relation "devices" does not exist'), { code: '42P01' });
  });
  app.use(notFound());
  app.use(errorHandler({ logger }));
  return app;
}

// Express's own error handler prints every error to stderr outside production.
const meta = {
  deviceId: 'd-42',
  tenant: 'acme',
  reading: { temperature: 21.5, humidity: 40, at: '2026-01-01T00:00:00Z' },
  headers: {
    accept: 'application/json',
    authorization: 'Bearer abc.def.ghi',
    'user-agent': 'sensor/1.0',
  },
  note: 'connected via postgres://app:pw@db/iot',
};

async function loggerRows(): Promise<BenchRow[]> {
  const bulwark = createLogger({ stream: nullStream() });
  const plain = winston.createLogger({
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Stream({ stream: nullStream() })],
  });
  const bench = new Bench({ time: 2000, warmupTime: 300 });
  bench
    .add('winston json (no redaction)', () => {
      plain.info('reading stored', meta);
    })
    .add('bulwark createLogger (redacted)', () => {
      bulwark.info('reading stored', meta);
    });
  await bench.run();
  return bench.tasks.map((task) => ({
    name: task.name,
    opsPerSec: task.result?.throughput.mean ?? 0,
    p50Ms: task.result?.latency.p50 ?? 0,
    p99Ms: task.result?.latency.p99 ?? 0,
  }));
}

export const suite: BenchSuite = {
  name: 'error-handler',
  async run(): Promise<BenchSuiteResult> {
    // Interleaved rounds, best of each: a shared machine's load then hits every row alike.
    const configs: Array<[string, () => Express, string]> = [
      ['express 200 (baseline)', plainApp, '/ok'],
      ['bulwark 200 (context + access log)', bulwarkApp, '/ok'],
      ['express minimal JSON 500', plainApp, '/fail'],
      ['bulwark 500 (problem+json + error log)', bulwarkApp, '/fail'],
    ];
    const best = new Map<string, BenchRow>();
    for (let round = 0; round < 2; round++) {
      for (const [name, make, path] of configs) {
        const row = await cannon(name, make(), path);
        if ((best.get(name)?.opsPerSec ?? -1) < row.opsPerSec) best.set(name, row);
      }
    }
    const rows: BenchRow[] = configs.map(([name]) => best.get(name)!);
    rows.push(...(await loggerRows()));

    const by = (name: string) => rows.find((row) => row.name === name)!.opsPerSec;
    const ratios = {
      'bulwark 200 / express 200':
        by('bulwark 200 (context + access log)') / by('express 200 (baseline)'),
      'bulwark 500 / express minimal 500':
        by('bulwark 500 (problem+json + error log)') / by('express minimal JSON 500'),
      'bulwark logger / winston json':
        by('bulwark createLogger (redacted)') / by('winston json (no redaction)'),
    };
    const targets: BenchTarget[] = [
      { name: 'bulwark 200 / express 200', min: 0.7 },
      { name: 'bulwark 500 / express minimal 500', min: 0.5 },
      { name: 'bulwark logger / winston json', min: 0.3 },
    ].map((t) => {
      const ratio = ratios[t.name as keyof typeof ratios];
      return { ...t, ratio, met: ratio >= t.min };
    });
    return {
      suite: 'error-handler',
      baseline: 'express 200 (baseline)',
      rows,
      ratios,
      targets,
      notes: [
        'HTTP rows: autocannon in a child process of its own, 10 connections, 4 s each, two interleaved rounds, best kept; logs written to a null stream.',
        'The bulwark 500 row renders problem+json and logs the full error (stack, fields) redacted; the baseline answers a fixed JSON body and logs nothing.',
        'Logger rows: tinybench, one info line with nested metadata holding a Bearer token and a connection string.',
      ],
    };
  },
};
