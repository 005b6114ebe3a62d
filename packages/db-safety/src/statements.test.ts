// The SQL text checks see statements and leading keywords, not what sits inside strings, identifiers or comments.
import { describe, expect, it } from 'vitest';
import { hasMultipleStatements, sessionSetting } from './statements.js';

describe('hasMultipleStatements', () => {
  it('accepts one statement, with or without a trailing semicolon and comment', () => {
    expect(hasMultipleStatements('SELECT 1')).toBe(false);
    expect(hasMultipleStatements('SELECT 1;')).toBe(false);
    expect(hasMultipleStatements('SELECT 1; -- done\n  ')).toBe(false);
    expect(hasMultipleStatements('SELECT 1; /* done */;')).toBe(false);
  });

  it('finds a second statement after a semicolon', () => {
    expect(hasMultipleStatements('SELECT 1; SELECT 2')).toBe(true);
    expect(hasMultipleStatements('SELECT 1;DROP TABLE users')).toBe(true);
    expect(hasMultipleStatements('SELECT 1 -- x\n; DELETE FROM t')).toBe(true);
  });

  it('ignores semicolons inside string literals, quoted identifiers and comments', () => {
    expect(hasMultipleStatements("SELECT ';DROP TABLE t;' AS s")).toBe(false);
    expect(hasMultipleStatements("SELECT 'it''s; fine'")).toBe(false);
    expect(hasMultipleStatements('SELECT 1 AS ";x; y"')).toBe(false);
    expect(hasMultipleStatements('SELECT 1 -- a; b\n')).toBe(false);
    expect(hasMultipleStatements('SELECT /* a; /* nested; */ b; */ 1')).toBe(false);
  });

  it('reads escape strings, where a backslash escapes the quote', () => {
    expect(hasMultipleStatements("SELECT E'a\\'; DROP TABLE t; --'")).toBe(false);
    expect(hasMultipleStatements("SELECT E'a\\\\'; DROP TABLE t")).toBe(true);
  });

  it('ignores semicolons inside dollar-quoted bodies but not after them', () => {
    expect(hasMultipleStatements('DO $$ BEGIN PERFORM 1; PERFORM 2; END $$')).toBe(false);
    expect(hasMultipleStatements('DO $fn$ BEGIN PERFORM 1; END $fn$; SELECT 2')).toBe(true);
    expect(hasMultipleStatements('SELECT $1; SELECT 2')).toBe(true);
  });
});

describe('sessionSetting', () => {
  it('finds a SET or RESET that changes the session, after whitespace and comments', () => {
    expect(sessionSetting('SET statement_timeout = 0')).toBe('SET');
    expect(sessionSetting('  -- note\n /* a /* b */ */ set search_path TO app')).toBe('SET');
    expect(sessionSetting('SET SESSION statement_timeout = 0')).toBe('SET');
    expect(sessionSetting('SET ROLE admin')).toBe('SET');
    expect(sessionSetting('SET "statement_timeout" = 0')).toBe('SET');
    expect(sessionSetting('RESET ALL')).toBe('RESET');
    expect(sessionSetting('reset statement_timeout')).toBe('RESET');
  });

  it('accepts what ends with the transaction, and statements that only mention SET', () => {
    expect(sessionSetting('SET LOCAL statement_timeout = 0')).toBeUndefined();
    expect(sessionSetting('set /* x */ local role app')).toBeUndefined();
    expect(sessionSetting('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE')).toBeUndefined();
    expect(sessionSetting('SET CONSTRAINTS ALL DEFERRED')).toBeUndefined();
    expect(sessionSetting("SELECT 'SET x = 1'")).toBeUndefined();
    expect(sessionSetting('UPDATE t SET n = 1')).toBeUndefined();
    expect(sessionSetting('SETOF')).toBeUndefined();
    expect(sessionSetting('select_it()')).toBeUndefined();
    expect(sessionSetting("SELECT set_config('a.b', '1', true)")).toBeUndefined();
    expect(sessionSetting('')).toBeUndefined();
  });
});
