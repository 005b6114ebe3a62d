// Packs every package with `pnpm pack`, installs the tarballs into fresh npm projects with
// Express 4 and Express 5, then imports them from CommonJS, ESM and TypeScript (nodenext) and
// mounts their middleware in a real app.
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const packageDirs = readdirSync(join(root, 'packages')).filter(
  (dir) => !JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')).private,
);
const work = mkdtempSync(join(tmpdir(), 'bulwark-install-'));
const tarballs: Record<string, string> = {};

async function sh(cmd: string, args: string[], cwd: string) {
  try {
    return await run(cmd, args, {
      cwd,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, NODE_ENV: 'test' },
    });
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`);
  }
}

async function project(expressMajor: 4 | 5): Promise<string> {
  const dir = join(work, `express${expressMajor}`);
  cpSync(join(import.meta.dirname, 'fixtures'), dir, { recursive: true });
  const dependencies: Record<string, string> = {
    express: `^${expressMajor}.0.0`,
    '@types/express': `^${expressMajor}.0.0`,
    '@types/node': '^20.19.0',
    pg: '^8.16.0',
    '@types/pg': '^8.15.0',
    typescript: '5.9.3',
  };
  for (const [name, file] of Object.entries(tarballs)) dependencies[name] = `file:${file}`;
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify(
      { name: `bulwark-install-express${expressMajor}`, private: true, dependencies },
      null,
      2,
    ),
  );
  await sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], dir);
  return dir;
}

const projects: Partial<Record<4 | 5, Promise<string>>> = {};

beforeAll(async () => {
  for (const dir of packageDirs) {
    const pkgDir = join(root, 'packages', dir);
    if (!existsSync(join(pkgDir, 'dist', 'index.cjs'))) {
      throw new Error(`packages/${dir} is not built: run \`pnpm build\` before the install test`);
    }
    const { stdout } = await sh('pnpm', ['pack', '--pack-destination', work], pkgDir);
    const file = stdout.trim().split('\n').pop() ?? '';
    const name = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).name as string;
    tarballs[name] = file.startsWith('/') ? file : join(work, file);
  }
  projects[4] = project(4);
  projects[5] = project(5);
  await Promise.all([projects[4], projects[5]]);
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each([4, 5] as const)('packed packages on Express %i', (major) => {
  it('load from CommonJS and serve requests through every middleware', async () => {
    const dir = (await projects[major]) as string;
    const { stdout } = await sh('node', ['smoke.cjs'], dir);
    expect(JSON.parse(stdout.trim().split('\n').pop() ?? '{}')).toEqual({
      ok: true,
      express: major,
      packages: packageDirs.length,
    });
  });

  it('load from ESM and serve requests through every middleware', async () => {
    const dir = (await projects[major]) as string;
    const { stdout } = await sh('node', ['smoke.mjs'], dir);
    expect(JSON.parse(stdout.trim().split('\n').pop() ?? '{}')).toEqual({
      ok: true,
      express: major,
      packages: packageDirs.length,
    });
  });

  it('type-check from TypeScript with moduleResolution nodenext, as ESM and as CommonJS', async () => {
    const dir = (await projects[major]) as string;
    const { stdout } = await sh(
      join(dir, 'node_modules', '.bin', 'tsc'),
      ['-p', 'tsconfig.json'],
      dir,
    );
    expect(stdout).toBe('');
  });
});
