// checkOptionsObject(): the three problems it reports, with the messages users see.
import { describe, expect, it } from 'vitest';
import { checkOptionsObject, looksLikeRequest, type OptionsProblem } from './options.js';

class Refused extends Error {
  constructor(
    readonly problem: OptionsProblem,
    message: string,
  ) {
    super(message);
  }
}
const fail = (problem: OptionsProblem, message: string): never => {
  throw new Refused(problem, message);
};
const check = (options: unknown) =>
  checkOptionsObject(
    'widget',
    options,
    ['limit', 'logger'],
    (v) => JSON.stringify(v) ?? String(v),
    fail,
  );

describe('checkOptionsObject', () => {
  it('returns the options, or an empty record when none were given', () => {
    expect(check({ limit: 3 })).toEqual({ limit: 3 });
    expect(check(undefined)).toEqual({});
  });

  it('says the factory was mounted without being called when it receives a request', () => {
    const req = { method: 'GET', headers: {}, url: '/' };
    expect(looksLikeRequest(req)).toBe(true);
    expect(() => check(req)).toThrow(
      expect.objectContaining({
        problem: 'not_called',
        message:
          'widget was mounted without being called. Use app.use(widget()), not app.use(widget).',
      }),
    );
  });

  it('refuses options that are not an object, quoting what it received', () => {
    expect(() => check('fast')).toThrow(
      expect.objectContaining({
        problem: 'not_an_object',
        message:
          'widget: options must be an object, received "fast". Pass an object such as widget({}).',
      }),
    );
    expect(() => check([1])).toThrow(expect.objectContaining({ problem: 'not_an_object' }));
  });

  it('suggests the closest known name for a misspelt one, or lists the known names', () => {
    expect(() => check({ limt: 1 })).toThrow(
      expect.objectContaining({
        problem: 'unknown_option',
        message: 'widget: unknown option `limt`. Did you mean `limit`?',
      }),
    );
    expect(() => check({ colour: 'red' })).toThrow(
      expect.objectContaining({
        message: 'widget: unknown option `colour`. Known options: limit, logger.',
      }),
    );
  });
});
