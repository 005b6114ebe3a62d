// The sql tag binds values as parameters; injection strings stay data against the real server.
import { createTestDatabase, requireService, type TestDatabase } from '@bulwark/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from './db.js';
import { DbSafetyError } from './errors.js';
import { createPool, type SafePool } from './pool.js';
import { isSql, sql } from './sql.js';

const hasPg = await requireService('postgres');

describe('sql', () => {
  it('turns every interpolated value into a numbered parameter', () => {
    const q = sql`SELECT * FROM device WHERE mac = ${'aa:bb'} AND port = ${3}`;
    expect(q.text).toBe('SELECT * FROM device WHERE mac = $1 AND port = $2');
    expect(q.values).toEqual(['aa:bb', 3]);
    expect(isSql(q)).toBe(true);
  });

  it('embeds a nested fragment and renumbers its parameters', () => {
    const filter = sql`tenant = ${'t1'} AND kind = ${'sensor'}`;
    const q = sql`SELECT * FROM device WHERE id > ${10} AND ${filter} LIMIT ${5}`;
    expect(q.text).toBe(
      'SELECT * FROM device WHERE id > $1 AND tenant = $2 AND kind = $3 LIMIT $4',
    );
    expect(q.values).toEqual([10, 't1', 'sensor', 5]);
  });

  it('quotes identifiers and doubles embedded quotes', () => {
    expect(
      sql`SELECT ${sql.identifier('name')} FROM ${sql.identifier(['app', 'device'])}`.text,
    ).toBe('SELECT "name" FROM "app"."device"');
    expect(sql.identifier('a"b').text).toBe('"a""b"');
  });

  it('refuses identifiers PostgreSQL would cut or cannot hold', () => {
    expect(() => sql.identifier('')).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_DB_INVALID_IDENTIFIER' }),
    );
    expect(() => sql.identifier('a\0b')).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_DB_INVALID_IDENTIFIER' }),
    );
    expect(() => sql.identifier('x'.repeat(64))).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_DB_INVALID_IDENTIFIER' }),
    );
    expect(() => sql.identifier([])).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_DB_INVALID_IDENTIFIER' }),
    );
  });

  it('joins values as parameters and fragments as SQL', () => {
    expect(sql`WHERE id IN (${sql.join([1, 2, 3])})`).toMatchObject({
      text: 'WHERE id IN ($1, $2, $3)',
      values: [1, 2, 3],
    });
    const conditions = sql.join([sql`a = ${1}`, sql`b = ${2}`], sql` AND `);
    expect(sql`SELECT 1 WHERE ${conditions}`).toMatchObject({
      text: 'SELECT 1 WHERE a = $1 AND b = $2',
      values: [1, 2],
    });
  });

  it('refuses a plain string as the join separator', () => {
    expect(() => sql.join([1, 2], ' OR 1=1 OR ' as never)).toThrow(DbSafetyError);
  });

  it('embeds sql.raw text as it is, for trusted constants', () => {
    const direction = sql.raw('DESC');
    expect(sql`SELECT 1 ORDER BY 1 ${direction}`.text).toBe('SELECT 1 ORDER BY 1 DESC');
    expect(() => sql.raw(42 as never)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_DB_UNSAFE_QUERY' }),
    );
  });

  it('refuses undefined values, which are usually a missing property', () => {
    expect(() => sql`SELECT ${undefined}`).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_DB_UNDEFINED_VALUE' }),
    );
    expect(sql`SELECT ${null}`.values).toEqual([null]);
  });

  it('refuses being called as a function with a string', () => {
    const call = sql as unknown as (text: string) => unknown;
    expect(() => call("SELECT * FROM t WHERE a = 'x'")).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_DB_UNSAFE_QUERY' }),
    );
  });

  it('gives the same text for repeated calls from one call site', () => {
    const make = (n: number) => sql`SELECT ${n}::int AS n`;
    expect(make(1).text).toBe(make(2).text);
    expect(make(2).values).toEqual([2]);
  });
});

describe.runIf(hasPg)('sql against PostgreSQL', () => {
  let database: TestDatabase;
  let pool: SafePool;
  let db: Db;

  beforeAll(async () => {
    database = await createTestDatabase('dbsafety_sql');
    pool = createPool({ connectionString: database.url, max: 2 });
    db = createDb(pool);
    await db.query(sql`CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL)`);
    await db.query(sql`INSERT INTO users (name) VALUES (${'alice'}), (${'bob'})`);
  });
  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  const attacks = [
    "'; DROP TABLE users; --",
    "' OR '1'='1",
    "alice' --",
    '1; DELETE FROM users',
    '$$; DROP TABLE users; $$',
    "\\'; DROP TABLE users; --",
  ];

  it.each(attacks)('treats %j as data, never as SQL', async (attack) => {
    const rows = await db.many(sql`SELECT id FROM users WHERE name = ${attack}`);
    expect(rows).toEqual([]);
    const echoed = await db.one<{ v: string }>(sql`SELECT ${attack}::text AS v`);
    expect(echoed.v).toBe(attack);
    const { count } = await db.one<{ count: string }>(sql`SELECT count(*) FROM users`);
    expect(count).toBe('2');
  });

  it('stores an injection string verbatim and reads it back unchanged', async () => {
    const attack = "Robert'); DROP TABLE users;--";
    const inserted = await db.one<{ id: number }>(
      sql`INSERT INTO users (name) VALUES (${attack}) RETURNING id`,
    );
    const row = await db.one<{ name: string }>(
      sql`SELECT name FROM users WHERE id = ${inserted.id}`,
    );
    expect(row.name).toBe(attack);
    await db.query(sql`DELETE FROM users WHERE id = ${inserted.id}`);
  });

  it('keeps a hostile identifier one quoted name, so it names no real table', async () => {
    const hostile = sql.identifier('users"; DROP TABLE users; --');
    await expect(db.query(sql`SELECT * FROM ${hostile}`)).rejects.toMatchObject({ code: '42P01' });
    const { count } = await db.one<{ count: string }>(sql`SELECT count(*) FROM users`);
    expect(count).toBe('2');
  });

  it('binds sql.join values as parameters on the server', async () => {
    const rows = await db.many<{ name: string }>(
      sql`SELECT name FROM users WHERE name IN (${sql.join(['alice', "bob' OR 1=1 --"])}) ORDER BY name`,
    );
    expect(rows).toEqual([{ name: 'alice' }]);
  });
});
