// Slow-query timing on a real connection: every call form is timed, values never leave as data.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createTestDatabase, requireService, type TestDatabase } from '@bulwark/test-utils';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SlowQueryEvent } from './diagnostics.js';
import { instrumentClient, redactParams } from './slow-queries.js';

const hasPg = await requireService('postgres');

describe('redactParams', () => {
  it('keeps only the type of each parameter', () => {
    expect(
      redactParams(['secret', 42, null, [1], Buffer.from('x'), new Date(), { a: 1 }, true, 10n]),
    ).toEqual([
      'string',
      'number',
      'null',
      'array',
      'bytes',
      'date',
      'object',
      'boolean',
      'bigint',
    ]);
    expect(redactParams(undefined)).toEqual([]);
  });
});

describe.runIf(hasPg)('instrumentClient', () => {
  let database: TestDatabase;
  let client: pg.Client;
  const events: SlowQueryEvent[] = [];
  const onSlow = (message: unknown) => events.push(message as SlowQueryEvent);

  beforeAll(async () => {
    database = await createTestDatabase('dbsafety_slow');
    client = new pg.Client({ connectionString: database.url });
    client.on('error', () => {});
    await client.connect();
    instrumentClient(client as pg.PoolClient, 50, undefined);
    subscribe('bulwark:db:slow-query', onSlow);
  });
  afterEach(() => {
    events.length = 0;
  });
  afterAll(async () => {
    unsubscribe('bulwark:db:slow-query', onSlow);
    await client?.end();
    await database?.drop();
  });

  it('times promise-style queries and ignores fast ones', async () => {
    await client.query('SELECT 1');
    await client.query('SELECT pg_sleep(0.08), $1::text', ['hidden-value']);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      text: 'SELECT pg_sleep(0.08), $1::text',
      params: ['string'],
      pid: expect.any(Number),
    });
    expect(events[0]?.queryId).toMatch(/^[0-9a-f]{12}$/);
    expect(JSON.stringify(events)).not.toContain('hidden-value');
  });

  it('times callback-style queries, as pg.Pool#query makes them', async () => {
    await new Promise<void>((resolve, reject) =>
      client.query('SELECT pg_sleep(0.08)', [], (err) => (err ? reject(err) : resolve())),
    );
    expect(events).toHaveLength(1);
  });

  it('reports the SQLSTATE of a slow query that failed, such as a statement timeout', async () => {
    await client.query('SET statement_timeout = 60');
    try {
      await expect(client.query('SELECT pg_sleep(1)')).rejects.toMatchObject({ code: '57014' });
    } finally {
      await client.query('RESET statement_timeout');
    }
    expect(events).toEqual([
      expect.objectContaining({ sqlState: '57014', text: 'SELECT pg_sleep(1)' }),
    ]);
  });

  it('cuts very long SQL text in the event', async () => {
    const padding = `/* ${'x'.repeat(2000)} */`;
    await client.query(`SELECT pg_sleep(0.08) ${padding}`);
    expect(events[0]?.text.length).toBeLessThanOrEqual(1001);
  });
});
