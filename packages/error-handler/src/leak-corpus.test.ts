// The leak corpus: errors full of SQL, paths, connection strings, tokens and keys never reach a client.
import { readFile } from 'node:fs/promises';
import { createTestDatabase, requireService, type TestDatabase } from '@bulwark/test-utils';
import express, { type Request } from 'express';
import pg from 'pg';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { requestContext } from './context.js';
import { errorHandler } from './error-handler.js';
import { captureLogger } from './test-helpers.js';

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJvcGVyYXRvciJ9.4pcPyMD09olPSyXnrXCjTwXyr4BsezdI1AVTmud2fU4';
const PEM_BODY = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDLeakedKeyMaterial';
const PEM = `-----BEGIN RSA PRIVATE KEY-----\n${PEM_BODY}\n-----END RSA PRIVATE KEY-----`;
const ENV_CANARY = 'env-canary-7f3a9c';
const REQUEST_SECRET = 'Bearer req-secret-token-91c2e';

interface Case {
  name: string;
  /** Builds the error; may use the request (to reflect what the client sent). */
  make: (req: Request) => unknown | Promise<unknown>;
  /** Text that must never reach the client. */
  leaks: string[];
  /** Text that must not be in the log either (secrets). */
  secrets: string[];
  /** Text that proves the log line has the full error. */
  logged: string;
}

const corpus: Case[] = [
  {
    name: 'SQL text in the message',
    make: () =>
      new Error(
        `syntax error at or near "FROM" in: SELECT id, password_hash FROM users WHERE email = 'ada@example.com'`,
      ),
    leaks: ['SELECT', 'password_hash', 'ada@example.com', 'syntax error'],
    secrets: [],
    logged: 'SELECT id, password_hash FROM users',
  },
  {
    name: 'a real ENOENT with an absolute path',
    make: () => readFile('/srv/bulwark-leak-test/config/secrets.json').catch((err: unknown) => err),
    leaks: ['/srv/bulwark-leak-test', 'secrets.json', 'ENOENT'],
    secrets: [],
    logged: '/srv/bulwark-leak-test/config/secrets.json',
  },
  {
    name: 'a Windows path and a source location',
    make: () => new Error('failed at C:\\Users\\svc\\app\\src\\db.ts:42:7'),
    leaks: ['C:\\', 'db.ts'],
    secrets: [],
    logged: 'db.ts:42:7',
  },
  {
    name: 'a connection string with a password',
    make: () =>
      new Error('connect ECONNREFUSED postgres://iot_admin:Sup3rS3cret!@10.0.0.5:5432/iot'),
    leaks: ['postgres://', 'iot_admin', '10.0.0.5', 'Sup3rS3cret!'],
    secrets: ['Sup3rS3cret!'],
    logged: 'postgres://iot_admin:[REDACTED]@10.0.0.5:5432/iot',
  },
  {
    name: 'a libpq keyword connection string',
    make: () =>
      new Error('could not connect: host=db port=5432 user=app password=Pa55word dbname=iot'),
    leaks: ['host=db', 'Pa55word'],
    secrets: ['Pa55word'],
    logged: 'password=[REDACTED]',
  },
  {
    name: 'tokens: JWT, Bearer, cloud and VCS keys',
    make: () =>
      new Error(
        `upstream refused ${JWT}; Authorization: Bearer abcdef0123456789; aws AKIAIOSFODNN7EXAMPLE; ghp_0123456789abcdefghijABCDEFGHIJ012345`,
      ),
    leaks: [JWT.slice(0, 20), 'abcdef0123456789', 'AKIAIOSFODNN7EXAMPLE', 'ghp_0123'],
    secrets: [JWT.slice(0, 20), 'abcdef0123456789', 'AKIAIOSFODNN7EXAMPLE', 'ghp_0123'],
    logged: 'upstream refused [REDACTED]',
  },
  {
    name: 'a PEM private key',
    make: () => new Error(`could not load key:\n${PEM}`),
    leaks: ['BEGIN RSA PRIVATE KEY', PEM_BODY],
    secrets: [PEM_BODY],
    logged: 'could not load key:',
  },
  {
    name: 'an environment value',
    make: () => new Error(`config: LEAK_CANARY=${process.env.BULWARK_LEAK_CANARY}`),
    leaks: [ENV_CANARY],
    secrets: [],
    logged: ENV_CANARY,
  },
  {
    name: 'a secret from the request itself',
    make: (req) => new Error(`auth failed for header ${req.headers.authorization}`),
    leaks: ['req-secret-token-91c2e'],
    secrets: ['req-secret-token-91c2e'],
    logged: 'auth failed for header Bearer [REDACTED]',
  },
  {
    name: 'an error whose cause holds the secret',
    make: () =>
      new Error('save failed', {
        cause: Object.assign(new Error('password authentication failed for user "iot"'), {
          code: '28P01',
          config: { password: 'CausePass1' },
        }),
      }),
    leaks: ['password authentication', 'CausePass1', '28P01'],
    secrets: ['CausePass1'],
    logged: '28P01',
  },
];

type Throw = 'sync' | 'async' | 'callback';
const styles: Throw[] = ['sync', 'async', 'callback'];

/** The error each route made, by `style/index`, to compare the logged stack with its own. */
const made = new Map<string, unknown>();
async function make(entry: Case, req: Request, key: string): Promise<unknown> {
  const err = await entry.make(req);
  made.set(key, err);
  return err;
}

