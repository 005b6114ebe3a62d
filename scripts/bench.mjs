// `pnpm bench`: builds the packages, runs every benchmark suite in bench/ on the primary Node.js
// (.nvmrc), then the stacks suite again on the oldest supported major, and writes both runs to
// bench/results.json and docs/benchmarks.md, so figures from different machines compare.
//
//   pnpm bench                     the full run: every suite on the primary Node.js, stacks on 20
//   pnpm bench stacks layers       only these suites, on the primary Node.js; files left alone
//   pnpm bench --node 26 [suites]  another major (fetched once by with-node.mjs), or `current`
//   pnpm bench --node 22 --merge stacks   adds these suites on 22 beside the last full run
//   pnpm bench --quick …           short rounds (BENCH_QUICK=1) while developing; not for figures
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { primaryMajor, supportedMajors } from './node-versions.mjs';

const here = dirname(fileURLToPath(import.meta.url));
let args = process.argv.slice(2);

/** Removes `--flag value` from args and returns the value, or undefined. */
function take(flag) {
  const at = args.indexOf(flag);
  if (at < 0) return undefined;
  const value = args[at + 1];
  args = [...args.slice(0, at), ...args.slice(at + 2)];
  return value ?? '';
}
function has(flag) {
  const at = args.indexOf(flag);
  if (at >= 0) args = [...args.slice(0, at), ...args.slice(at + 1)];
  return at >= 0;
}

const given = take('--node');
const noBuild = has('--no-build');
if (has('--quick')) process.env.BENCH_QUICK = '1';
const wanted = given ?? String(primaryMajor());
if (!/^(\d+|current)$/.test(wanted)) {
  process.stderr.write('bench: --node takes a Node.js major, such as --node 24, or current\n');
  process.exit(2);
}
const running = process.versions.node.split('.')[0];

/** Runs this script again under Node.js `major`, with `argv`. */
function under(major, argv) {
  const result = spawnSync(
    process.execPath,
    [join(here, 'with-node.mjs'), major, '--', 'node', join(here, 'bench.mjs'), ...argv],
    { stdio: 'inherit' },
  );
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (wanted !== 'current' && wanted !== running) {
  under(wanted, ['--node', 'current', ...(noBuild ? ['--no-build'] : []), ...args]);
} else {
  const run = (cmd, argv) => execFileSync(cmd, argv, { stdio: 'inherit' });
  process.stdout.write(`bench: Node.js ${process.version} (${process.execPath})\n`);
  if (!noBuild) run('pnpm', ['build']);
  run('pnpm', ['--filter', '@bulwark/bench', 'exec', 'tsx', 'run.ts', ...args]);
}

// A full run on the primary Node.js is followed by the stacks suite on the oldest supported
// major, so docs/benchmarks.md shows both from the same sitting.
const fullPrimary = given === undefined && args.filter((arg) => !arg.startsWith('--')).length === 0;
if (fullPrimary) {
  const oldest = String(Math.min(...supportedMajors()));
  if (oldest !== String(primaryMajor())) {
    under(oldest, ['--node', 'current', '--no-build', '--merge', 'stacks']);
  }
}
