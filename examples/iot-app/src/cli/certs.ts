// `pnpm --filter iot-app certs <command> [options]`: @bulwark/mqtt-tls's bulwark-certs on the app's development PKI.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { defaultDataDir } from '../config.js';

const args = process.argv.slice(2);
const command = args[0];
const dir = join(defaultDataDir(), 'pki');
const givesDir = args.some((arg) => arg === '--dir' || arg.startsWith('--dir='));
const needsPki = command !== undefined && !['help', '--help', '-h', 'init'].includes(command);

if (needsPki && !givesDir && !existsSync(join(dir, 'registry.json'))) {
  process.stderr.write(
    `certs: no development PKI in ${dir}. Start the app once (pnpm --filter iot-app start) to create it, or pass --dir.\n`,
  );
  process.exit(2);
}

// The bin of the workspace package, run with this Node.js: no global install, no download.
const manifest = createRequire(import.meta.url).resolve('@bulwark/mqtt-tls/package.json');
const { bin } = JSON.parse(readFileSync(manifest, 'utf8')) as { bin: Record<string, string> };
const cli = resolve(dirname(manifest), bin['bulwark-certs'] as string);
// Without --dir, every command works on the PKI the app made (DATA_DIR, else .data/ at the root).
const argv = needsPki && !givesDir ? [command as string, '--dir', dir, ...args.slice(1)] : args;
const run = spawnSync(process.execPath, [cli, ...argv], { stdio: 'inherit' });
process.exitCode = run.status ?? 1;
