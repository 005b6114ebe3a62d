// Handlers for an embedded aedes broker behind `tls.createServer({ requestCert: true })` that apply the
// same identity and topic rule as the generated Mosquitto config.
import type { TLSSocket } from 'node:tls';
import { authorizeTopic, isSafeIdentity, publishableTopicProblem } from './topics.js';

/** The parts of an aedes client these handlers read. */
export interface AedesClientLike {
  id: string;
  /** The TLS socket for MQTT over TLS. */
  conn: unknown;
  /** The HTTP upgrade request for MQTT over WebSocket; its `socket` is the TLS socket. */
  req?: unknown;
}

type AuthError = Error & { returnCode: number };

/** The handler set to assign onto an aedes instance (or pass to `new Aedes({...})`). */
export interface AedesAuthorizer {
  authenticate(
    client: AedesClientLike,
    username: string | undefined,
    password: Buffer | undefined,
    callback: (error: AuthError | null, success: boolean | null) => void,
  ): void;
  authorizePublish(
    client: AedesClientLike | null,
    packet: { topic: string },
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

function peerIdentity(conn: unknown): string | undefined {
  const socket = conn as Partial<TLSSocket> | undefined;
  if (socket?.authorized !== true || typeof socket.getPeerCertificate !== 'function')
    return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  // Several CN attributes arrive as an array: ambiguous, so not an identity.
  return typeof cn === 'string' && isSafeIdentity(cn) ? cn : undefined;
}

/**
 * Builds `authenticate`, `authorizePublish` and `authorizeSubscribe` for aedes. A client is
 * accepted only over a TLS connection whose certificate the server verified (`requestCert: true`,
 * `rejectUnauthorized: true`); its identity is the certificate CN, which must be a safe identity
 * and equal the MQTT client id (and the user name, if one is sent). It may then publish only to
 * concrete topics under `devices/<identity>/` and subscribe only to filters inside it:
 * {@link authorizeTopic}, the rule of the generated Mosquitto ACL. `$SYS` and wildcard
 * publishes are refused.
 *
 * @example
 * const broker = await Aedes.createBroker();
 * Object.assign(broker, aedesAuthorizer());
 * tls.createServer({ key, cert, ca, requestCert: true, rejectUnauthorized: true }, broker.handle).listen(8883);
 */
export function aedesAuthorizer(): AedesAuthorizer {
  const identities = new WeakMap<object, string>();
  return {
    authenticate(client, username, _password, callback) {
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
      identities.set(client, identity);
      callback(null, true);
    },
    authorizePublish(client, packet, callback) {
      // aedes passes null for a stored will of a client that is gone; it was authorized when set.
      if (client === null) {
        callback(
          publishableTopicProblem(packet.topic, { maxBytes: 65_535, maxLevels: 128 })
            ? new Error('Publish not authorized.')
            : null,
        );
        return;
      }
      const identity = identities.get(client);
      if (!identity || !authorizeTopic(identity, packet.topic, 'write')) {
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
}
