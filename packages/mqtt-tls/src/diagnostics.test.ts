// Warnings go to the logger when there is one, else to process.emitWarning with their code.
import { describe, expect, it } from 'vitest';
import { warn } from './diagnostics.js';
import { channels } from './index.js';

describe('warn', () => {
  it('calls logger.warn with the message, the metadata and the warning code', () => {
    const calls: unknown[][] = [];
    warn({ warn: (...args: unknown[]) => calls.push(args) }, 'BULWARK_MQTT_X', 'something', {
      clientId: 'dev-1',
      code: 'other',
    });
    expect(calls).toEqual([['something', { clientId: 'dev-1', code: 'BULWARK_MQTT_X' }]]);
  });

  it('falls back to process.emitWarning with the code', async () => {
    const warning = new Promise<Error & { code?: string }>((resolve) =>
      process.once('warning', resolve),
    );
    warn(undefined, 'BULWARK_MQTT_X', 'something');
    expect(await warning).toMatchObject({ message: 'something', code: 'BULWARK_MQTT_X' });
  });
});

describe('channels', () => {
  it('are named bulwark:mqtt:<event>', () => {
    expect(Object.values(channels).map((channel) => channel.name)).toEqual([
      'bulwark:mqtt:connect',
      'bulwark:mqtt:reconnect',
      'bulwark:mqtt:tls-error',
      'bulwark:mqtt:publish-rejected',
    ]);
  });
});