function corpusApp(cases: Case[]) {
  const capture = captureLogger();
  const app = express();
  app.use(requestContext());
  app.get('/:style/:i', (req, res, next) => {
    const entry = cases[Number(req.params.i)]!;
    const style = req.params.style as Throw;
    const key = `${style}/${req.params.i}`;
    if (style === 'sync') {
      const err = entry.make(req);
      if (err instanceof Promise) {
        // Errors that can only be made asynchronously are thrown from the async styles.
        err.then((e) => {
          made.set(key, e);
          next(e);
        }, next);
        return;
      }
      made.set(key, err);
      throw err;
    }
    if (style === 'async') {
      return (async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        throw await make(entry, req, key);
      })();
    }
    setTimeout(async () => next(await make(entry, req, key)), 1);
    void res;
  });
  app.use(errorHandler({ logger: capture.logger }));
  return { app, ...capture };
}

const STACK_FRAME = /\n\s+at |\bat [\w.<>]+ \(|[\w/\\-]+\.(?:ts|js|mjs|cjs):\d+/;

async function assertNoLeak(cases: Case[], env: string) {
  process.env.NODE_ENV = env;
  const { app, raw, lines } = corpusApp(cases);
  for (const style of styles) {
    for (const [i, entry] of cases.entries()) {
      const res = await request(app).get(`/${style}/${i}`).set('Authorization', REQUEST_SECRET);
      const label = `${entry.name} (${style}, NODE_ENV=${env})`;
      expect(res.status, label).toBe(500);
      expect(res.headers['content-type'], label).toBe('application/problem+json; charset=utf-8');
      expect(res.body, label).toEqual({
        type: 'about:blank',
        title: 'Internal Server Error',
        status: 500,
        detail: 'Internal server error',
        code: 'internal_error',
        trace_id: res.headers['x-request-id'],
      });
      const wire = JSON.stringify(res.headers) + res.text;
      for (const leak of entry.leaks) expect(wire, `${label} leaked ${leak}`).not.toContain(leak);
      expect(wire, label).not.toMatch(STACK_FRAME);
      expect(wire, label).not.toContain(process.cwd());

      const line = lines().find((l) => l.trace_id === res.body.trace_id && l.level === 'error');
      expect(line, `${label}: no log line with the trace id`).toBeDefined();
      const logged = JSON.stringify(line);
      expect(logged, label).toContain(entry.logged);
      const own = made.get(`${style}/${i}`);
      const ownStack = own instanceof Error ? (own.stack ?? '') : '';
      if (/\n\s+at /.test(ownStack)) {
        expect(logged, `${label}: stack missing from the log`).toMatch(/\\n\s+at /);
      } else {
        // Node.js 26 gives fs/promises errors no frames at all: the log keeps the stack as it is.
        expect((line?.err as { stack?: unknown } | undefined)?.stack, label).toBe(ownStack);
      }
    }
  }
  for (const entry of cases) {
    for (const secret of entry.secrets)
      expect(raw(), `${entry.name}: secret in the log`).not.toContain(secret);
  }
  expect(raw()).not.toContain('req-secret-token-91c2e');
}

const savedEnv = process.env.NODE_ENV;
beforeAll(() => {
  process.env.BULWARK_LEAK_CANARY = ENV_CANARY;
});
afterEach(() => {
  process.env.NODE_ENV = savedEnv;
});
afterAll(() => {
  delete process.env.BULWARK_LEAK_CANARY;
});

describe('leak corpus', () => {
  it('reveals nothing to the client and logs every error in full, in development', async () => {
    await assertNoLeak(corpus, 'development');
  });

  it('reveals nothing to the client and logs every error in full, in production', async () => {
    await assertNoLeak(corpus, 'production');
  });
});

const hasPg = await requireService('postgres');

describe.runIf(hasPg)('leak corpus with real PostgreSQL errors', () => {
  let db: TestDatabase;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase('error_handler_leaks');
    pool = new pg.Pool({ connectionString: db.url, max: 2, statement_timeout: 200 });
    await pool.query('CREATE TABLE accounts (email text PRIMARY KEY, api_token text)');
    await pool.query("INSERT INTO accounts VALUES ('ada@example.com', 'tok_live_1')");
  });

  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  const pgCases = (): Case[] => [
    {
      name: 'an undefined table',
      make: () =>
        pool.query('SELECT api_token FROM hidden_admin_tokens').catch((err: unknown) => err),
      leaks: ['hidden_admin_tokens', 'relation', 'api_token', '42P01'],
      secrets: [],
      logged: '"code":"42P01"',
    },
    {
      name: 'a unique violation whose detail holds user data',
      make: () =>
        pool
          .query("INSERT INTO accounts VALUES ('ada@example.com', 'tok_live_2')")
          .catch((err: unknown) => err),
      leaks: ['ada@example.com', 'accounts_pkey', 'duplicate key', '23505'],
      secrets: [],
      logged: '"constraint":"accounts_pkey"',
    },
    {
      name: 'a statement timeout',
      make: () => pool.query('SELECT pg_sleep(1)').catch((err: unknown) => err),
      leaks: ['statement timeout', 'pg_sleep', '57014'],
      secrets: [],
      logged: '"code":"57014"',
    },
  ];

  it('reveals no SQL, table, constraint or row data, in development and production', async () => {
    await assertNoLeak(pgCases(), 'development');
    await assertNoLeak(pgCases(), 'production');
  });
});
