// Runs every suite in bench/suites (or those named on the command line) and writes results.json.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { renderChart, renderTables, replaceResults } from './charts.js';
import type { BenchSuite, BenchSuiteResult } from './types.js';

const here = import.meta.dirname;
const wanted = process.argv.slice(2);
const files = readdirSync(join(here, 'suites'))
  .filter((file) => file.endsWith('.ts'))
  .filter((file) => wanted.length === 0 || wanted.includes(file.replace(/\.ts$/, '')))
  .sort();

process.stdout.write(
  `Node.js ${process.version} on ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GB (${process.platform})\n`,
);
const results: BenchSuiteResult[] = [];
for (const file of files) {
  const { suite } = (await import(join(here, 'suites', file))) as { suite: BenchSuite };
  process.stdout.write(`\n== ${suite.name}\n`);
  const result = await suite.run();
  results.push(result);
  for (const row of result.rows) {
    const extra = [
      row.p50Ms === undefined ? '' : `p50 ${row.p50Ms.toFixed(2)} ms`,
      row.p99Ms === undefined ? '' : `p99 ${row.p99Ms.toFixed(2)} ms`,
      row.rssMb === undefined ? '' : `rss ${row.rssMb.toFixed(1)} MB`,
    ].filter(Boolean);
    process.stdout.write(
      `  ${row.name.padEnd(40)} ${row.opsPerSec.toFixed(0).padStart(10)} ops/s ${extra.join(' ')}\n`,
    );
  }
  for (const target of result.targets) {
    process.stdout.write(
      `  ${target.met ? 'met   ' : 'MISSED'} ${target.name}: ${target.ratio.toFixed(2)} (target >= ${target.min})\n`,
    );
  }
}

const report = {
  generatedAt: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: process.platform,
  },
  suites: results,
};
if (wanted.length === 0) {
  writeFileSync(join(here, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
  // The chart and the figures in docs/benchmarks.md come from the same run as results.json.
  const docs = join(here, '..', 'docs');
  writeFileSync(join(docs, 'benchmarks.svg'), renderChart(report));
  const page = join(docs, 'benchmarks.md');
  writeFileSync(page, replaceResults(readFileSync(page, 'utf8'), renderTables(report)));
}
process.stdout.write(
  `\n${wanted.length === 0 ? 'wrote bench/results.json, docs/benchmarks.svg and the figures in docs/benchmarks.md' : 'partial run: results.json, the chart and the docs left as they were'}\n`,
);
