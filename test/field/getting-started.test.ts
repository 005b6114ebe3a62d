// Builds the getting-started app from the code blocks of docs/getting-started.md, installs the
// packed packages with npm next to what the guide's `npm install` lines name, and runs it the
// three ways a reader can: CommonJS on Express 4, ESM through tsx on Express 5, and TypeScript
// compiled by tsc (nodenext) on Express 5, each checked over HTTP against a real PostgreSQL.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTestDatabase,
  freePort,
  requireService,
  type TestDatabase,
} from '@bulwark/test-utils';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Answer,
  call,
  eventually,
  type Installs,
  type RunningApp,
  readerEnv,
  readGuide,
  sh,
  splitSpec,
  startApp,
} from './support.js';

const root = join(import.meta.dirname, '..', '..');
const guide = readGuide(join(root, 'docs', 'getting-started.md'));
const nodeMajor = process.versions.node.split('.')[0] ?? '';
/** Short enough to meet within a test, long enough that no healthy request comes near it. */
const REQUEST_TIMEOUT_MS = 2000;
/** The pool's lock_timeout: a 503 before it comes from requestTimeout, not from the database. */
const LOCK_TIMEOUT_MS = 5000;

const hasPg = await requireService('postgres');

interface Variant {
  title: string;
  slug: string;
  express: 4 | 5;
  /** Files written into the app folder, from the guide's block of the same name. */
  files: string[];
  /** Extra work between writing the files and starting the app (compiling). */
  build?: (dir: string) => Promise<void>;
  /** The command that runs `script` (`app`, `token`, `grant`) with its arguments. */
  command(script: string, ...args: string[]): [string, ...string[]];
  /** The app is started through a wrapper (npx), which ends on the signal itself. */
  wrapped: boolean;
}

const TSCONFIG = {
  compilerOptions: {
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2022',
    strict: true,
    skipLibCheck: false,
  },
  files: ['app.ts', 'token.ts', 'grant.ts'],
};

const variants: Variant[] = [
  {
    title: 'Express 4 and CommonJS: node app.cjs',
    slug: 'cjs',
    express: 4,
    files: ['app.cjs', 'token.cjs', 'grant.cjs'],
    command: (script, ...args) => [process.execPath, `${script}.cjs`, ...args],
    wrapped: false,
  },
  {
    title: 'Express 5 and ESM: npx tsx app.ts',
    slug: 'tsx',
    express: 5,
    files: ['app.ts', 'token.ts', 'grant.ts'],
    command: (script, ...args) => ['npx', 'tsx', `${script}.ts`, ...args],
    wrapped: true,
  },
  {
    title: 'Express 5 and TypeScript nodenext: tsc, then node app.js',
    slug: 'tsc',
    express: 5,
    files: ['app.ts', 'token.ts', 'grant.ts'],
    build: async (dir) => {
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
      const { stdout } = await sh('npx', ['tsc', '-p', 'tsconfig.json'], dir);
      expect(stdout).toBe('');
    },
    command: (script, ...args) => [process.execPath, `${script}.js`, ...args],
    wrapped: false,
  },
];

