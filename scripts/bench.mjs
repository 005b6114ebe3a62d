// `pnpm bench`: builds the packages, then runs the benchmark suites in bench/.
import { execFileSync } from 'node:child_process';

const run = (cmd, args, cwd) => execFileSync(cmd, args, { stdio: 'inherit', cwd });
run('pnpm', ['build']);
run('pnpm', ['--filter', '@bulwark/bench', 'exec', 'tsx', 'run.ts', ...process.argv.slice(2)]);
