// Warnings reach the app's logger with their code, or process warnings when there is no logger.
import { describe, expect, it } from 'vitest';
import { warn } from './warn.js';

type EmittedWarning = Error & { code?: string; detail?: string };

function nextWarning(): Promise<EmittedWarning> {
  return new Promise((resolve) => process.once('warning', resolve));
}

describe('warn', () => {
  it('calls logger.warn with the message, the metadata and the code', () => {
    const calls: unknown[][] = [];
    warn({ warn: (...args: unknown[]) => calls.push(args) }, 'BULWARK_TEST', 'careful', {
      policy: 'login',
    });
    expect(calls).toEqual([['careful', { policy: 'login', code: 'BULWARK_TEST' }]]);
  });

  it('keeps the warning code over a code in the metadata', () => {
    const calls: unknown[][] = [];
    warn({ warn: (...args: unknown[]) => calls.push(args) }, 'BULWARK_TEST', 'careful', {
      code: 'ECONNRESET',
    });
    expect(calls).toEqual([['careful', { code: 'BULWARK_TEST' }]]);
  });

  it('emits a process warning with the code when there is no logger', async () => {
    const seen = nextWarning();
    warn(undefined, 'BULWARK_TEST', 'no logger here', { ignored: true });
    const warning = await seen;
    expect(warning).toMatchObject({ name: 'Warning', message: 'no logger here' });
    expect(warning.code).toBe('BULWARK_TEST');
    expect(warning.detail).toBeUndefined();
  });

  it('emits a process warning when the logger has no warn method', async () => {
    const seen = nextWarning();
    warn({}, 'BULWARK_TEST', 'a logger without warn');
    expect(await seen).toMatchObject({ message: 'a logger without warn', code: 'BULWARK_TEST' });
  });

  it('gives the process warning the type and detail asked for', async () => {
    const seen = nextWarning();
    warn(
      undefined,
      'BULWARK_TEST',
      'with detail',
      {},
      { type: 'BulwarkTestWarning', detail: 'at x' },
    );
    expect(await seen).toMatchObject({
      name: 'BulwarkTestWarning',
      code: 'BULWARK_TEST',
      message: 'with detail',
      detail: 'at x',
    });
  });
});
