// The PgBouncer suite's pieces: an app on a db-safety pool, a guarded route for rbac, role timeouts, tokens.
import { createHmac } from 'node:crypto';
import { Writable } from 'node:stream';
import { createDb, dbErrors, type SafePool, sql, withTenant } from '@bulwark/db-safety';
import { createLogger, errorHandler } from '@bulwark/error-handler';
import { authenticate, type PermissionStore, requirePermission } from '@bulwark/rbac';
import { SERVICES } from '@bulwark/test-utils';
import express from 'express';
import pg from 'pg';

type Logger = ReturnType<typeof createLogger>;

/** Every line the error handler logged, to check that none carries SQL. */
export function capturedLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({
    stream: new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  });
  return { logger, lines };
}

const SETTINGS_SQL = sql`SELECT pg_backend_pid() AS pid,
  current_setting('statement_timeout') AS statement_timeout,
  current_setting('lock_timeout') AS lock_timeout,
  current_setting('idle_in_transaction_session_timeout') AS idle_timeout,
  coalesce(nullif(current_setting('app.tenant_id', true), ''), 'none') AS tenant,
  ${'settings'}::text AS probe`;

/**
 * An app on `pool`: `/settings` inside a transaction and `/settings/outside` as a single
 * statement, `/sleep/:seconds` inside a transaction and `/sleep/:seconds/outside` outside one,
 * and `/tenant/:id` in `withTenant`.
 */
export function settingsApp(
  pool: SafePool,
  logger: Logger = capturedLogger().logger,
): express.Express {
  const db = createDb(pool);
  const app = express();
  app.get('/settings', async (_req, res) => {
    res.json(await db.transaction((tx) => tx.one(SETTINGS_SQL)));
  });
  app.get('/settings/outside', async (_req, res) => {
    res.json(await db.one(SETTINGS_SQL));
  });
  app.get('/sleep/:seconds', async (req, res) => {
    const seconds = Number(req.params.seconds);
    await db.transaction((tx) => tx.query(sql`SELECT pg_sleep(${seconds})`));
    res.json({ slept: seconds });
  });
  app.get('/sleep/:seconds/outside', async (req, res) => {
    const seconds = Number(req.params.seconds);
    await db.query(sql`SELECT pg_sleep(${seconds})`);
    res.json({ slept: seconds });
  });
  app.get('/tenant/:id', async (req, res) => {
    res.json(
      await withTenant(
        pool,
        req.params.id,
        async (client) => (await client.query(SETTINGS_SQL)).rows[0],
      ),
    );
  });
  app.use(dbErrors());
  app.use(errorHandler({ logger }));
  return app;
}

const SECRET = Buffer.alloc(32, 7);
export const jwtOptions = {
  algorithms: ['HS256' as const],
  secret: SECRET,
  issuer: 'scale-test',
  audience: 'api',
};

/** A token for `sub` in tenant `acme`, signed for {@link jwtOptions}. */
export function tokenFor(sub: string): string {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, tenant_id: 'acme', iss: 'scale-test', aud: 'api', iat: now, exp: now + 300 })}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

/** `POST /devices`, allowed with `devices:write` from `store`. */
export function guardedApp(store: PermissionStore): express.Express {
  const app = express();
  app.post(
    '/devices',
    authenticate({ jwt: jwtOptions, permissions: store }),
    requirePermission('devices:write'),
    (_req, res) => {
      res.status(201).json({ created: true });
    },
  );
  app.use(errorHandler({ logger: capturedLogger().logger }));
  return app;
}

/**
 * Gives the test server's user its own timeouts in `database` only, as transaction pooling needs
 * for statements outside a transaction. They go with the database when it is dropped.
 */
export async function setRoleTimeouts(
  database: string,
  settings: {
    statement_timeout: string;
    lock_timeout: string;
    idle_in_transaction_session_timeout: string;
  },
): Promise<void> {
  const admin = new pg.Client({ connectionString: SERVICES.postgres.url });
  await admin.connect();
  try {
    for (const [name, value] of Object.entries(settings)) {
      await admin.query(
        `ALTER ROLE CURRENT_USER IN DATABASE "${database}" SET ${name} = '${value}'`,
      );
    }
  } finally {
    await admin.end();
  }
}
