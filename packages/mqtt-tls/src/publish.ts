// publishSafe(): a publish that settles on PUBACK and rejects on timeout, connection loss or a refusal.
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import { channels } from './diagnostics.js';
import { MqttConfigError, MqttPublishError } from './errors.js';
import { assertKnownOptions } from './options.js';
import { publishableTopicProblem, type TopicLimits } from './topics.js';

/** Options for {@link publishSafe}. */
export interface PublishSafeOptions extends TopicLimits {
  /** QoS 0 settles once written, 1 on PUBACK, 2 on PUBCOMP. Default `1`. */
  qos?: 0 | 1 | 2;
  /** Largest payload in bytes. Default `262_144` (256 KiB, the generated broker's `max_packet_size`). */
  maxPayloadBytes?: number;
  /** Reject when the broker has not acknowledged within this many ms. Default `10_000`. */
  timeoutMs?: number;
  /** Retain the message. Default `false`. */
  retain?: boolean;
  /** MQTT 5 PUBLISH properties. */
  properties?: IClientPublishOptions['properties'];
  /** Cancels the wait; the message is withdrawn if it has not been sent yet. */
  signal?: AbortSignal;
}

const KNOWN = [
  'qos',
  'maxPayloadBytes',
  'timeoutMs',
  'retain',
  'properties',
  'signal',
  'maxBytes',
  'maxLevels',
];
const ALIASES = {
  maxSize: 'maxPayloadBytes',
  timeout: 'timeoutMs',
  payloadMaxBytes: 'maxPayloadBytes',
};

const REASONS: Record<number, string> = {
  16: 'no matching subscribers',
  128: 'unspecified error',
  131: 'implementation specific error',
  135: 'not authorized',
  144: 'topic name invalid',
  145: 'packet identifier in use',
  151: 'quota exceeded',
  153: 'payload format invalid',
};

function refuse(
  client: MqttClient,
  error: MqttPublishError,
  topic: string | undefined,
): Promise<never> {
  channels.publishRejected.publish({
    clientId: client.options.clientId,
    code: error.code,
    reasonCode: error.reasonCode,
    ...(topic ? { topic } : {}),
  });
  return Promise.reject(error);
}

/**
 * Publishes one message and settles when the broker has acknowledged it (PUBACK for QoS 1).
 * Rejects, instead of waiting forever, when the client is not connected, when the connection
 * drops before the acknowledgement, after `timeoutMs`, or when an MQTT 5 broker refuses the
 * message with a reason code (for example 0x87, not authorized). A message that was not
 * acknowledged is withdrawn from the client's queue, so it is not sent later behind your back;
 * with QoS 1 it may still have reached the broker, so a retry can deliver it twice.
 *
 * Defaults: `qos: 1`, `maxPayloadBytes: 262_144`, `timeoutMs: 10_000`, `retain: false`,
 * topic limits `maxBytes: 256`, `maxLevels: 16`.
 *
 * @throws {MqttConfigError} synchronously for bad options (`ERR_BULWARK_MQTT_PUBLISH_OPTIONS`).
 * @returns a promise rejected with a {@link MqttPublishError}: `topic_invalid`, `payload_too_large`,
 *   `not_connected`, `connection_lost`, `publish_timeout` or `publish_rejected`.
 * @example
 * await publishSafe(client, deviceTopic('dev-1', 'telemetry'), JSON.stringify(reading), { timeoutMs: 5000 });
 */
