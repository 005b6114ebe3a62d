// `npm start` / `npm test` from a fresh clone: finds or fetches pnpm, installs, builds, then runs.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeSupported, isSupported, primaryMajor } from './node-versions.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { packageManager } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const pinned = packageManager.replace(/^pnpm@/, '').replace(/\+.*$/, '');

function pnpmCommand() {
  try {
    const version = execFileSync('pnpm', ['--version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    if (version.split('.')[0] === pinned.split('.')[0]) return ['pnpm'];
  } catch {
    // not installed: fall through to npx
  }
  return ['npx', '--yes', `pnpm@${pinned}`];
}

if (!isSupported(process.version)) {
  process.stderr.write(
    `Bulwark supports Node.js ${describeSupported()}; this is Node.js ${process.version}.\n` +
      `Switch to a supported version (for example \`nvm install ${primaryMajor()}\`), or run this command\n` +
      `under one fetched from the npm registry:\n` +
      `  node scripts/with-node.mjs ${primaryMajor()} -- npm ${process.argv[2] ?? 'test'}\n`,
  );
  process.exit(1);
}
if (process.version.startsWith('v20.')) {
  process.stdout.write(
    `Node.js ${process.version} is supported and tested, but Node.js 20 reached its end of life in April 2026; Node.js ${primaryMajor()} is recommended.\n`,
  );
}

const pnpm = pnpmCommand();
function run(args, extraEnv = {}) {
  const [cmd, ...rest] = [...pnpm, ...args];
  const result = spawnSync(cmd, rest, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, ...extraEnv },
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const step = (title) => process.stdout.write(`\n\u25b6 ${title}\n`);
const mode = process.argv[2];

step('install');
run(['install', '--frozen-lockfile']);
step('build packages');
run(['build']);

if (mode === 'start') {
  step('start examples/iot-app');
  run(['--filter', 'iot-app', 'start']);
} else if (mode === 'test') {
  step('lint and format (biome)');
  run(['lint']);
  step('type-check every package');
  run(['typecheck']);
  step('publint and arethetypeswrong on every package');
  run(['check:packages']);
  step('tests (vitest)');
  run(['exec', 'vitest', 'run', ...process.argv.slice(3)]);
} else {
  process.stderr.write('usage: node scripts/bulwark.mjs start|test\n');
  process.exit(2);
}
