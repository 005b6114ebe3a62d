// Handlers for an embedded aedes broker behind `tls.createServer({ requestCert: true })` that apply the
// same identity and topic rule as the generated Mosquitto config.
import type { TLSSocket } from 'node:tls';
import { MqttConfigError } from './errors.js';
import { assertKnownOptions } from './options.js';
import { authorizeTopic, isSafeIdentity } from './topics.js';

/** Options for {@link aedesAuthorizer}. */
export interface AedesAuthorizerOptions {
  /**
   * Let devices publish retained messages (and wills). Default `false`, as in the generated
   * Mosquitto config (`retain_available false`): a retained reading is replayed to every new
   * subscriber, so a service that subscribes again would take it for a new one.
   */
  allowRetained?: boolean;
}

/** The parts of an aedes client these handlers read. */
export interface AedesClientLike {
  id: string;
  /** The TLS socket for MQTT over TLS. */
  conn: unknown;
  /** The HTTP upgrade request for MQTT over WebSocket; its `socket` is the TLS socket. */
  req?: unknown;
}

type AuthError = Error & { returnCode: number };

/** The part of a CONNECT packet's will these handlers read. */
type Will = { topic: string; retain?: boolean };

/** The handler set to assign onto an aedes instance (or pass to `new Aedes({...})`). */
export interface AedesAuthorizer {
  /** Notes the will of the CONNECT packet, which `authenticate` then checks. */
  preConnect(
    client: AedesClientLike,
    packet: { will?: Will | null },
    callback: (error: Error | null, success: boolean) => void,
  ): void;
  authenticate(
    client: AedesClientLike,
    username: string | undefined,
    password: Buffer | undefined,
    callback: (error: AuthError | null, success: boolean | null) => void,
  ): void;
  authorizePublish(
    client: AedesClientLike | null,
    packet: { topic: string; clientId?: string; retain?: boolean },
    callback: (error?: Error | null) => void,
  ): void;
  authorizeSubscribe<S extends { topic: string }>(
    client: AedesClientLike,
    subscription: S,
    callback: (error: Error | null, subscription?: S | null) => void,
  ): void;
  /** The identity bound to a connected client, or `undefined`. */
  identityOf(client: AedesClientLike): string | undefined;
}

function refused(returnCode: number, message: string): AuthError {
  return Object.assign(new Error(message), { returnCode });
}

/** The parts of the aedes instance (the `this` of its hooks) these handlers use. */
interface AedesBrokerLike {
  authorizePublish?: AedesAuthorizer['authorizePublish'];
  persistence?: { delWill?: (client: { id: string; brokerId?: unknown }) => Promise<unknown> };
}

function brokerOf(self: unknown): AedesBrokerLike | undefined {
  return typeof self === 'object' && self !== null ? (self as AedesBrokerLike) : undefined;
}

function peerIdentity(conn: unknown): string | undefined {
  const socket = conn as Partial<TLSSocket> | undefined;
  if (socket?.authorized !== true || typeof socket.getPeerCertificate !== 'function')
    return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  // Several CN attributes arrive as an array: ambiguous, so not an identity.
  return typeof cn === 'string' && isSafeIdentity(cn) ? cn : undefined;
}

/**
 * Builds `preConnect`, `authenticate`, `authorizePublish` and `authorizeSubscribe` for aedes. A
 * client is accepted only over a TLS connection whose certificate the server verified
 * (`requestCert: true`, `rejectUnauthorized: true`); its identity is the certificate CN, which must
 * be a safe identity and equal the MQTT client id (and the user name, if one is sent). It may then
 * publish only to concrete topics under `devices/<identity>/` and subscribe only to filters inside
 * it: {@link authorizeTopic}, the rule of the generated Mosquitto ACL. `$SYS` and wildcard
 * publishes are refused.
 *
 * A will is checked when the client connects, with the broker's `authorizePublish` for the
 * client's identity: a will the client could not publish itself is refused with CONNACK 5 (not
 * authorized). A stored will that aedes publishes without its client (`client === null`, after
 * the broker that held the connection died or restarted) is allowed only when its owner, the will's
 * `clientId`, may write the topic; a refused one is deleted from the persistence.
 *
 * A publish or will with the retain flag is refused unless `allowRetained` (default `false`), so
 * no message is stored to be replayed to later subscribers.
 *
 * @throws {MqttConfigError} `ERR_BULWARK_MQTT_RETAIN` when `allowRetained` is not a boolean,
 *   `ERR_BULWARK_MQTT_UNKNOWN_OPTION` for an unknown option.
 * @example
 * const broker = await Aedes.createBroker();
 * Object.assign(broker, aedesAuthorizer());
 * tls.createServer({ key, cert, ca, requestCert: true, rejectUnauthorized: true }, broker.handle).listen(8883);
 */
