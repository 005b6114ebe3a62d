// Tests for problemFromError(): how every kind of thrown value is classified and rendered.
import createError from 'http-errors';
import { describe, expect, it } from 'vitest';
import { defaultCode, problemFromError, statusTitle } from './problem.js';

describe('problemFromError', () => {
  it('maps every body-parser failure type to a fixed, safe answer', () => {
    const cases: Array<[string, number, number, string]> = [
      ['entity.parse.failed', 400, 400, 'invalid_json'],
      ['entity.too.large', 413, 413, 'payload_too_large'],
      ['entity.verify.failed', 403, 403, 'body_rejected'],
      ['entity.verify.failed', 401, 401, 'body_rejected'],
      ['request.size.invalid', 400, 400, 'invalid_content_length'],
      ['request.aborted', 400, 400, 'request_aborted'],
      ['charset.unsupported', 415, 415, 'unsupported_charset'],
      ['encoding.unsupported', 415, 415, 'unsupported_content_encoding'],
      ['parameters.too.many', 413, 413, 'too_many_parameters'],
      ['querystring.parse.rangeError', 400, 400, 'invalid_body'],
    ];
    for (const [type, thrown, status, code] of cases) {
      const err = createError(
        thrown,
        `raw message quoting the body: password=hunter2 for ${type}`,
        { type },
      );
      const problem = problemFromError(err);
      expect([problem.status, problem.body.code, problem.kind], type).toEqual([
        status,
        code,
        'mapped',
      ]);
      expect(problem.body.detail).not.toContain('hunter2');
    }
  });

  it('treats raw-body stream misuse (a 500) as an internal error', () => {
    const problem = problemFromError(
      createError(500, 'stream encoding should not be set', { type: 'stream.encoding.set' }),
    );
    expect([problem.status, problem.body.code, problem.kind]).toEqual([
      500,
      'internal_error',
      'generic',
    ]);
  });

  it('maps a URIError with status 400 to bad_request but a bare URIError to 500', () => {
    const fromRouter = Object.assign(new URIError("Failed to decode param '%E0%A4%A'"), {
      status: 400,
    });
    expect(problemFromError(fromRouter).body).toMatchObject({ status: 400, code: 'bad_request' });
    expect(problemFromError(new URIError('URI malformed')).status).toBe(500);
  });

  it('keeps an exposed 5xx message when an error deliberately exposes it', () => {
    const problem = problemFromError(
      createError(503, 'Maintenance until 10:00', { expose: true, code: 'maintenance' }),
    );
    expect(problem.body).toMatchObject({
      status: 503,
      detail: 'Maintenance until 10:00',
      code: 'maintenance',
    });
  });

  it('takes Connection: close from an exposed error but no other Connection value', () => {
    const tooLarge = (connection: string) =>
      problemFromError(
        createError(413, 'Request body is too large', {
          headers: { connection, 'Keep-Alive': 'timeout=600', Upgrade: 'h2c' },
        }),
      ).headers;
    expect(tooLarge('close')).toEqual({ Connection: 'close' });
    expect(tooLarge(' Close ')).toEqual({ Connection: 'close' });
    expect(tooLarge('keep-alive')).toEqual({});
    expect(tooLarge('close, x-internal')).toEqual({});
    expect(tooLarge('upgrade')).toEqual({});
  });

  it('answers 500 for an error with a status that is not an HTTP error, dropping its headers', () => {
    const upstream = Object.assign(new Error('Request failed with status code 401'), {
      status: 401,
      headers: { 'WWW-Authenticate': 'Bearer realm="internal"', Connection: 'close' },
    });
    expect(problemFromError(upstream)).toMatchObject({
      status: 500,
      kind: 'generic',
      headers: {},
      body: { code: 'internal_error' },
    });
    const unexposed = createError(400, 'SELECT 1', { expose: false, headers: { 'X-Debug': '1' } });
    expect(problemFromError(unexposed)).toMatchObject({ status: 400, headers: {} });
  });

  it('reads statusCode when status is missing', () => {
    expect(
      problemFromError(Object.assign(new Error('x'), { statusCode: 404, expose: true })).status,
    ).toBe(404);
  });

  it('cuts very long exposed messages', () => {
    const problem = problemFromError(createError(400, 'x'.repeat(5000)));
    expect(problem.body.detail.length).toBeLessThan(1100);
  });

  it('ignores errors and details of the wrong shape', () => {
    const problem = problemFromError(
      createError(400, 'bad', { errors: 'not an array', details: ['not an object'] }),
    );
    expect(problem.body).not.toHaveProperty('errors');
    expect(problem.body).not.toHaveProperty('details');
  });

  it('survives errors whose properties throw when read', () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('trap');
        },
      },
    );
    expect(problemFromError(hostile).body).toMatchObject({ status: 500, code: 'internal_error' });
  });

  it('never adds a stack unless asked, and only for 5xx', () => {
    expect(problemFromError(new Error('x')).body).not.toHaveProperty('stack');
    expect(problemFromError(new Error('x'), { exposeStack: true }).body.stack).toContain(
      'problem.test.ts',
    );
    expect(problemFromError(createError(400, 'x'), { exposeStack: true }).body).not.toHaveProperty(
      'stack',
    );
  });
});

describe('status names', () => {
  it('derives titles and codes from the status', () => {
    expect(statusTitle(404)).toBe('Not Found');
    expect(statusTitle(499)).toBe('Client Error');
    expect(defaultCode(500)).toBe('internal_error');
    expect(defaultCode(413)).toBe('payload_too_large');
    expect(defaultCode(429)).toBe('too_many_requests');
    expect(defaultCode(418)).toBe('i_m_a_teapot');
  });
});
