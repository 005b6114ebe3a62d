// Warnings reach the given logger, or process warnings with their code.
import { describe, expect, it } from 'vitest';
import { warn } from './logger.js';

describe('warn', () => {
  it('calls logger.warn with the code in the metadata', () => {
    const calls: unknown[] = [];
    warn({ warn: (message, meta) => calls.push([message, meta]) }, 'CODE_X', 'something', {
      policy: 'p',
    });
    expect(calls).toEqual([['something', { code: 'CODE_X', policy: 'p' }]]);
  });

  it('falls back to process.emitWarning with the code', async () => {
    const received = new Promise<Error & { code?: string }>((resolve) =>
      process.once('warning', resolve),
    );
    warn(undefined, 'CODE_Y', 'to the process');
    const warning = await received;
    expect(warning.message).toBe('to the process');
    expect(warning.code).toBe('CODE_Y');
  });
});