describe.runIf(hasPg)('the getting-started guide, installed and run as a reader does', () => {
  let work = '';
  const projects: Partial<Record<4 | 5, string>> = {};
  let latestTypes = '';

  /** package.json of a reader's project: the guide's installs, Bulwark from packed tarballs. */
  function manifest(installs: Installs, tarballs: Map<string, string>, esm: boolean) {
    const specs = (words: string[]) =>
      Object.fromEntries(
        words.map((word) => {
          const [name, spec] = splitSpec(word);
          if (name.startsWith('@bulwark/')) {
            const file = tarballs.get(name);
            if (!file) throw new Error(`the guide installs ${name}, which is not a package here`);
            return [name, `file:${file}`];
          }
          // The guide pins @types/node to the reader's Node.js major; so does the suite.
          return [name, name === '@types/node' ? nodeMajor : spec];
        }),
      );
    return {
      name: 'api',
      version: '1.0.0',
      private: true,
      ...(esm ? { type: 'module' } : {}),
      dependencies: specs(installs.dependencies),
      devDependencies: specs(installs.devDependencies),
    };
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'bulwark-field-'));
    const installs = { 4: guide.installs('commonjs'), 5: guide.installs('esm') } as const;
    const wanted = new Set(
      [4, 5].flatMap((major) => {
        const { dependencies, devDependencies } = installs[major as 4 | 5];
        return [...dependencies, ...devDependencies]
          .map((word) => splitSpec(word)[0])
          .filter((name) => name.startsWith('@bulwark/'));
      }),
    );
    const tarballs = new Map<string, string>();
    await Promise.all(
      readdirSync(join(root, 'packages')).map(async (dir) => {
        const pkgDir = join(root, 'packages', dir);
        const { name } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
        if (!wanted.has(name)) return;
        if (!existsSync(join(pkgDir, 'dist', 'index.cjs'))) {
          throw new Error(`packages/${dir} is not built: run \`pnpm build\` first`);
        }
        const { stdout } = await sh('pnpm', ['pack', '--pack-destination', work], pkgDir, {
          env: process.env,
        });
        const file = stdout.trim().split('\n').pop() ?? '';
        tarballs.set(name, file.startsWith('/') ? file : join(work, file));
      }),
    );
    const install = async (dir: string, packageJson: object) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'package.json'), JSON.stringify(packageJson, null, 2));
      await sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], dir, {
        timeoutMs: 240_000,
      });
      return dir;
    };
    latestTypes = join(work, 'types-latest');
    [projects[4], projects[5]] = await Promise.all([
      install(join(work, 'express4'), manifest(installs[4], tarballs, false)),
      install(join(work, 'express5'), manifest(installs[5], tarballs, true)),
      install(latestTypes, { private: true, devDependencies: { '@types/node': 'latest' } }),
    ]);
  }, 300_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  describe.each(variants)('$title', (variant) => {
    let dir = '';
    let db: TestDatabase | undefined;
    let app: RunningApp | undefined;
    let port = 0;
    let viewer = '';
    let admin = '';

    const script = async (name: string, ...args: string[]) => {
      const [cmd, ...rest] = variant.command(name, ...args);
      const { stdout } = await sh(cmd, rest, dir, {
        env: readerEnv({ DATABASE_URL: db?.url ?? '' }),
      });
      return stdout.trim();
    };
    const asAdmin = async <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => {
      const client = new pg.Client({ connectionString: db?.url });
      await client.connect();
      try {
        return await fn(client);
      } finally {
        await client.end();
      }
    };
    /** The request and the app's latest output, for a failed expectation to show. */
    const context = (answer: Answer) =>
      `answered ${answer.status} ${answer.text}\n--- app output (tail) ---\n${app
        ?.output()
        .split('\n')
        .slice(-30)
        .join('\n')}`;

    beforeAll(async () => {
      const project = projects[variant.express];
      if (!project) throw new Error(`the Express ${variant.express} project was not installed`);
      dir = join(work, variant.slug);
      mkdirSync(dir);
      symlinkSync(join(project, 'node_modules'), join(dir, 'node_modules'), 'dir');
      writeFileSync(join(dir, 'package.json'), readFileSync(join(project, 'package.json')));
      for (const file of variant.files) writeFileSync(join(dir, file), guide.file(file));
      await variant.build?.(dir);

      // Step 4: the JWT secret, made by the guide's own shell lines.
      for (const line of guide.linesMaking('jwt.secret')) await sh('sh', ['-c', line], dir);
      // Step 5: a database of its own with the guide's table.
      db = await createTestDatabase(`field_${variant.slug}`);
      const tables = guide.psqlCommands().filter((statement) => /^CREATE TABLE/i.test(statement));
      if (tables.length === 0) throw new Error('the guide creates no table with psql');
      for (const statement of tables) await asAdmin((c) => c.query(statement));

      port = await freePort();
      const [cmd, ...args] = variant.command('app');
      app = startApp(
        cmd,
        args,
        dir,
        readerEnv({
          JWT_SECRET_FILE: './jwt.secret',
          DATABASE_URL: db.url,
          PORT: String(port),
          REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        }),
      );
      const started = app;
      await eventually(
        `${variant.command('app').join(' ')} answering /ready`,
        async () => {
          if (started.child.exitCode !== null || started.child.signalCode !== null) {
            throw new Error(`the app exited while starting:\n${started.output()}`);
          }
          const ready = await call(port, 'GET', '/ready', { timeoutMs: 2000 }).catch(
            () => undefined,
          );
          return ready?.status === 200 ? ready : undefined;
        },
        45_000,
        200,
      );
      // Step 5 again: grants once the app has created its schema, then step 4's tokens.
      await script('grant');
      viewer = await script('token', 'viewer');
      admin = await script('token', 'admin');
    }, 120_000);

    afterAll(async () => {
      if (app?.alive()) {
        app.signal('SIGKILL');
        await Promise.race([app.exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      }
      await db?.drop();
    });

    it(`runs on the Express ${variant.express} that npm installed from the guide's lines, under this Node.js`, async () => {
      const project = projects[variant.express] as string;
      const express = JSON.parse(
        readFileSync(join(project, 'node_modules', 'express', 'package.json'), 'utf8'),
      );
      expect(express.version.split('.')[0]).toBe(String(variant.express));
      // npx, tsx and the scripts find `node` on PATH: it must be the Node.js running this suite.
      const { stdout } = await sh('node', ['--version'], dir);
      expect(stdout.trim()).toBe(process.version);
      expect(viewer.split('.')).toHaveLength(3);
      expect(admin.split('.')).toHaveLength(3);
    });

    it('refuses to start without a JWT secret: it logs the reason and exits with 1', async () => {
      const [cmd, ...args] = variant.command('app');
      const failed = startApp(
        cmd,
        args,
        dir,
        readerEnv({ DATABASE_URL: db?.url ?? '', PORT: String(await freePort()) }),
      );
      const exit = await Promise.race([
        failed.exited,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 20_000)),
      ]);
      if (!exit && failed.alive()) failed.signal('SIGKILL');
      expect(exit, failed.output()).toEqual({ code: 1, signal: null });
      expect(failed.logs()).toContainEqual(
        expect.objectContaining({
          level: 'error',
          err: expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_SECRET_MISSING' }),
        }),
      );
    });

    it('answers a request without a token with 401 problem+json', async () => {
      const answer = await call(port, 'GET', '/devices');
      expect(answer.status, context(answer)).toBe(401);
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(answer.body).toMatchObject({ status: 401, code: 'unauthorized' });
    });

    it("answers a viewer's GET /devices with 200 and an empty list", async () => {
      const answer = await call(port, 'GET', '/devices', { token: viewer });
      expect(answer.status, context(answer)).toBe(200);
      expect(answer.body).toEqual([]);
    });

    it("refuses a viewer's POST /devices with 403 forbidden", async () => {
      const answer = await call(port, 'POST', '/devices', {
        token: viewer,
        body: { id: 'dev_1', owner: 'a@acme.io' },
      });
      expect(answer.status, context(answer)).toBe(403);
      expect(answer.body).toMatchObject({ code: 'forbidden' });
    });

    it('answers an invalid body with 422 and the JSON pointer of the bad field', async () => {
      const badId = await call(port, 'POST', '/devices', {
        token: admin,
        body: { id: 'not a slug!', owner: 'a@acme.io' },
      });
      expect(badId.status, context(badId)).toBe(422);
      expect(badId.body.code).toBe('validation_failed');
      expect(badId.body.errors).toEqual([
        expect.objectContaining({ location: 'body', pointer: '/id' }),
      ]);
      const noOwner = await call(port, 'POST', '/devices', { token: admin, body: { id: 'x' } });
      expect(noOwner.status, context(noOwner)).toBe(422);
      expect(noOwner.body.errors).toEqual([
        expect.objectContaining({ location: 'body', pointer: '/owner' }),
      ]);
    });

    it("creates the admin's device with 201 and answers the same id again with 409 conflict", async () => {
      const device = { id: 'dev_1', owner: 'a@acme.io' };
      const created = await call(port, 'POST', '/devices', { token: admin, body: device });
      expect(created.status, context(created)).toBe(201);
      expect(created.body).toEqual(device);
      const again = await call(port, 'POST', '/devices', { token: admin, body: device });
      expect(again.status, context(again)).toBe(409);
      expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(again.body).toMatchObject({ status: 409, code: 'conflict' });
      const listed = await call(port, 'GET', '/devices', { token: viewer });
      expect(listed.status, context(listed)).toBe(200);
      expect(listed.body).toEqual([device]);
    });

    it('answers the sixth export within a minute with 429 and Retry-After', async () => {
      const statuses: number[] = [];
      let last: Answer | undefined;
      for (let i = 0; i < 6; i++) {
        last = await call(port, 'GET', '/devices/export', { token: viewer });
        statuses.push(last.status);
      }
      expect(statuses, last && context(last)).toEqual([200, 200, 200, 200, 200, 429]);
      expect(Number(last?.headers['retry-after'])).toBeGreaterThan(0);
      expect(last?.headers.ratelimit).toMatch(/"export"; r=0/);
      expect(last?.body).toMatchObject({ status: 429, code: 'rate_limited' });
    });

    it('answers a database fault with a 500 that leaks nothing, logs it under its trace id and keeps serving', async () => {
      await asAdmin((c) => c.query('ALTER TABLE device RENAME TO device_moved'));
      let answer: Answer;
      try {
        answer = await call(port, 'GET', '/devices', { token: viewer });
      } finally {
        await asAdmin((c) => c.query('ALTER TABLE device_moved RENAME TO device'));
      }
      expect(answer.status, context(answer)).toBe(500);
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(answer.body).toMatchObject({ status: 500, code: 'internal_error' });
      expect(answer.body.trace_id).toBe(answer.headers['x-request-id']);
      for (const leak of [
        /device/i,
        /relation/i,
        /select|from|where/i,
        /42P01/,
        /\bat .+:\d+/,
        /node_modules|\.c?js\b|\.ts\b/,
        /postgres/i,
      ]) {
        expect(answer.text).not.toMatch(leak);
      }
      expect(answer.text).not.toContain(work);
      const logged = await eventually(
        'the log line of the 500',
        () => app?.logs().find((line) => line.trace_id === answer.body.trace_id && line.err),
        5000,
      );
      expect(JSON.stringify(logged.err)).toContain('relation \\"device\\" does not exist');

      const after = await call(port, 'GET', '/devices', { token: viewer });
      expect(after.status, context(after)).toBe(200);
      expect(app?.child.exitCode).toBeNull();
      expect(app?.child.signalCode).toBeNull();
    });

    it('answers 503 request_timeout while the table is locked and cancels the blocked query', async () => {
      const holder = new pg.Client({ connectionString: db?.url });
      await holder.connect();
      const blocked = () =>
        asAdmin(async (c) => {
          const { rows } = await c.query(
            `SELECT pid, wait_event_type FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()
                AND state = 'active' AND query LIKE 'SELECT id, owner FROM device%'`,
          );
          return rows as { pid: number; wait_event_type: string | null }[];
        });
      try {
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE device IN ACCESS EXCLUSIVE MODE');
        const sent = Date.now();
        const pending = call(port, 'GET', '/devices', { token: viewer });
        const waiting = await eventually(
          'the SELECT of GET /devices waiting for the lock',
          async () => {
            const rows = await blocked();
            return rows.length > 0 ? rows : undefined;
          },
          REQUEST_TIMEOUT_MS,
        );
        expect(waiting).toEqual([expect.objectContaining({ wait_event_type: 'Lock' })]);

        const answer = await pending;
        expect(answer.status, context(answer)).toBe(503);
        expect(answer.body).toMatchObject({ status: 503, code: 'request_timeout' });
        expect(answer.ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
        expect(answer.ms).toBeLessThan(LOCK_TIMEOUT_MS - 1000);

        // Still holding the lock: only a cancel from the app ends the query before lock_timeout.
        const left = await eventually(
          'the blocked SELECT to be cancelled',
          async () => ((await blocked()).length === 0 ? true : undefined),
          Math.max(0, sent + LOCK_TIMEOUT_MS - 500 - Date.now()),
        ).catch(() => false);
        expect(left, 'the SELECT still waited for the lock after the 503').toBe(true);
      } finally {
        await holder.query('ROLLBACK').catch(() => {});
        await holder.end();
      }
      const after = await call(port, 'GET', '/devices', { token: viewer });
      expect(after.status, context(after)).toBe(200);
    });

    it('answers a CORS preflight with the allow headers for the allowed origin only', async () => {
      const preflight = (origin: string) =>
        call(port, 'OPTIONS', '/devices', {
          headers: {
            origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'authorization,content-type',
          },
        });
      const allowed = await preflight('http://localhost:5173');
      expect(allowed.status, context(allowed)).toBe(204);
      expect(allowed.headers['access-control-allow-origin']).toBe('http://localhost:5173');
      expect(allowed.headers['access-control-allow-methods']).toMatch(/\bPOST\b/);
      expect(allowed.headers['access-control-allow-headers']).toMatch(/authorization/i);

      const other = await preflight('http://evil.example');
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
      expect(other.headers['access-control-allow-methods']).toBeUndefined();
      expect(other.headers['access-control-allow-headers']).toBeUndefined();
    });

    it('shuts down cleanly on SIGTERM', async () => {
      const running = app as RunningApp;
      expect(running.alive()).toBe(true);
      running.signal('SIGTERM');
      const exit = await Promise.race([
        running.exited,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 15_000)),
      ]);
      expect(exit, 'the app did not exit within 15 s of SIGTERM').toBeDefined();
      await eventually(
        'every process of the app to end',
        () => (running.alive() ? undefined : true),
        5000,
      );
      const complete = running.logs().find((line) => line.message === 'shutdown complete');
      expect(complete, running.output()).toMatchObject({ reason: 'SIGTERM', code: 0 });
      // npx itself ends on the signal, as in a terminal; the app under it reported its own exit.
      if (!variant.wrapped) expect(exit).toEqual({ code: 0, signal: null });
    }, 30_000);

    if (variant.slug === 'tsc') {
      it("type-checks with the newest @types/node (npm's latest tag)", async () => {
        const types = join(latestTypes, 'node_modules', '@types');
        writeFileSync(
          join(dir, 'tsconfig.latest.json'),
          JSON.stringify({ extends: './tsconfig.json', compilerOptions: { typeRoots: [types] } }),
        );
        const { stdout } = await sh(
          'npx',
          ['tsc', '-p', 'tsconfig.latest.json', '--noEmit', '--listFiles'],
          dir,
        );
        const files = stdout.split('\n').filter(Boolean);
        expect(files).toContain(join(types, 'node', 'index.d.ts'));
        const otherNodeTypes = files.filter(
          (file) => file.includes('/node_modules/@types/node/') && !file.startsWith(types),
        );
        expect(otherNodeTypes).toEqual([]);
      });
    }
  });
});
