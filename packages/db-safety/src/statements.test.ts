// The multi-statement check sees statements, not semicolons inside strings, identifiers or comments.
import { describe, expect, it } from 'vitest';
import { hasMultipleStatements } from './statements.js';

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
