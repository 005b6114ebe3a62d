// Error classes carry stable codes, and only real SQLSTATEs are read as such.
import { describe, expect, it } from 'vitest';
import { DbAbortError, DbConfigError, DbSafetyError, sqlState } from './errors.js';

describe('errors', () => {
  it('gives each class its name and code', () => {
    expect(new DbConfigError('ERR_BULWARK_DB_X', 'm')).toMatchObject({
      name: 'DbConfigError',
      code: 'ERR_BULWARK_DB_X',
    });
    expect(new DbSafetyError('ERR_BULWARK_DB_Y', 'm')).toMatchObject({
      name: 'DbSafetyError',
      code: 'ERR_BULWARK_DB_Y',
    });
    expect(new DbAbortError()).toMatchObject({
      name: 'AbortError',
      code: 'ERR_BULWARK_DB_ABORTED',
    });
  });

  it('reads a five-character SQLSTATE and ignores Node error codes', () => {
    expect(sqlState({ code: '40001' })).toBe('40001');
    expect(sqlState({ code: '40P01' })).toBe('40P01');
    expect(sqlState({ code: 'ECONNRESET' })).toBeUndefined();
    expect(sqlState(new Error('x'))).toBeUndefined();
    expect(sqlState(null)).toBeUndefined();
  });
});
