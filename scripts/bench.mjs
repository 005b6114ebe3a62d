// `pnpm bench`: builds the packages, then runs the benchmark suites in bench/.
// `pnpm bench --node 26 [suite…]` runs them under another Node.js major (see with-node.mjs).
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const at = args.indexOf('--node');
if (at >= 0) {
  const major = args[at + 1];
  if (!major || !/^\d+$/.test(major)) {
    process.stderr.write('bench: --node takes a Node.js major, such as --node 24\n');
    process.exit(2);
  }
  const rest = [...args.slice(0, at), ...args.slice(at + 2)];
  const here = dirname(fileURLToPath(import.meta.url));
  const result = spawnSync(
    process.execPath,
    [join(here, 'with-node.mjs'), major, '--', 'node', join(here, 'bench.mjs'), ...rest],
    { stdio: 'inherit' },
  );
  process.exit(result.status ?? 1);
}

const run = (cmd, argv, cwd) => execFileSync(cmd, argv, { stdio: 'inherit', cwd });
process.stdout.write(`bench: Node.js ${process.version} (${process.execPath})\n`);
run('pnpm', ['build']);
run('pnpm', ['--filter', '@bulwark/bench', 'exec', 'tsx', 'run.ts', ...args]);
