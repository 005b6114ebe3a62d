// Tests for the shared option checks: unknown names, sizes, numbers and factories mounted uncalled.
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { jsonBody } from './json-body.js';
import { byteSizeOption, checkOptions, integerOption } from './options.js';
import { paginate } from './paginate.js';
import { queryLimits } from './query-limits.js';

describe('checkOptions', () => {
  it('suggests the closest known name for a misspelled option', () => {
    expect(() => checkOptions('f', { lmit: 1 }, ['limit', 'maxDepth'])).toThrow(
      'f: unknown option `lmit`. Did you mean `limit`?',
    );
    expect(() => checkOptions('f', { zzz: 1 }, ['limit'])).toThrow('Known options: limit.');
  });

  it('refuses options that are not an object', () => {
    expect(() => checkOptions('f', 5, ['limit'])).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_VALIDATORS_INVALID_OPTION' }),
    );
    expect(() => checkOptions('f', [], ['limit'])).toThrow(/received an array/);
  });
});

describe('option values', () => {
  it('parses byte sizes and refuses nonsense', () => {
    expect(byteSizeOption('f', 'limit', '100kb', 1)).toBe(102_400);
    expect(byteSizeOption('f', 'limit', '10MB', 1)).toBe(10_485_760);
    expect(byteSizeOption('f', 'limit', 512, 1)).toBe(512);
    expect(byteSizeOption('f', 'limit', undefined, 7)).toBe(7);
    for (const bad of ['-1kb', '10 parsecs', 0, 1.5, '', Number.NaN]) {
      expect(() => byteSizeOption('f', 'limit', bad, 1)).toThrow(/is not a valid size/);
    }
  });

  it('quotes the bad value and the accepted range', () => {
    expect(() =>
      integerOption('paginate', 'maxLimit', -1, 200, { min: 1, example: '200' }),
    ).toThrow(
      'paginate: maxLimit: -1 is not valid. Use an integer from 1 to 9007199254740991, such as 200.',
    );
  });
});

describe('factories mounted without being called', () => {
  for (const [name, factory] of [
    ['jsonBody', jsonBody],
    ['queryLimits', queryLimits],
    ['paginate', paginate],
  ] as const) {
    it(`${name} says how to mount it`, async () => {
      const app = express();
      app.use(factory as never);
      let thrown: unknown;
      app.use(
        (
          err: unknown,
          _req: express.Request,
          res: express.Response,
          _next: express.NextFunction,
        ) => {
          thrown = err;
          res.sendStatus(500);
        },
      );
      await request(app).get('/');
      expect(thrown).toMatchObject({
        code: 'ERR_BULWARK_VALIDATORS_NOT_CALLED',
        message: expect.stringContaining(`app.use(${name}())`),
      });
    });
  }
});
