// Topic helpers: safe device identities, per-device topics, publishable-topic checks, templates and the ACL rule.
import { MqttTopicError } from './errors.js';

/** First level of every device topic; the generated ACL grants `devices/<identity>/#`. */
export const DEVICE_TOPIC_ROOT = 'devices';

const IDENTITY = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
/** True when `value` holds a C0/C1 control character (NUL included), which MQTT says topics should not. */
export function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}
// A lone UTF-16 surrogate cannot be encoded as the UTF-8 that MQTT requires.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Limits for {@link assertPublishableTopic}. */
export interface TopicLimits {
  /** Longest topic in UTF-8 bytes. Default `256`. */
  maxBytes?: number;
  /** Most levels (`a/b/c` has 3). Default `16`. */
  maxLevels?: number;
}

const DEFAULT_LIMITS: Required<TopicLimits> = { maxBytes: 256, maxLevels: 16 };

/**
 * True when `id` is safe to use as a device identity: as a certificate CN, as `%u` in a Mosquitto
 * ACL pattern, as a topic level and as a folder name. 1 to 64 characters from `A-Z a-z 0-9 . _ : -`,
 * starting with a letter or digit, so it never holds `+ # / $`, NUL, spaces or `..`.
 *
 * @example
 * isSafeIdentity('e4-fd-45-f6-54-be'); // true
 * isSafeIdentity('a/#');               // false
 */
export function isSafeIdentity(id: unknown): id is string {
  return typeof id === 'string' && IDENTITY.test(id);
}

/** Why `topic` may not be published to, or `undefined` when it may. */
export function publishableTopicProblem(
  topic: unknown,
  limits: TopicLimits = {},
): string | undefined {
  const { maxBytes, maxLevels } = { ...DEFAULT_LIMITS, ...limits };
  if (typeof topic !== 'string' || topic.length === 0) return 'empty';
  if (Buffer.byteLength(topic, 'utf8') > maxBytes) return 'too-long';
  if (LONE_SURROGATE.test(topic)) return 'malformed-unicode';
  if (hasControlCharacter(topic)) return 'control-character';
  if (topic.includes('+') || topic.includes('#')) return 'wildcard';
  if (topic.startsWith('$')) return 'system-topic';
  const levels = topic.split('/');
  if (levels.some((level) => level === '')) return 'empty-level';
  if (levels.length > maxLevels) return 'too-deep';
  return undefined;
}

const TOPIC_PROBLEMS: Record<string, string> = {
  empty: 'the topic is empty',
  'too-long': 'the topic is longer than allowed',
  'malformed-unicode': 'the topic is not well-formed Unicode',
  'control-character': 'the topic contains a control character',
  wildcard: 'the topic contains a wildcard (+ or #), which is only valid in subscriptions',
  'system-topic': 'the topic starts with $, which is reserved for the broker ($SYS)',
  'empty-level': 'the topic has an empty level (leading, trailing or double /)',
  'too-deep': 'the topic has more levels than allowed',
};

/**
 * Throws unless `topic` is a concrete topic a client may publish to: no `+` or `#`, not `$SYS` or
 * any `$` topic, no empty levels, no control characters, at most `maxBytes` bytes and `maxLevels`
 * levels. The error never quotes the topic.
 *
 * @throws {MqttTopicError} `topic_invalid`, with `reason` such as `wildcard` or `system-topic`.
 * @example
 * assertPublishableTopic(deviceTopic('dev-1', 'telemetry')); // ok
 * assertPublishableTopic('devices/+/telemetry');              // throws (wildcard)
 */
export function assertPublishableTopic(topic: string, limits: TopicLimits = {}): void {
  const problem = publishableTopicProblem(topic, limits);
  if (problem) {
    throw new MqttTopicError(
      'topic_invalid',
      problem,
      `Refused to publish: ${TOPIC_PROBLEMS[problem]}.`,
    );
  }
}

function assertLevel(level: unknown, what: string): asserts level is string {
  if (
    typeof level !== 'string' ||
    level === '' ||
    level.includes('/') ||
    level.includes('+') ||
    level.includes('#') ||
    level.startsWith('$') ||
    hasControlCharacter(level) ||
    LONE_SURROGATE.test(level)
  ) {
    throw new MqttTopicError(
      'topic_invalid',
      'invalid-level',
      `${what} must be one non-empty topic level without / + # $ or control characters.`,
    );
  }
}

/**
 * Builds `devices/<deviceId>/<levels...>`, the only topics the generated ACL lets that device use.
 *
 * @throws {MqttTopicError} `identity_invalid` when `deviceId` fails {@link isSafeIdentity};
 *   `topic_invalid` when a level is empty or holds `/ + # $`.
 * @example
 * deviceTopic('dev-1', 'telemetry', 'temperature'); // 'devices/dev-1/telemetry/temperature'
 */
export function deviceTopic(deviceId: string, ...levels: string[]): string {
  if (!isSafeIdentity(deviceId)) {
    throw new MqttTopicError(
      'identity_invalid',
      'invalid-identity',
      'deviceId must be 1-64 characters from A-Z a-z 0-9 . _ : - and start with a letter or digit.',
    );
  }
  levels.forEach((level, i) => {
    assertLevel(level, `Topic level ${i + 1}`);
  });
  return [DEVICE_TOPIC_ROOT, deviceId, ...levels].join('/');
}

