// The topic helpers: identities, device topics, publishable topics, templates and the ACL rule.
import { describe, expect, it } from 'vitest';
import {
  assertPublishableTopic,
  authorizeTopic,
  compileTopicTemplate,
  deviceTopic,
  isSafeIdentity,
  MqttTopicError,
  parseTopic,
} from './index.js';

describe('isSafeIdentity', () => {
  it('accepts device ids such as MAC addresses and serial numbers', () => {
    for (const id of ['dev-1', 'e4-fd-45-f6-54-be', 'e4:fd:45:f6:54:be', 'F2_001234', 'a.b']) {
      expect(isSafeIdentity(id)).toBe(true);
    }
  });

  it('rejects identities that would widen an ACL pattern or escape a folder', () => {
    for (const id of [
      '',
      'a/b',
      '+',
      '#',
      'a+b',
      '$SYS',
      'a\u0000',
      '..',
      '.hidden',
      'a b',
      'x'.repeat(65),
      42,
      null,
    ]) {
      expect(isSafeIdentity(id)).toBe(false);
    }
  });
});

describe('deviceTopic', () => {
  it('builds devices/<id>/<levels>', () => {
    expect(deviceTopic('dev-1', 'telemetry', 'temperature')).toBe(
      'devices/dev-1/telemetry/temperature',
    );
  });

  it('refuses an unsafe id or a level with / + # or $', () => {
    expect(() => deviceTopic('a/b', 'x')).toThrow(
      expect.objectContaining({ code: 'identity_invalid' }),
    );
    for (const level of ['a/b', '+', '#', '$x', '']) {
      expect(() => deviceTopic('dev-1', level)).toThrow(MqttTopicError);
    }
  });
});

describe('assertPublishableTopic', () => {
  it('accepts a concrete topic', () => {
    expect(() => assertPublishableTopic('devices/dev-1/telemetry')).not.toThrow();
  });

  it.each([
    ['devices/+/telemetry', 'wildcard'],
    ['devices/dev-1/#', 'wildcard'],
    ['$SYS/broker/uptime', 'system-topic'],
    ['$share/g/devices/x', 'system-topic'],
    ['/devices/dev-1', 'empty-level'],
    ['devices//x', 'empty-level'],
    ['devices/x/', 'empty-level'],
    ['', 'empty'],
    ['devices/\u0000', 'control-character'],
    ['devices/\ud800', 'malformed-unicode'],
    [`devices/${'x'.repeat(300)}`, 'too-long'],
    [Array.from({ length: 17 }, () => 'a').join('/'), 'too-deep'],
  ])('refuses %j (%s) without quoting it', (topic, reason) => {
    let error: unknown;
    try {
      assertPublishableTopic(topic);
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'topic_invalid', reason });
    if (topic.length > 3) expect((error as Error).message).not.toContain(topic);
  });

  it('honours custom limits', () => {
    expect(() => assertPublishableTopic('a/b/c', { maxLevels: 2 })).toThrow(MqttTopicError);
    expect(() => assertPublishableTopic('abcdef', { maxBytes: 5 })).toThrow(MqttTopicError);
  });
});

describe('parseTopic', () => {
  const template = 'devices/{deviceId}/{mode:sensor-mode|access-control-mode|alarm-mode}/{channel}';

  it('returns the values of a matching topic', () => {
    expect(parseTopic(template, 'devices/e4-fd-45-f6-54-be/alarm-mode/3')).toEqual({
      deviceId: 'e4-fd-45-f6-54-be',
      mode: 'alarm-mode',
      channel: '3',
    });
  });

  it('returns null for a value outside the allowlist, a wrong shape or unsafe characters', () => {
    expect(parseTopic(template, 'devices/dev-1/debug-mode/3')).toBeNull();
    expect(parseTopic(template, 'devices/dev-1/alarm-mode')).toBeNull();
    expect(parseTopic(template, 'devices/dev-1/alarm-mode/3/extra')).toBeNull();
    expect(parseTopic(template, 'devices/de v/alarm-mode/3')).toBeNull();
    expect(parseTopic(template, "devices/x';DROP/alarm-mode/3")).toBeNull();
    expect(parseTopic(template, 'x'.repeat(5000))).toBeNull();
  });

  it('compiles a template once and reuses it', () => {
    const compiled = compileTopicTemplate('devices/{deviceId}/status');
    expect(compiled.names).toEqual(['deviceId']);
    expect(parseTopic(compiled, 'devices/dev-2/status')).toEqual({ deviceId: 'dev-2' });
    expect(compiled.parse('devices/dev-2/other')).toBeNull();
  });

  it('treats regular expression characters in literal levels literally', () => {
    expect(parseTopic('a.b/{x}', 'aXb/1')).toBeNull();
    expect(parseTopic('a.b/{x}', 'a.b/1')).toEqual({ x: '1' });
  });

  it('refuses malformed templates', () => {
    expect(() => compileTopicTemplate('devices/{id}/{id}')).toThrow(MqttTopicError);
    expect(() => compileTopicTemplate('devices/+/{id}')).toThrow(MqttTopicError);
    expect(() => compileTopicTemplate('')).toThrow(MqttTopicError);
  });
});

describe('authorizeTopic', () => {
  it('lets a device write and read under its own topic', () => {
    expect(authorizeTopic('dev-1', 'devices/dev-1/telemetry', 'write')).toBe(true);
    expect(authorizeTopic('dev-1', 'devices/dev-1', 'write')).toBe(true);
    expect(authorizeTopic('dev-1', 'devices/dev-1/#', 'read')).toBe(true);
    expect(authorizeTopic('dev-1', 'devices/dev-1/+/status', 'read')).toBe(true);
  });

  it("denies another device's topics, wildcards past the identity, $ topics and bad identities", () => {
    expect(authorizeTopic('dev-1', 'devices/dev-2/telemetry', 'write')).toBe(false);
    expect(authorizeTopic('dev-1', 'devices/dev-10/telemetry', 'write')).toBe(false);
    expect(authorizeTopic('dev-1', 'devices/dev-1/#', 'write')).toBe(false);
    expect(authorizeTopic('dev-1', 'devices/+/telemetry', 'read')).toBe(false);
    expect(authorizeTopic('dev-1', '#', 'read')).toBe(false);
    expect(authorizeTopic('dev-1', 'devices/#', 'read')).toBe(false);
    expect(authorizeTopic('dev-1', '$SYS/#', 'read')).toBe(false);
    expect(authorizeTopic('dev-1', 'devices/dev-1/a#', 'read')).toBe(false);
    expect(authorizeTopic('a/b', 'devices/a/b/x', 'write')).toBe(false);
    expect(authorizeTopic('+', 'devices/+/x', 'read')).toBe(false);
    expect(authorizeTopic('dev-1', 'devices/dev-1/x', 'delete' as 'read')).toBe(false);
  });
});
