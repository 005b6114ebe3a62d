// Warnings go to the logger when there is one, otherwise to process.emitWarning with their code.
import { describe, expect, it } from 'vitest';
import { warn } from './diagnostics.js';

describe('warn', () => {
  it('sends the message and code to logger.warn', () => {
    const calls: unknown[][] = [];
    warn({ warn: (...args) => calls.push(args) }, 'BULWARK_DB_TEST', 'something happened', {
      heldMs: 5,
    });
    expect(calls).toEqual([['something happened', { code: 'BULWARK_DB_TEST', heldMs: 5 }]]);
  });

  it('uses process.emitWarning with the code when there is no logger', async () => {
    const seen = new Promise<Error & { code?: string; detail?: string }>((resolve) => {
      process.once('warning', resolve);
    });
    warn(undefined, 'BULWARK_DB_TEST', 'no logger here', {}, 'more detail');
    const warning = await seen;
    expect(warning).toMatchObject({
      name: 'BulwarkDbWarning',
      code: 'BULWARK_DB_TEST',
      message: 'no logger here',
      detail: 'more detail',
    });
  });
});
