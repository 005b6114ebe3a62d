// Type-checks an ESM and a CommonJS consumer of the packed packages under every @types/node major,
// both @types/express majors, TypeScript 5.9 and the newest TypeScript, with skipLibCheck off.
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const packageDirs = readdirSync(join(root, 'packages')).filter(
  (dir) => !JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')).private,
);
const work = realpathSync(mkdtempSync(join(tmpdir(), 'bulwark-types-')));
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

const nodeMajors = [20, 22, 24, 26] as const;
const expressMajors = [4, 5] as const;
type ExpressMajor = (typeof expressMajors)[number];

// The newest release is looked up when the suite loads, so test names carry the real version.
const newest = (await sh('npm', ['view', 'typescript', 'dist-tags.latest'], root)).stdout.trim();
const compilers = [
  { alias: 'typescript-5.9', version: '5.9.3' },
  { alias: 'typescript-newest', version: newest },
].map((compiler) => ({ ...compiler, label: compiler.version.split('.').slice(0, 2).join('.') }));

// Each @types/node major is installed under a scope of its own (`@types-node24/node`), and each
// compile names that scope as its only type root. A type root is searched before node_modules
// for every `/// <reference types="node" />`, including those inside @types/express and @types/pg,
// so the compile reads that one copy; each test checks this with --listFilesOnly.
async function project(express: ExpressMajor): Promise<string> {
  const dir = join(work, `express${express}`);
  cpSync(join(import.meta.dirname, 'types-fixtures'), dir, { recursive: true });
  const dependencies: Record<string, string> = {
    express: `^${express}.0.0`,
    '@types/express': `^${express}.0.0`,
    pg: '^8.16.0',
    '@types/pg': '^8.15.0',
  };
  for (const major of nodeMajors) {
    dependencies[`@types-node${major}/node`] = `npm:@types/node@^${major}`;
    writeFileSync(
      join(dir, `tsconfig.node${major}.json`),
      JSON.stringify({
        extends: './tsconfig.json',
        compilerOptions: { typeRoots: [`./node_modules/@types-node${major}`] },
      }),
    );
  }
  for (const { alias, version } of compilers) dependencies[alias] = `npm:typescript@${version}`;
  for (const [name, file] of Object.entries(tarballs)) dependencies[name] = `file:${file}`;
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify(
      { name: `bulwark-types-express${express}`, private: true, dependencies },
      null,
      2,
    ),
  );
  // TypeScript 7's compiler is a native binary in a per-platform optional dependency, which an
  // `omit=optional` npm setting would otherwise leave out.
  await sh(
    'npm',
    ['install', '--no-audit', '--no-fund', '--loglevel=error', '--include=optional'],
    dir,
  );
  for (const { alias, version } of compilers) {
    const { stdout } = await sh(process.execPath, [tscPath(dir, alias), '--version'], dir);
    if (stdout.trim() !== `Version ${version}`) {
      throw new Error(`${alias} in ${dir} reports ${stdout.trim()}, expected ${version}`);
    }
  }
  return dir;
}

function tscPath(dir: string, alias: string): string {
  return join(dir, 'node_modules', alias, 'bin', 'tsc');
}

type ExecFailure = { code?: number | string; stdout?: string; stderr?: string };

async function tsc(dir: string, alias: string, args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [tscPath(dir, alias), ...args], {
      cwd: dir,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const { code, stdout = '', stderr = '' } = err as ExecFailure;
    return { code, output: stdout + stderr };
  }
}

const projects: Partial<Record<ExpressMajor, string>> = {};

beforeAll(async () => {
  await Promise.all(
    packageDirs.map(async (dir) => {
      const pkgDir = join(root, 'packages', dir);
      if (!existsSync(join(pkgDir, 'dist', 'index.d.cts'))) {
        throw new Error(`packages/${dir} is not built: run \`pnpm build\` before the types test`);
      }
      const { stdout } = await sh('pnpm', ['pack', '--pack-destination', work], pkgDir);
      const file = stdout.trim().split('\n').pop() ?? '';
      const name = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).name as string;
      tarballs[name] = file.startsWith('/') ? file : join(work, file);
    }),
  );
  await Promise.all(
    expressMajors.map(async (major) => {
      projects[major] = await project(major);
    }),
  );
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

const cases = expressMajors.flatMap((express) =>
  nodeMajors.flatMap((node) =>
    compilers.map(({ alias, label }) => [node, express, label, alias] as const),
  ),
);

it.each(cases)(
  'compiles an ESM and a CommonJS consumer with @types/node %i, @types/express %i and TypeScript %s',
  async (node, express, _label, alias) => {
    const dir = projects[express] as string;
    const config = `tsconfig.node${node}.json`;

    // The program reads the chosen @types/node and no other, and both builds of every package.
    const listed = await tsc(dir, alias, ['-p', config, '--listFilesOnly']);
    expect(listed.code, listed.output).toBe(0);
    const files = listed.output.split('\n').filter(Boolean);
    const nodeTypes = files.filter((file) => /\/@types(-node\d+)?\/node\//.test(file));
    expect(nodeTypes.length).toBeGreaterThan(0);
    expect(nodeTypes.filter((file) => !file.includes(`/@types-node${node}/node/`))).toEqual([]);
    for (const name of Object.keys(tarballs)) {
      for (const build of ['index.d.ts', 'index.d.cts']) {
        expect(files.filter((file) => file.endsWith(`/${name}/dist/${build}`))).toHaveLength(1);
      }
    }

    expect(await tsc(dir, alias, ['-p', config])).toEqual({ code: 0, output: '' });
  },
  120_000,
);