export function aedesAuthorizer(options: AedesAuthorizerOptions = {}): AedesAuthorizer {
  assertKnownOptions('aedesAuthorizer', options, ['allowRetained']);
  const allowRetained = options.allowRetained ?? false;
  if (typeof allowRetained !== 'boolean') {
    throw new MqttConfigError(
      'ERR_BULWARK_MQTT_RETAIN',
      `aedesAuthorizer: allowRetained ${JSON.stringify(allowRetained)} must be true or false. Leave it out to refuse retained messages.`,
    );
  }
  const retainRefused = (packet: { retain?: boolean }) => packet.retain === true && !allowRetained;
  const identities = new WeakMap<object, string>();
  const wills = new WeakMap<object, Will | null>();
  const handlers: AedesAuthorizer = {
    preConnect(client, packet, callback) {
      wills.set(client, packet?.will ?? null);
      callback(null, true);
    },
    authenticate(this: unknown, client, username, _password, callback) {
      // MQTT over TLS hands aedes the TLS socket; MQTT over WebSocket a stream plus the upgrade request.
      const identity =
        peerIdentity(client.conn) ??
        peerIdentity((client.req as { socket?: unknown } | undefined)?.socket);
      if (!identity) {
        callback(refused(5, 'A verified client certificate with a safe CN is required.'), null);
        return;
      }
      if (client.id !== identity) {
        callback(refused(2, 'The client id must equal the certificate CN.'), null);
        return;
      }
      if (username !== undefined && username !== '' && username !== identity) {
        callback(refused(4, 'The user name must equal the certificate CN.'), null);
        return;
      }
      // aedes never authorizes a will at CONNECT, and may publish it later on another broker with
      // no client to check: so it is checked here. Without our preConnect installed, aedes has
      // already copied the will onto the client (`_will`) before it calls authenticate.
      const will = wills.has(client)
        ? wills.get(client)
        : (client as { _will?: Will | null })._will;
      wills.delete(client);
      identities.set(client, identity);
      if (!will) {
        callback(null, true);
        return;
      }
      // The broker's own authorizePublish, so rights an application adds around ours apply too.
      const authorizePublish = brokerOf(this)?.authorizePublish ?? handlers.authorizePublish;
      authorizePublish.call(this, client, will, (error) => {
        if (error) {
          identities.delete(client);
          callback(
            refused(
              5,
              retainRefused(will)
                ? 'The will is retained, and this broker keeps no retained messages.'
                : 'The will topic is outside the topics this client may publish to.',
            ),
            null,
          );
          return;
        }
        callback(null, true);
      });
    },
    authorizePublish(this: unknown, client, packet, callback) {
      if (client === null) {
        // A stored will whose client is gone (aedes sets the will's clientId when it stores it,
        // and authenticate made the client id the identity): only its owner's topics.
        const owner = packet.clientId;
        if (
          typeof owner === 'string' &&
          authorizeTopic(owner, packet.topic, 'write') &&
          !retainRefused(packet)
        ) {
          callback(null);
          return;
        }
        // Deleted first, or aedes would offer it again every few heartbeats, and again after a
        // restart. aedes then reports the refusal as an `error` event on the broker.
        const refusal = new Error(
          `Stored will of ${JSON.stringify(owner)} not published: ${retainRefused(packet) ? 'it is retained' : "its topic is outside that client's topics"}.`,
        );
        const persistence = brokerOf(this)?.persistence;
        if (typeof owner !== 'string' || typeof persistence?.delWill !== 'function') {
          callback(refusal);
          return;
        }
        const brokerId = (packet as { brokerId?: unknown }).brokerId;
        Promise.resolve()
          .then(() => persistence.delWill?.({ id: owner, brokerId }))
          .catch(() => {})
          .then(() => callback(refusal));
        return;
      }
      const identity = identities.get(client);
      if (!identity || !authorizeTopic(identity, packet.topic, 'write') || retainRefused(packet)) {
        callback(new Error('Publish not authorized.'));
        return;
      }
      callback(null);
    },
    authorizeSubscribe(client, subscription, callback) {
      const identity = identities.get(client);
      callback(
        null,
        identity && authorizeTopic(identity, subscription.topic, 'read') ? subscription : null,
      );
    },
    identityOf(client) {
      return identities.get(client);
    },
  };
  return handlers;
}
