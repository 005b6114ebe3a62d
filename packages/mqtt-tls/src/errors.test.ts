// The error classes carry stable codes and names.
import { describe, expect, it } from 'vitest';
import { MqttConfigError, MqttConnectionError, MqttPublishError, MqttTopicError } from './index.js';

describe('error classes', () => {
  it('carry name, code and their details', () => {
    const cause = new Error('socket');
    const connection = new MqttConnectionError('client_certificate_revoked', 'revoked', {
      cause,
      tlsCode: 'ERR_X',
      reasonCode: 5,
    });
    expect(connection).toBeInstanceOf(Error);
    expect(connection).toMatchObject({
      name: 'MqttConnectionError',
      code: 'client_certificate_revoked',
      tlsCode: 'ERR_X',
      reasonCode: 5,
      cause,
    });
    expect(new MqttPublishError('publish_rejected', 'no', { reasonCode: 0x87 })).toMatchObject({
      name: 'MqttPublishError',
      reasonCode: 0x87,
    });
    expect(new MqttTopicError('topic_invalid', 'wildcard', 'no')).toMatchObject({
      name: 'MqttTopicError',
      reason: 'wildcard',
    });
    expect(new MqttConfigError('ERR_BULWARK_MQTT_INSECURE', 'no')).toMatchObject({
      name: 'MqttConfigError',
      code: 'ERR_BULWARK_MQTT_INSECURE',
    });
  });

  it('leave cause unset when none is given', () => {
    expect('cause' in new MqttConnectionError('connect_timeout', 'slow')).toBe(false);
  });
});
