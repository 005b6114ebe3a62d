// What each middleware of the Bulwark stack adds per request, one layer switched on at a time.
import { logFolder, QUICK } from '../app-process.js';
import { ACCESS_LOG_LAYER, type AppSpec, STACK_LAYERS } from '../apps.js';
import { measureInProcess } from '../in-process.js';
import { median, medianAndSpread, type RoundResult } from '../rounds.js';
import type { BenchSuite, BenchSuiteResult, LayerCost } from '../types.js';
import { CONNECTIONS, closeAll, HEADERS, measureApps, startAll, withDatabase } from './stacks.js';

const ROUNDS = QUICK ? 2 : 7;
const ROUND_S = 2;
// Without sockets: every app in one process, taking turns in batches of 100 ms.
const IN_PROCESS_ROUNDS = QUICK ? 8 : 40;
const IN_PROCESS_BATCH_MS = 100;
const IN_PROCESS_WARMUP_MS = QUICK ? 500 : 1500;
const EMPTY = 'nine empty layers';
// Two apps that are not Bulwark's, each measured against the nine empty layers: the same time's
// worth of JavaScript in one process, spent in one loop or in many small functions.
const CONTROLS = [
  {
    name: 'control: one loop',
    work: 'loop',
    text: 'not a Bulwark layer: one loop of multiply-adds in the first empty layer, as long in one process as the 300 functions below; compared with the nine empty layers',
  },
  {
    name: 'control: 300 small functions',
    work: 'functions',
    text: 'not a Bulwark layer: 300 distinct small functions called once each in the first empty layer; compared with the nine empty layers',
  },
] as const;

export const suite: BenchSuite = {
  name: 'layers',
  run: () =>
    withDatabase('bench_layers', 2, async (databaseUrl): Promise<BenchSuiteResult> => {
      const layers = STACK_LAYERS;
      const logLayer = ACCESS_LOG_LAYER;
      const specs: Record<string, AppSpec> = { [EMPTY]: { kind: 'bulwark', real: 0 } };
      layers.forEach((layer, i) => {
        specs[`+ ${layer.name}`] = { kind: 'bulwark', real: i + 1 };
      });
      specs[`+ ${logLayer.name}`] = { kind: 'bulwark', accessLog: true };
      for (const control of CONTROLS) specs[control.name] = { kind: 'control', work: control.work };
      const logs = logFolder();
      try {
        const apps = await startAll(specs, { logPath: logs.path, databaseUrl });
        const rounds: Record<string, RoundResult>[] = [];
        const rows = await measureApps(apps, ROUNDS, ROUND_S, rounds).finally(() => closeAll(apps));
        const inProcess = await measureInProcess(
          {
            specs,
            headers: HEADERS,
            databaseUrl,
            concurrency: CONNECTIONS,
            warmupMs: IN_PROCESS_WARMUP_MS,
            batchMs: IN_PROCESS_BATCH_MS,
            rounds: IN_PROCESS_ROUNDS,
          },
          logs.path('in-process'),
        );
        const empty = rows[0]!;
        const emptyInProcessUs = median(inProcess[EMPTY]!);
        const ratios: Record<string, number> = {};
        const layerCosts: LayerCost[] = [];
        const work = [...layers, logLayer];
        rows.forEach((row, i) => {
          if (i === 0) return;
          ratios[`${row.name} / ${EMPTY}`] = row.opsPerSec / empty.opsPerSec;
          // A layer against the row before it, a control against the empty layers.
          const control = CONTROLS.find((c) => c.name === row.name);
          const previous = control ? EMPTY : rows[i - 1]!.name;
          // Paired within each round (the two rows ran in the same round), then the median.
          const differences = rounds.map(
            (round) =>
              (round[row.name]!.cpuUsPerRequest ?? Number.NaN) -
              (round[previous]!.cpuUsPerRequest ?? Number.NaN),
          );
          const underLoad = medianAndSpread(differences);
          const batches = inProcess[row.name]!;
          const before = inProcess[previous]!;
          const own = medianAndSpread(batches.map((us, batch) => us - before[batch]!));
          layerCosts.push({
            layer: control ? control.name : row.name.slice(2),
            cpuUs: underLoad.value,
            spreadUs: underLoad.spread,
            inProcessUs: own.value,
            inProcessSpreadUs: own.spread,
            work: control ? control.text : work[i - 1]!.work,
          });
        });
        const whole = rows[layers.length]!;
        return {
          suite: 'layers',
          baseline: EMPTY,
          rows,
          ratios,
          targets: [],
          layerCosts,
          inProcessBaseUs: emptyInProcessUs,
          notes: [
            `The stacks suite's Bulwark app built up one middleware at a time, each row in a process of its own: each row switches on the next layer, in stack order, and keeps empty middlewares in the places of the others, so every row has the same number of router layers. The row "+ errorHandler()" is the whole Bulwark stack (${whole.cpuUsPerRequest?.toFixed(1)} µs of CPU per request, against ${empty.cpuUsPerRequest?.toFixed(1)} µs for the empty layers); the row "+ httpLogger()" adds httpLogger() after requestContext(), one router layer more. The two control rows are the empty layers with the first one running JavaScript that is not Bulwark's: one loop, or 300 distinct small functions, timed when the app is built to take about as long each in one process.`,
            `CPU each layer adds per request (difference of CPU µs per request between a row and the one before, taken within each round, median of the rounds): ${layerCosts.map((c) => `${c.layer} ${c.cpuUs.toFixed(1)} ± ${c.spreadUs?.toFixed(1)} µs`).join('; ')}. After ± is the median absolute deviation of the difference over the rounds, this run's noise on it; a layer whose cost is within its noise can come out negative.`,
            `In one process without sockets (every row's app built in the same process and handed requests made in memory, ${CONNECTIONS} in flight at once, the answers written to a stream that keeps them nowhere; the rows take turns in batches of ${IN_PROCESS_BATCH_MS} ms, ${IN_PROCESS_ROUNDS} batches each in alternating order after ${IN_PROCESS_WARMUP_MS} ms of warm-up each), CPU each layer adds per request, taken between neighbouring batches, median of the batches: ${layerCosts.map((c) => `${c.layer} ${c.inProcessUs?.toFixed(1)} ± ${c.inProcessSpreadUs?.toFixed(1)} µs`).join('; ')}; the empty layers ${emptyInProcessUs.toFixed(1)} µs. This is the JavaScript each layer runs, without what the kernel and the load generator add under load.`,
            `autocannon in a process of its own, ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${ROUND_S} s per row (median of the rounds), the same request and token as the stacks suite.`,
          ],
        };
      } finally {
        logs.remove();
      }
    }),
};
