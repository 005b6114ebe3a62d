// Tests for the error shapes: configuration errors and request errors.
import { describe, expect, it } from 'vitest';
import { requestError, ValidatorsConfigError } from './errors.js';

describe('requestError', () => {
  it('builds an exposed http-errors error with a stable code', () => {
    const err = requestError(413, 'Request body is too large', {
      code: 'payload_too_large',
      headers: { Connection: 'close' },
      details: { limit: 10 },
    });
    expect(err).toMatchObject({
      status: 413,
      statusCode: 413,
      expose: true,
      code: 'payload_too_large',
      headers: { Connection: 'close' },
      details: { limit: 10 },
    });
    expect(err.message).toBe('Request body is too large');
  });
});

describe('ValidatorsConfigError', () => {
  it('carries its code and a name', () => {
    const err = new ValidatorsConfigError('ERR_BULWARK_VALIDATORS_NO_SCHEMA', 'no schema');
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ValidatorsConfigError');
    expect(err.code).toBe('ERR_BULWARK_VALIDATORS_NO_SCHEMA');
  });
});

describe('ValidatorsConfigError at request time', () => {
  it('carries status 500 and expose false, so an error handler answers it without the message', () => {
    const err = new ValidatorsConfigError('ERR_BULWARK_VALIDATORS_NO_BODY_PARSER', 'no parser');
    expect(err.status).toBe(500);
    expect(err.expose).toBe(false);
  });
});
