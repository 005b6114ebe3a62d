// `pnpm bench`: builds the packages, then runs the benchmark suites in bench/ on the primary
// Node.js (.nvmrc), so figures from different machines compare. `--node 26` picks another major
// (fetched once by with-node.mjs), `--node current` the Node.js running this script.
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { primaryMajor } from './node-versions.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const at = args.indexOf('--node');
const wanted = at >= 0 ? args[at + 1] : String(primaryMajor());
if (wanted === undefined || !/^(\d+|current)$/.test(wanted)) {
  process.stderr.write('bench: --node takes a Node.js major, such as --node 24, or current\n');
  process.exit(2);
}
const rest = at >= 0 ? [...args.slice(0, at), ...args.slice(at + 2)] : args;
const running = process.versions.node.split('.')[0];

if (wanted !== 'current' && wanted !== running) {
  const result = spawnSync(
    process.execPath,
    [
      join(here, 'with-node.mjs'),
      wanted,
      '--',
      'node',
      join(here, 'bench.mjs'),
      '--node',
      'current',
      ...rest,
    ],
    { stdio: 'inherit' },
  );
  process.exit(result.status ?? 1);
}

const run = (cmd, argv, cwd) => execFileSync(cmd, argv, { stdio: 'inherit', cwd });
process.stdout.write(`bench: Node.js ${process.version} (${process.execPath})\n`);
run('pnpm', ['build']);
run('pnpm', ['--filter', '@bulwark/bench', 'exec', 'tsx', 'run.ts', ...rest]);
