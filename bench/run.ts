// Runs every suite in bench/suites (or those named on the command line) and writes results.json.
// `--merge <suite>…` records the named suites, run on this Node.js, beside a full run's figures.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  type BenchReport,
  renderChart,
  renderLayerCosts,
  renderTables,
  renderTargets,
  replaceBetween,
} from './charts.js';
import { type BenchSuite, type BenchSuiteResult, wantedText } from './types.js';

const here = import.meta.dirname;
const args = process.argv.slice(2);
const merge = args.includes('--merge');
const wanted = args.filter((arg) => arg !== '--merge');
const files = readdirSync(join(here, 'suites'))
  .filter((file) => file.endsWith('.ts'))
  .filter((file) => wanted.length === 0 || wanted.includes(file.replace(/\.ts$/, '')))
  .sort();
const unknown = wanted.filter((name) => !files.includes(`${name}.ts`));
if (unknown.length > 0 || (merge && wanted.length === 0)) {
  process.stderr.write(
    unknown.length > 0
      ? `bench: no suite named ${unknown.join(', ')} in bench/suites\n`
      : 'bench: --merge takes the suites to run, such as --merge stacks\n',
  );
  process.exit(2);
}

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
      row.cpuUsPerRequest === undefined ? '' : `cpu ${row.cpuUsPerRequest.toFixed(1)} µs/req`,
      row.writesPerRequest === undefined ? '' : `writes ${row.writesPerRequest.toFixed(2)}/req`,
    ].filter(Boolean);
    process.stdout.write(
      `  ${row.name.padEnd(40)} ${row.opsPerSec.toFixed(0).padStart(10)} ops/s ${extra.join(' ')}\n`,
    );
  }
  for (const target of result.targets) {
    process.stdout.write(
      `  ${target.met ? 'met   ' : 'MISSED'} ${target.name}: ${target.ratio.toFixed(2)} (target ${wantedText(target)})\n`,
    );
  }
  for (const note of result.notes ?? []) process.stdout.write(`  - ${note}\n`);
}

const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? 'unknown',
  memoryGb: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  platform: process.platform,
};
const resultsFile = join(here, 'results.json');
const quick = process.env.BENCH_QUICK === '1';
let report: BenchReport | undefined;
if (quick) {
  // Short rounds are for trying a change; figures on record come from full rounds only.
} else if (wanted.length === 0) {
  report = { generatedAt: new Date().toISOString(), machine, suites: results, otherNodes: [] };
} else if (merge) {
  if (!existsSync(resultsFile)) {
    process.stderr.write('bench: --merge needs the results.json of a full run; run pnpm bench\n');
    process.exit(1);
  }
  report = JSON.parse(readFileSync(resultsFile, 'utf8')) as BenchReport;
  if (report.machine.node.split('.')[0] === process.version.split('.')[0]) {
    process.stderr.write(
      `bench: results.json holds a full run on Node.js ${report.machine.node}; --merge adds another major\n`,
    );
    process.exit(1);
  }
  const run = { generatedAt: new Date().toISOString(), machine, suites: results };
  report.otherNodes = [
    ...(report.otherNodes ?? []).filter(
      (other) => other.machine.node.split('.')[0] !== process.version.split('.')[0],
    ),
    run,
  ].sort((a, b) => a.machine.node.localeCompare(b.machine.node, 'en', { numeric: true }));
}
if (report) {
  writeFileSync(resultsFile, `${JSON.stringify(report, null, 2)}\n`);
  // The chart and the figures in docs/benchmarks.md come from the same runs as results.json.
  const docs = join(here, '..', 'docs');
  writeFileSync(join(docs, 'benchmarks.svg'), renderChart(report));
  const page = join(docs, 'benchmarks.md');
  let text = readFileSync(page, 'utf8');
  text = replaceBetween(text, 'targets', renderTargets(report, 'stacks'));
  text = replaceBetween(text, 'layers', renderLayerCosts(report));
  text = replaceBetween(text, 'results', renderTables(report));
  writeFileSync(page, text);
}
process.stdout.write(
  `\n${report ? 'wrote bench/results.json, docs/benchmarks.svg and the figures in docs/benchmarks.md' : `${quick ? 'quick' : 'partial'} run: results.json, the chart and the docs left as they were`}\n`,
);
