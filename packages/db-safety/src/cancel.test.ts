// Server-side cancellation: pg_cancel_backend through a side connection, and the protocol CancelRequest.
import {
  createTestDatabase,
  freePort,
  requireService,
  startPgBouncer,
  type TestDatabase,
} from '@bulwark/test-utils';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin, eventually } from '../test/support.js';
import { cancelBackend, sendCancelRequest } from './cancel.js';

const hasPg = await requireService('postgres');
const hasPgBouncer = hasPg && (await requireService('pgbouncer'));

describe.runIf(hasPg)('cancelling on the server', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase('dbsafety_cancel');
  });
  afterAll(async () => {
    await database?.drop();
  });

  async function sleeping(
    tag: string,
    url = database.url,
  ): Promise<{ client: pg.Client; running: Promise<unknown> }> {
    const client = new pg.Client({ connectionString: url, application_name: tag });
    client.on('error', () => {});
    await client.connect();
    const running = client.query('SELECT pg_sleep(10)').then(
      () => undefined,
      (err: unknown) => err,
    );
    const active = async () =>
      (
        await asAdmin((admin) =>
          admin.query(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
            [tag],
          ),
        )
      ).rowCount === 1;
    expect(await eventually(active)).toBe(true);
    return { client, running };
  }

  it('cancels with pg_cancel_backend through a separate connection', async () => {
    const { client, running } = await sleeping('dbsafety-cancel-sql');
    try {
      await cancelBackend(client, { connectionString: database.url });
      expect(await running).toMatchObject({ code: '57014' });
      expect((await client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await client.end();
    }
  });

  it('cancels with a protocol CancelRequest', async () => {
    const { client, running } = await sleeping('dbsafety-cancel-protocol');
    try {
      await sendCancelRequest(client);
      expect(await running).toMatchObject({ code: '57014' });
    } finally {
      await client.end();
    }
  });

  it('falls back to a CancelRequest when the side connection cannot be made', async () => {
    const { client, running } = await sleeping('dbsafety-cancel-fallback');
    try {
      const port = await freePort();
      await cancelBackend(client, {
        connectionString: `postgres://postgres@127.0.0.1:${port}/none`,
        connectionTimeoutMillis: 500,
      });
      expect(await running).toMatchObject({ code: '57014' });
    } finally {
      await client.end();
    }
  });
  it.runIf(hasPgBouncer)(
    'cancels through PgBouncer, which drops a CancelRequest whose sender hangs up before it is forwarded',
    async () => {
      const bouncer = await startPgBouncer({ mode: 'transaction' });
      try {
        for (const turn of [1, 2, 3]) {
          const { client, running } = await sleeping(
            `dbsafety-cancel-bouncer-${turn}`,
            bouncer.url(database.name),
          );
          try {
            await sendCancelRequest(client);
            expect(await running).toMatchObject({ code: '57014' });
          } finally {
            await client.end();
          }
        }
        expect(bouncer.output()).not.toMatch(/unexpected eof|FATAL/);
      } finally {
        await bouncer.stop();
      }
    },
  );
});
