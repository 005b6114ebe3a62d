// The shared option checks: typos get a hint, factories used without a call are caught, numbers are strict.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import {
  checkOptions,
  httpError,
  PerimeterConfigError,
  positiveInt,
  publish,
  warn,
} from './errors.js';

describe('checkOptions', () => {
  it('names the closest known option for a typo or a truncated name', () => {
    expect(() => checkOptions('f', { maxage: 1 }, ['maxAge'])).toThrow(/Did you mean `maxAge`/);
    expect(() => checkOptions('f', { retry: 1 }, ['retryAfter'])).toThrow(
      /Did you mean `retryAfter`/,
    );
    expect(() => checkOptions('f', { zzz: 1 }, ['maxAge'])).toThrow(/Known options: maxAge/);
  });

  it('refuses non-objects and requests passed where options belong', () => {
    expect(() => checkOptions('f', 'x', [])).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_OPTIONS' }),
    );
    expect(() => checkOptions('f', { method: 'GET', headers: {}, url: '/' }, [])).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_NOT_CALLED' }),
    );
  });
});

describe('positiveInt', () => {
  it('accepts integers in range and refuses everything else', () => {
    expect(positiveInt('f', 'n', 5)).toBe(5);
    expect(positiveInt('f', 'n', 0, { allowZero: true })).toBe(0);
    for (const bad of [0, -1, 1.5, '5', Number.POSITIVE_INFINITY, 2 ** 31]) {
      expect(() => positiveInt('f', 'n', bad), String(bad)).toThrow(PerimeterConfigError);
    }
  });
});

describe('httpError', () => {
  it('builds the shared error shape, exposed so the error handler keeps each code', () => {
    const err = httpError(403, 'Forbidden', 'ip_not_allowed');
    expect(err).toMatchObject({
      status: 403,
      code: 'ip_not_allowed',
      expose: true,
      message: 'Forbidden',
    });
    expect(httpError(503, 'Request timed out', 'request_timeout').expose).toBe(true);
  });
});

describe('warn and publish', () => {
  it('sends warnings to the logger with their code', () => {
    const seen: unknown[] = [];
    warn({ warn: (m, meta) => seen.push([m, meta]) }, 'ERR_X', 'careful', { a: 1 });
    expect(seen).toEqual([['careful', { code: 'ERR_X', a: 1 }]]);
  });

  it('publishes on bulwark:perimeter channels only when someone listens', () => {
    let built = 0;
    publish('hostRejected', () => {
      built++;
      return {};
    });
    expect(built).toBe(0);
    const seen: unknown[] = [];
    const listener = (m: unknown) => seen.push(m);
    subscribe('bulwark:perimeter:host-rejected', listener);
    publish('hostRejected', () => ({ host: 'x' }));
    unsubscribe('bulwark:perimeter:host-rejected', listener);
    expect(seen).toEqual([{ host: 'x' }]);
  });
});