/** A compiled topic template; see {@link compileTopicTemplate}. */
export interface TopicTemplate {
  readonly template: string;
  /** The placeholder names, in order. */
  readonly names: readonly string[];
  /** The captured values, or `null` when `topic` does not match (or a value is not allowed). */
  parse(topic: string): Record<string, string> | null;
}

const PLACEHOLDER = /^\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]+))?\}$/;
// Captured values follow the identity charset, so they are safe as keys, labels and folder names.
const VALUE = '[A-Za-z0-9][A-Za-z0-9._:-]{0,63}';

/**
 * Compiles a topic template once into an anchored regular expression. Levels are literals,
 * `{name}` (one level in the identity charset) or `{name:a|b|c}` (one of an allowlist).
 *
 * @throws {MqttTopicError} `topic_invalid` when the template itself is malformed.
 * @example
 * const command = compileTopicTemplate('devices/{deviceId}/{mode:sensor-mode|alarm-mode}/{channel}');
 * command.parse('devices/dev-1/alarm-mode/3'); // { deviceId: 'dev-1', mode: 'alarm-mode', channel: '3' }
 * command.parse('devices/dev-1/debug-mode/3'); // null
 */
export function compileTopicTemplate(template: string): TopicTemplate {
  if (typeof template !== 'string' || template === '') {
    throw new MqttTopicError(
      'topic_invalid',
      'invalid-template',
      'A topic template must be a non-empty string.',
    );
  }
  const names: string[] = [];
  const allowlists = new Map<string, ReadonlySet<string>>();
  const source = template.split('/').map((level, i) => {
    const placeholder = PLACEHOLDER.exec(level);
    if (!placeholder) {
      assertLevel(level, `Template level ${i + 1}`);
      return level.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
    const name = placeholder[1] as string;
    if (names.includes(name)) {
      throw new MqttTopicError(
        'topic_invalid',
        'invalid-template',
        `The template names {${name}} twice.`,
      );
    }
    names.push(name);
    if (placeholder[2] !== undefined) {
      const values = placeholder[2].split('|');
      for (const value of values) assertLevel(value, `An allowed value of {${name}}`);
      allowlists.set(name, new Set(values));
    }
    return `(?<${name}>${VALUE})`;
  });
  const pattern = new RegExp(`^${source.join('/')}$`);
  return {
    template,
    names,
    parse(topic: string): Record<string, string> | null {
      if (typeof topic !== 'string' || topic.length > 1024) return null;
      const match = pattern.exec(topic);
      if (!match?.groups) return match && names.length === 0 ? {} : null;
      const values: Record<string, string> = Object.create(null);
      for (const name of names) {
        const value = match.groups[name] as string;
        if (allowlists.get(name)?.has(value) === false) return null;
        values[name] = value;
      }
      return values;
    },
  };
}

const compiled = new Map<string, TopicTemplate>();
const MAX_CACHED_TEMPLATES = 256;

/**
 * Matches `topic` against a template (see {@link compileTopicTemplate}), compiling each template
 * string once. Returns the captured values, or `null` when the topic does not match or a value
 * is outside its allowlist. Never throws for a bad `topic`.
 *
 * @throws {MqttTopicError} `topic_invalid` when the template is malformed.
 * @example
 * parseTopic('devices/{deviceId}/{kind:telemetry|status}', 'devices/dev-1/status');
 * // { deviceId: 'dev-1', kind: 'status' }
 */
export function parseTopic(
  template: string | TopicTemplate,
  topic: string,
): Record<string, string> | null {
  if (typeof template !== 'string') return template.parse(topic);
  let parser = compiled.get(template);
  if (!parser) {
    parser = compileTopicTemplate(template);
    if (compiled.size < MAX_CACHED_TEMPLATES) compiled.set(template, parser);
  }
  return parser.parse(topic);
}

/** What a client wants to do with a topic: publish to it, or subscribe/receive from it. */
export type TopicAction = 'read' | 'write';

function isValidFilter(filter: string): boolean {
  const levels = filter.split('/');
  return levels.every(
    (level, i) =>
      (level === '#' && i === levels.length - 1) ||
      level === '+' ||
      (!level.includes('#') && !level.includes('+')),
  );
}

/**
 * The rule of the generated Mosquitto ACL (`pattern readwrite devices/%u/#`), for an embedded
 * broker or a service-side check: `identity` may write to concrete topics under
 * `devices/<identity>` and read (subscribe to) filters that stay inside it. Wildcards that
 * reach past the identity level (`devices/+/x`, `#`), `$` topics and unsafe identities are denied.
 *
 * @example
 * authorizeTopic('dev-1', 'devices/dev-1/telemetry', 'write'); // true
 * authorizeTopic('dev-1', 'devices/dev-2/telemetry', 'write'); // false
 * authorizeTopic('dev-1', 'devices/+/telemetry', 'read');      // false
 */
export function authorizeTopic(identity: string, topic: string, action: TopicAction): boolean {
  if (!isSafeIdentity(identity) || typeof topic !== 'string') return false;
  if (action === 'write') {
    if (publishableTopicProblem(topic, { maxBytes: 65_535, maxLevels: 128 })) return false;
  } else if (
    action !== 'read' ||
    topic === '' ||
    topic.startsWith('$') ||
    topic.length > 65_535 ||
    hasControlCharacter(topic) ||
    !isValidFilter(topic)
  ) {
    return false;
  }
  const levels = topic.split('/');
  if (levels[0] !== DEVICE_TOPIC_ROOT || levels[1] !== identity) return false;
  return levels.slice(2).every((level) => level !== '' || action === 'read');
}
