// Benchmarks @bulwark/perimeter: request throughput of its middleware against helmet + cors and bare Express.
import { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { type AddressInfo, Socket } from 'node:net';
import {
  corsPolicy,
  csrfProtection,
  requestTimeout,
  secureHeaders,
  trustedHosts,
} from '@bulwark/perimeter';
import express, { type Express, type RequestHandler } from 'express';
import { Bench } from 'tinybench';
import { type LoadResult, loadFromChild } from '../load.js';
import { interleavedRows } from '../rounds.js';
import type { BenchRow, BenchSuite, BenchSuiteResult } from '../types.js';

// helmet and cors as the package itself resolves them, so the baseline uses the same copies.
const requireFromPackage = createRequire(import.meta.resolve('@bulwark/perimeter'));
const helmet = requireFromPackage('helmet') as () => RequestHandler;
const cors = requireFromPackage('cors') as (options: object) => RequestHandler;

const ROUNDS = 4;
const ROUND_S = 2;
const ORIGIN = 'https://app.example.com';

function appWith(middleware: RequestHandler[]): Express {
  const app = express();
  for (const m of middleware) app.use(m);
  app.get('/readings', (_req, res) => {
    res.json({ temperature: 21.5, humidity: 40 });
  });
  return app;
}

const apps: Record<string, () => Express> = {
  'express, no middleware': () => appWith([]),
  'helmet() + cors()': () => appWith([helmet(), cors({ origin: [ORIGIN] })]),
  'secureHeaders() + corsPolicy()': () =>
    appWith([secureHeaders(), corsPolicy({ origins: [ORIGIN] })]),
  'full perimeter stack': () =>
    appWith([
      trustedHosts(['127.0.0.1', 'api.example.com']),
      secureHeaders(),
      corsPolicy({ origins: [ORIGIN] }),
      csrfProtection(),
      requestTimeout(10_000),
    ]),
};

async function cannon(app: Express, seconds: number): Promise<LoadResult> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const result = await loadFromChild({
      url: `http://127.0.0.1:${port}/readings`,
      connections: 10,
      duration: seconds,
      headers: { origin: ORIGIN, authorization: 'Bearer bench' },
    });
    if (result.non2xx > 0 || result.errors > 0) {
      throw new Error(
        `${result.non2xx} non-2xx answers and ${result.errors} errors: check the app`,
      );
    }
    return result;
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** A real request/response pair with no socket traffic, as Express hands them to middleware. */
function pair(): { req: IncomingMessage; res: ServerResponse } {
  const req = new IncomingMessage(new Socket());
  req.method = 'GET';
  req.url = '/readings';
  req.headers = { host: '127.0.0.1', origin: ORIGIN, authorization: 'Bearer bench' };
  const res = new ServerResponse(req);
  // Express adds res.vary; the in-process rows give every chain the same one.
  (res as ServerResponse & { vary(field: string): void }).vary = (field) =>
    res.setHeader('Vary', field);
  return { req, res };
}

const chains: Record<string, RequestHandler[]> = {
  'in-process: helmet() + cors()': [helmet(), cors({ origin: [ORIGIN] })],
  'in-process: secureHeaders() + corsPolicy()': [
    secureHeaders(),
    corsPolicy({ origins: [ORIGIN] }),
  ],
};

/** Median-based rows for the middleware alone: GC pauses skew the mean on a shared machine. */
async function inProcessRows(): Promise<BenchRow[]> {
  const bench = new Bench({ time: 2000, warmupTime: 300 });
  const noop = () => {};
  for (const [name, chain] of Object.entries(chains)) {
    bench.add(name, () => {
      const { req, res } = pair();
      for (const m of chain) m(req as never, res as never, noop);
    });
  }
  bench.add('in-process: request/response pair only', () => {
    pair();
  });
  await bench.run();
  return bench.tasks.map((task) => {
    const result = task.result as unknown as { latency: { p50?: number; p99?: number } };
    const p50 = result.latency.p50 ?? 0;
    return {
      name: task.name,
      opsPerSec: p50 > 0 ? 1000 / p50 : 0,
      p50Ms: p50,
      ...(result.latency.p99 === undefined ? {} : { p99Ms: result.latency.p99 }),
    };
  });
}

export const suite: BenchSuite = {
  name: 'perimeter',
  async run(): Promise<BenchSuiteResult> {
    const built = Object.fromEntries(Object.entries(apps).map(([name, make]) => [name, make()]));
    for (const app of Object.values(built)) await cannon(app, 1);
    const rows = await interleavedRows(built, ROUNDS, (app) => cannon(app, ROUND_S));
    const micro = await inProcessRows();
    rows.push(...micro);
    const p50 = (name: string) => micro.find((row) => row.name === name)!.p50Ms!;
    const pairOnly = p50('in-process: request/response pair only');
    // Cost of the middleware alone, with the cost of building the request/response pair removed.
    const costUs = (name: string) => (p50(name) - pairOnly) * 1000;
    const ops = (name: string) => rows.find((row) => row.name === name)!.opsPerSec;
    const baseline = 'helmet() + cors()';
    const ratios: Record<string, number> = {
      'secureHeaders() + corsPolicy() / helmet() + cors()':
        ops('secureHeaders() + corsPolicy()') / ops(baseline),
      'full perimeter stack / helmet() + cors()': ops('full perimeter stack') / ops(baseline),
      'full perimeter stack / express, no middleware':
        ops('full perimeter stack') / ops('express, no middleware'),
      'helmet() + cors() / express, no middleware': ops(baseline) / ops('express, no middleware'),
      'in-process cost: helmet() + cors() / secureHeaders() + corsPolicy()':
        costUs('in-process: helmet() + cors()') /
        costUs('in-process: secureHeaders() + corsPolicy()'),
    };
    const headerRatio = ratios['secureHeaders() + corsPolicy() / helmet() + cors()']!;
    const stackRatio = ratios['full perimeter stack / helmet() + cors()']!;
    const costRatio =
      ratios['in-process cost: helmet() + cors() / secureHeaders() + corsPolicy()']!;
    return {
      suite: 'perimeter',
      baseline,
      rows,
      ratios,
      targets: [
        {
          name: 'secureHeaders() + corsPolicy() / helmet() + cors()',
          ratio: headerRatio,
          min: 0.9,
          met: headerRatio >= 0.9,
        },
        {
          name: 'full perimeter stack / helmet() + cors()',
          ratio: stackRatio,
          min: 0.8,
          met: stackRatio >= 0.8,
        },
        {
          name: 'in-process cost: helmet() + cors() / secureHeaders() + corsPolicy()',
          ratio: costRatio,
          min: 0.75,
          met: costRatio >= 0.75,
        },
      ],
      notes: [
        `autocannon, 10 connections, ${ROUNDS} interleaved rounds of ${ROUND_S} s per row, GET /readings (small JSON) with an allowed Origin and an Authorization header, on loopback; the load generator runs in a child process of its own.`,
        'secureHeaders() is helmet with a JSON-API preset plus Permissions-Policy and Cache-Control: no-store; corsPolicy() checks the origin before handing it to cors.',
        'The full stack adds trustedHosts(), csrfProtection() and requestTimeout() (one AbortController and one timer per request).',
        `In-process rows: tinybench median per call on a real IncomingMessage/ServerResponse pair; middleware cost ${costUs('in-process: secureHeaders() + corsPolicy()').toFixed(2)} us for secureHeaders() + corsPolicy() against ${costUs('in-process: helmet() + cors()').toFixed(2)} us for helmet() + cors() (two more headers: Permissions-Policy, Cache-Control).`,
        'HTTP rows on a shared, busy machine vary by tens of percent between runs; the in-process cost ratio is the steadier figure.',
      ],
    };
  },
};
