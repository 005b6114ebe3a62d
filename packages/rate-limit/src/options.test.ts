// RATE_LIMIT_ENABLED parsing and the shared option checks.
import { afterEach, describe, expect, it } from 'vitest';
import { breakerOption, enabledFromEnv, positiveInteger } from './options.js';

const original = process.env.RATE_LIMIT_ENABLED;
afterEach(() => {
  if (original === undefined) delete process.env.RATE_LIMIT_ENABLED;
  else process.env.RATE_LIMIT_ENABLED = original;
});

describe('enabledFromEnv', () => {
  it('is on unless RATE_LIMIT_ENABLED says false', () => {
    delete process.env.RATE_LIMIT_ENABLED;
    expect(enabledFromEnv()).toBe(true);
    for (const on of ['true', 'TRUE', '1', '', ' true ']) {
      process.env.RATE_LIMIT_ENABLED = on;
      expect(enabledFromEnv()).toBe(true);
    }
    for (const off of ['false', 'False', '0']) {
      process.env.RATE_LIMIT_ENABLED = off;
      expect(enabledFromEnv()).toBe(false);
    }
  });

  it('refuses a value that is neither, quoting it', () => {
    process.env.RATE_LIMIT_ENABLED = 'off-ish';
    expect(() => enabledFromEnv()).toThrow(
      'RATE_LIMIT_ENABLED="off-ish" is not valid. Use true or false (unset means true).',
    );
  });
});

describe('option checks', () => {
  it('accept whole numbers in range and refuse the rest', () => {
    expect(positiveInteger('f', 'n', 5, 'ERR_BULWARK_RATE_LIMIT_WINDOW', '5')).toBe(5);
    for (const bad of [0, -1, 1.5, Number.NaN, '5', Number.POSITIVE_INFINITY]) {
      expect(() => positiveInteger('f', 'n', bad, 'ERR_BULWARK_RATE_LIMIT_WINDOW', '5')).toThrow(
        expect.objectContaining({ code: 'ERR_BULWARK_RATE_LIMIT_WINDOW' }),
      );
    }
  });

  it('fill breaker defaults and refuse unknown breaker fields', () => {
    expect(breakerOption('f', {})).toEqual({ failures: 3, cooldownMs: 5_000 });
    expect(() => breakerOption('f', { cooldown: 1 })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RATE_LIMIT_UNKNOWN_OPTION' }),
    );
  });
});
