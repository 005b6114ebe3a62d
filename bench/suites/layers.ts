// What each middleware of the Bulwark stack adds per request, one layer switched on at a time.
import type { Express } from 'express';
import { interleavedRows } from '../rounds.js';
import type { BenchSuite, BenchSuiteResult } from '../types.js';
import { bulwarkLayers, cannon, layeredApp, withPermissions } from './stacks.js';

const ROUNDS = 4;
const ROUND_S = 2;
const EMPTY = 'nine empty layers';

export const suite: BenchSuite = {
  name: 'layers',
  run: () =>
    withPermissions('bench_layers', async (permissions): Promise<BenchSuiteResult> => {
      const layers = bulwarkLayers(permissions);
      const apps: Record<string, Express> = { [EMPTY]: layeredApp(layers, 0) };
      for (let real = 1; real <= layers.length; real++) {
        apps[`+ ${layers[real - 1]!.name}`] = layeredApp(layers, real);
      }
      // Warm-up: JIT, and the permission cache for user-1 (one database load, then cached).
      for (const app of Object.values(apps)) await cannon(app, 1);
      const rows = await interleavedRows(apps, ROUNDS, (app) => cannon(app, ROUND_S));
      const empty = rows[0]!.opsPerSec;
      const ratios: Record<string, number> = {};
      const costs: string[] = [];
      rows.forEach((row, i) => {
        if (i === 0) return;
        ratios[`${row.name} / ${EMPTY}`] = row.opsPerSec / empty;
        const micros = (1 / row.opsPerSec - 1 / rows[i - 1]!.opsPerSec) * 1e6;
        costs.push(`${row.name.slice(2)} ${micros.toFixed(1)} µs`);
      });
      return {
        suite: 'layers',
        baseline: EMPTY,
        rows,
        ratios,
        targets: [],
        notes: [
          `The stacks suite's Bulwark app built up one middleware at a time: each row switches on the next layer, in stack order, and keeps empty middlewares in the places of the others, so every row has the same number of router layers. The last row is the whole Bulwark stack.`,
          `Time each layer adds to a request on this machine (difference of 1 / req/s between a row and the one before): ${costs.join('; ')}. Differences of a few µs are within the run's noise and can come out negative.`,
          `autocannon in a child process of its own, 10 connections, ${ROUNDS} interleaved rounds of ${ROUND_S} s per row, the same request as the stacks suite.`,
        ],
      };
    }),
};
