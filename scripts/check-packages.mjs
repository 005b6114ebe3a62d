// publint and @arethetypeswrong/cli on every publishable package (run after `pnpm build`).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const packages = readdirSync(join(root, 'packages')).filter((dir) => {
  const pkg = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'));
  return !pkg.private;
});

let failed = 0;
for (const dir of packages) {
  const path = join('packages', dir);
  for (const [cmd, args] of [
    ['publint', ['--strict', path]],
    ['attw', ['--pack', path, '--profile', 'node16', '--format', 'table-flipped']],
  ]) {
    const result = spawnSync('pnpm', ['exec', cmd, ...args], { cwd: root, encoding: 'utf8' });
    if (result.status !== 0) {
      failed += 1;
      process.stdout.write(`\u2717 ${cmd} ${path}\n${result.stdout}${result.stderr}\n`);
    } else {
      process.stdout.write(`\u2713 ${cmd} ${path}\n`);
    }
  }
}
if (failed > 0) {
  process.stdout.write(`${failed} package check(s) failed\n`);
  process.exit(1);
}