export function publishSafe(
  client: MqttClient,
  topic: string,
  payload: string | Buffer | Uint8Array,
  options: PublishSafeOptions = {},
): Promise<void> {
  assertKnownOptions('publishSafe', options, KNOWN, ALIASES);
  const {
    qos = 1,
    maxPayloadBytes = 262_144,
    timeoutMs = 10_000,
    retain = false,
    properties,
    signal,
  } = options;
  if (qos !== 0 && qos !== 1 && qos !== 2) {
    throw new MqttConfigError(
      'ERR_BULWARK_MQTT_PUBLISH_OPTIONS',
      `qos: ${JSON.stringify(qos)} must be 0, 1 or 2.`,
    );
  }
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new MqttConfigError(
      'ERR_BULWARK_MQTT_PUBLISH_OPTIONS',
      `timeoutMs: ${JSON.stringify(timeoutMs)} must be a positive number of milliseconds, such as 10_000.`,
    );
  }
  if (!(Number.isInteger(maxPayloadBytes) && maxPayloadBytes > 0)) {
    throw new MqttConfigError(
      'ERR_BULWARK_MQTT_PUBLISH_OPTIONS',
      `maxPayloadBytes: ${JSON.stringify(maxPayloadBytes)} must be a positive whole number of bytes, such as 262_144.`,
    );
  }
  const limits: TopicLimits = {};
  if (options.maxBytes !== undefined) limits.maxBytes = options.maxBytes;
  if (options.maxLevels !== undefined) limits.maxLevels = options.maxLevels;
  const problem = publishableTopicProblem(topic, limits);
  if (problem) {
    return refuse(
      client,
      new MqttPublishError(
        'topic_invalid',
        `Refused to publish: the topic is not publishable (${problem}).`,
      ),
      undefined,
    );
  }
  const body =
    typeof payload === 'string'
      ? Buffer.from(payload)
      : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (body.byteLength > maxPayloadBytes) {
    return refuse(
      client,
      new MqttPublishError(
        'payload_too_large',
        `Refused to publish: the payload is ${body.byteLength} bytes, more than maxPayloadBytes (${maxPayloadBytes}).`,
      ),
      topic,
    );
  }
  if (!client.connected) {
    return refuse(
      client,
      new MqttPublishError(
        'not_connected',
        'Refused to publish: the client is not connected to the broker.',
      ),
      topic,
    );
  }
  if (signal?.aborted) return Promise.reject(signal.reason);

  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const callback = (err?: Error): void => {
      if (settled) return;
      if (!err) {
        finish();
        resolve();
        return;
      }
      const { code } = err as { code?: unknown };
      const reasonCode = typeof code === 'number' ? code : undefined;
      if (reasonCode !== undefined) {
        fail(
          new MqttPublishError(
            'publish_rejected',
            `The broker refused the message (reason code 0x${reasonCode.toString(16)}: ${REASONS[reasonCode] ?? 'refused'}).`,
            { reasonCode, cause: err },
          ),
        );
      } else {
        fail(
          new MqttPublishError(
            'connection_lost',
            'The connection was lost before the broker acknowledged the message.',
            { cause: err },
          ),
        );
      }
    };
    const withdraw = (): void => {
      // Find our message by its callback: mqtt.js allocates the id inside publish().
      for (const [id, entry] of Object.entries(client.outgoing)) {
        if (entry.cb === callback) client.removeOutgoingMessage(Number(id));
      }
    };
    const finish = (): void => {
      settled = true;
      if (timer) clearTimeout(timer);
      client.removeListener('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: MqttPublishError): void => {
      finish();
      withdraw();
      refuse(client, error, topic).catch(reject);
    };
    const onClose = (): void => {
      fail(
        new MqttPublishError(
          'connection_lost',
          'The connection was lost before the broker acknowledged the message.',
        ),
      );
    };
    const onAbort = (): void => {
      finish();
      withdraw();
      reject(signal?.reason);
    };
    timer = setTimeout(() => {
      fail(
        new MqttPublishError(
          'publish_timeout',
          `The broker did not acknowledge the message within ${timeoutMs} ms.`,
        ),
      );
    }, timeoutMs);
    client.on('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
    const publishOptions: IClientPublishOptions = { qos, retain };
    if (properties) publishOptions.properties = properties;
    client.publish(topic, body, publishOptions, callback);
  });
}
