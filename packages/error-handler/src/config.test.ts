// Tests for the shared option checks: typo hints, value descriptions and the error class.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkOptions, describeValue, ERRORS_PAGE_URL, ErrorHandlerConfigError } from './config.js';

const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  repository: { url: string };
};

describe('configuration errors', () => {
  it('carry a stable code and point at its documentation', () => {
    const err = new ErrorHandlerConfigError('ERR_BULWARK_ERRORS_LOG_LEVEL', 'bad level.');
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('ERR_BULWARK_ERRORS_LOG_LEVEL');
    expect(err.message).toBe(
      'bad level. See https://github.com/bulwark-js/bulwark/blob/main/docs/errors/error-handler.md#err_bulwark_errors_log_level',
    );
  });

  it('link each code to an absolute URL, which an installed package can open, on the repository package.json names', () => {
    const repository = manifest.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
    expect(ERRORS_PAGE_URL).toBe(`${repository}/blob/main/docs/errors/error-handler.md`);
    expect(new ErrorHandlerConfigError('ERR_BULWARK_ERRORS_STREAM', 'x.').message).not.toMatch(
      / docs\//,
    );
  });

  it('suggest the closest known option for a typo and nothing for unrelated names', () => {
    const known = ['exposeStack', 'logger'];
    expect(() => checkOptions('f', [{ exposestack: true }], known)).toThrow(
      'f: unknown option "exposestack". Did you mean "exposeStack"? Known options: exposeStack, logger.',
    );
    expect(() => checkOptions('f', [{ loger: {} }], known)).toThrow(/Did you mean "logger"\?/);
    expect(() => checkOptions('f', [{ database: 'x' }], known)).toThrow(
      'f: unknown option "database". Known options: exposeStack, logger.',
    );
  });

  it('describe values briefly, cutting long strings', () => {
    expect(describeValue('x'.repeat(100))).toBe(`"${'x'.repeat(60)}…"`);
    expect(describeValue(null)).toBe('null');
    expect(describeValue([1, 2])).toBe('an array of 2');
    expect(describeValue(() => 1)).toBe('a function');
  });
});
