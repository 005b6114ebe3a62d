// Whether a connection's peer is a proxy Express's `trust proxy` trusts, asked once per socket.

/** A trust function as Express compiles `trust proxy`: the address and its position (0: the peer). */
export type TrustFunction = (address: string, hop: number) => unknown;

/**
 * What is known about one connection's peer. Everything here comes from the socket's address and
 * the app's trust function, never from a header, so a client cannot write a wrong answer into it.
 */
export interface PeerEntry {
  /** `socket.remoteAddress` when the entry was made. */
  address: string;
  /** The compiled trust function `trusted` was answered by; `undefined` before it was asked. */
  trust: TrustFunction | undefined;
  /** Whether `trust` trusts `address` as the first hop. */
  trusted: boolean;
}

/** The parts of an Express app read here. */
export interface TrustSettings {
  get(setting: string): unknown;
}

/**
 * Whether an app's `trust proxy fn` is compiled by Express (from an address list, a hop count or
 * a boolean, answering by the address alone) rather than a function of the app's own, which may
 * answer differently from one request to the next and is asked every time.
 */
export function compiledTrust(app: TrustSettings): boolean {
  return typeof app.get('trust proxy') !== 'function';
}

/**
 * A cache of one entry per connection, made by `make` (which may add fields of the caller's own):
 * a keep-alive connection reuses its entry for every request it carries, and the entry goes with
 * the socket. Bounded by the number of open sockets.
 */
export function createPeerCache<E extends PeerEntry>(make: (address: string) => E) {
  const peers = new WeakMap<object, E>();

  /** The entry for `socket`, made afresh when the socket reports another address. */
  const peerOf = (socket: object, address: string): E => {
    let peer = peers.get(socket);
    if (peer === undefined || peer.address !== address) {
      peer = make(address);
      peers.set(socket, peer);
    }
    return peer;
  };

  /**
   * Whether `trust` trusts the peer `address` as the first hop, or `undefined` when it throws.
   * With `pure` (see {@link compiledTrust}) the answer is remembered for the socket until the
   * app's trust function or the socket's address changes.
   */
  const askTrust = (
    socket: object | undefined,
    address: string,
    trust: TrustFunction,
    pure: boolean,
  ): boolean | undefined => {
    const peer = pure && socket !== undefined ? peerOf(socket, address) : undefined;
    if (peer !== undefined && peer.trust === trust) return peer.trusted;
    let trusted: boolean;
    try {
      trusted = Boolean(trust(address, 0));
    } catch {
      return undefined;
    }
    if (peer !== undefined) {
      peer.trust = trust;
      peer.trusted = trusted;
    }
    return trusted;
  };

  return { peerOf, askTrust };
}
