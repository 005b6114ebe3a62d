// Benchmarks @bulwark/error-handler: request overhead, the 500 path, and logger throughput.

import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import { createLogger } from '@bulwark/error-handler';
import { Bench } from 'tinybench';
import { type AppProcess, logFolder, measureRound, QUICK, startApp } from '../app-process.js';
import { FAIL_PATH, nullStream, PATH } from '../apps.js';
import type { BenchRow, BenchSuite, BenchSuiteResult, BenchTarget } from '../types.js';

// winston as the package itself resolves it: the plain-winston baseline uses the same copy.
const requireFromPackage = createRequire(import.meta.resolve('@bulwark/error-handler'));
const winston = requireFromPackage('winston') as {
  createLogger(options: object): { info(message: string, meta: object): unknown };
  format: { combine(...formats: unknown[]): unknown; timestamp(): unknown; json(): unknown };
  transports: { Stream: new (options: { stream: Writable }) => unknown };
};

const ROUNDS = QUICK ? 1 : 3;
const SECONDS = QUICK ? 2 : 4;

/**
 * The HTTP rows: each app (apps.ts, plainErrorsApp and bulwarkErrorsApp) in a process of its
 * own on Node.js alone, as users run it, warmed up, then measured in interleaved rounds; the
 * best round of each row is kept.
 */
async function httpRows(): Promise<BenchRow[]> {
  const logs = logFolder();
  const apps: AppProcess[] = [];
  try {
    const start = async (stack: 'express' | 'bulwark') => {
      const app = await startApp(stack, { kind: 'errors', stack }, { logPath: logs.path(stack) });
      apps.push(app);
      return app;
    };
    const express = await start('express');
    const bulwark = await start('bulwark');
    const configs: Array<[string, AppProcess, string, boolean]> = [
      ['express 200 (baseline)', express, PATH, false],
      ['bulwark 200 (context + access log)', bulwark, PATH, false],
      ['express minimal JSON 500', express, FAIL_PATH, true],
      ['bulwark 500 (problem+json + error log)', bulwark, FAIL_PATH, true],
    ];
    for (const [, app, path, failing] of configs) {
      await measureRound(app, { connections: 10, duration: 1 }, { path, failing });
    }
    const best = new Map<string, BenchRow>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, app, path, failing] of configs) {
        const figures = await measureRound(
          app,
          { connections: 10, duration: SECONDS },
          { path, failing },
        );
        if ((best.get(name)?.opsPerSec ?? -1) < figures.requests.average) {
          best.set(name, {
            name,
            opsPerSec: figures.requests.average,
            p50Ms: figures.latency.p50,
            p99Ms: figures.latency.p99,
            cpuUsPerRequest: figures.cpuUsPerRequest,
          });
        }
      }
    }
    return configs.map(([name]) => best.get(name)!);
  } finally {
    await Promise.all(apps.map((app) => app.close()));
    logs.remove();
  }
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
    const rows = await httpRows();
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
        `HTTP rows: each app in a process of its own on Node.js alone (NODE_ENV=production, no source maps), autocannon in another, 10 connections, a warm-up of 1 s, then ${ROUNDS} interleaved rounds of ${SECONDS} s, the best kept; CPU is the app process's per request in that round; logs written to a stream that keeps nothing.`,
        'The bulwark 500 row renders problem+json and logs the full error (stack, fields) redacted; the baseline answers a fixed JSON body and logs nothing.',
        'Logger rows: tinybench, one info line with nested metadata holding a Bearer token and a connection string.',
      ],
    };
  },
};
