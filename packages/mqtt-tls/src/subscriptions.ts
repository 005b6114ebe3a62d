// Remembers a client's subscriptions so they are made again after a reconnect that lost the session.
import type { IClientSubscribeOptions, ISubscriptionMap, MqttClient } from 'mqtt';

type SubscribeArgs = Parameters<MqttClient['subscribe']>;

/**
 * Wraps `client.subscribe`/`unsubscribe` to keep the active subscriptions. mqtt.js records them
 * for its own resubscribe only when it schedules reconnects itself (`reconnectPeriod > 0`);
 * `connectSecure` schedules them with backoff instead, so without this a service whose session
 * was not kept would come back connected but receive nothing.
 *
 * @returns `restore()`: call it on `connect` after a reconnect; it subscribes again when the
 *   broker did not keep the session (clean start, or `sessionPresent` false).
 */
export function trackSubscriptions(client: MqttClient): { restore(): void } {
  const active = new Map<string, IClientSubscribeOptions>();
  const rawSubscribe = client.subscribe.bind(client) as (...args: SubscribeArgs) => MqttClient;
  const rawUnsubscribe = client.unsubscribe.bind(client) as (
    ...args: Parameters<MqttClient['unsubscribe']>
  ) => MqttClient;

  (client as { subscribe: unknown }).subscribe = (...args: SubscribeArgs) => {
    const [topics, second] = args;
    const shared = typeof second === 'object' && second !== null ? second : {};
    if (typeof topics === 'string') active.set(topics, { qos: 0, ...shared });
    else if (Array.isArray(topics))
      for (const topic of topics) active.set(topic, { qos: 0, ...shared });
    else if (topics && typeof topics === 'object') {
      for (const [topic, options] of Object.entries(topics as ISubscriptionMap)) {
        if (topic !== 'resubscribe') {
          active.set(topic, { ...shared, ...(options as IClientSubscribeOptions) });
        }
      }
    }
    return rawSubscribe(...args);
  };

  (client as { unsubscribe: unknown }).unsubscribe = (
    ...args: Parameters<MqttClient['unsubscribe']>
  ) => {
    const [topics] = args;
    for (const topic of typeof topics === 'string' ? [topics] : topics) active.delete(topic);
    return rawUnsubscribe(...args);
  };

  return {
    restore() {
      const connack = (client as unknown as { connackPacket?: { sessionPresent?: boolean } })
        .connackPacket;
      if (active.size === 0 || connack?.sessionPresent) return;
      const map: ISubscriptionMap = {};
      for (const [topic, { properties: _properties, ...options }] of active) {
        map[topic] = options as ISubscriptionMap[string];
      }
      rawSubscribe(map);
    },
  };
}
