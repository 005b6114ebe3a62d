// The client address Express's `req.ip` names, read without proxy-addr's parsing on every request.
import {
  compiledTrust,
  createPeerCache,
  type PeerEntry,
  type TrustFunction,
} from './peer-trust.js';

/** The parts of a request read here. */
export interface PeerRequest {
  headers: Record<string, string | string[] | undefined>;
  socket?: { remoteAddress?: string | undefined } | undefined;
  app?: { get(setting: string): unknown } | undefined;
}

const lookupGetter = (
  Object.prototype as unknown as { __lookupGetter__(this: object, key: string): unknown }
).__lookupGetter__;

/**
 * Express's `req.ip` getter (Express 4 and 5 alike), without whitespace. A getter with other
 * source, such as one an app defines on `app.request` or on the request, is read as it is.
 */
const EXPRESS_IP_SOURCE =
  "functionip(){vartrust=this.app.get('trustproxyfn');returnproxyaddr(this,trust);}";

// The verdict for each getter function seen, and the last one, which nearly every request has.
const getterVerdicts = new WeakMap<object, boolean>();
let lastGetter: unknown;
let lastVerdict = false;

/** Whether `getter` is Express's own `req.ip` getter. */
function isExpressIpGetter(getter: unknown): boolean {
  if (getter === lastGetter) return lastVerdict;
  if (typeof getter !== 'function') return false;
  let verdict = getterVerdicts.get(getter);
  if (verdict === undefined) {
    verdict =
      getter.name === 'ip' &&
      Function.prototype.toString.call(getter).replace(/\s+/g, '') === EXPRESS_IP_SOURCE;
    getterVerdicts.set(getter, verdict);
  }
  lastGetter = getter;
  lastVerdict = verdict;
  return verdict;
}

/**
 * Whether reading `req.ip` runs Express's getter: no getter of the app's or the request's own
 * (nor a plain value) stands in front of it. Looked up on every request, since a request or a
 * prototype can be given one at any time.
 */
export function readsExpressIp(req: object): boolean {
  return isExpressIpGetter(lookupGetter.call(req, 'ip'));
}

export function socketOf(req: PeerRequest): object | undefined {
  const socket = req.socket;
  return typeof socket === 'object' && socket !== null ? socket : undefined;
}

/**
 * The address Express's `req.ip` names when the peer is a trusted proxy: X-Forwarded-For read
 * from its last entry back, as proxy-addr reads it, to the first address `trust` does not trust,
 * or to the header's first entry. Entries are split at commas, spaces around them dropped and
 * empty ones skipped. `trust` is asked about each address but the peer (hop 0, already known to
 * be trusted) with the same arguments as proxy-addr asks it, and only as far as proxy-addr goes.
 */
function forwardedClient(peer: string, header: string, trust: TrustFunction): string {
  let current = peer;
  let hop = 0;
  let at = header.length;
  for (;;) {
    // The entry before `at`: back over spaces and commas to its last character, then to the
    // comma before it, and forward over the spaces that start it.
    let end = at;
    let code = header.charCodeAt(end - 1);
    while (end > 0 && (code === 0x20 || code === 0x2c)) code = header.charCodeAt(--end - 1);
    if (end === 0) return current;
    let start = end - 1;
    while (start > 0 && header.charCodeAt(start - 1) !== 0x2c) start--;
    while (header.charCodeAt(start) === 0x20) start++;
    // proxy-addr asks about an address only when another one lies beyond it.
    if (hop > 0 && !trust(current, hop)) return current;
    current = header.slice(start, end);
    hop++;
    at = start;
  }
}

/**
 * A reader of request clients with its own per-connection cache of entries made by `make` (see
 * `createPeerCache`), and the cache's `askTrust` for the caller's own questions about a peer.
 */
export function createClientReader<E extends PeerEntry>(make: (address: string) => E) {
  const { peerOf, askTrust } = createPeerCache<E>(make);

  /**
   * The client of a request as Express's `req.ip` names it, read without proxy-addr's parsing and
   * its arrays: the socket's entry when the client is the socket's peer, the address taken from
   * X-Forwarded-For behind a trusted peer, or `undefined` where `req.ip` must be read (a getter of
   * the app's own, a trust function of the app's own with the header present, no socket address,
   * a trust function that throws).
   *
   * Express reads X-Forwarded-For only past a trusted peer: without the header, or from a peer
   * `trust proxy` does not trust, `req.ip` is `req.socket.remoteAddress`. Whether the peer is
   * trusted is remembered per socket; the header, which the client writes, is read afresh on every
   * request and never remembered.
   */
  const clientOf = (req: PeerRequest): E | string | undefined => {
    const socket = socketOf(req);
    if (socket === undefined) return undefined;
    const address = (socket as { remoteAddress?: unknown }).remoteAddress;
    if (typeof address !== 'string' || address === '') return undefined;
    if (!readsExpressIp(req)) return undefined;
    const app = req.app;
    if (typeof app?.get !== 'function') return undefined;
    // Express throws without a trust function; req.ip then throws as it always has.
    const trust = app.get('trust proxy fn');
    if (typeof trust !== 'function') return undefined;
    const forwarded = req.headers['x-forwarded-for'];
    // proxy-addr reads the header as `value || ''`: without one the peer is the client.
    if (!forwarded) return peerOf(socket, address);
    if (typeof forwarded !== 'string' || !compiledTrust(app)) return undefined;
    const trusted = askTrust(socket, address, trust as TrustFunction, true);
    if (trusted === undefined) return undefined;
    if (!trusted) return peerOf(socket, address);
    try {
      return forwardedClient(address, forwarded, trust as TrustFunction);
    } catch {
      // A trust function that throws on an entry: req.ip throws as it always has.
      return undefined;
    }
  };

  return { clientOf, askTrust };
}

const plainPeer = (address: string): PeerEntry => ({ address, trust: undefined, trusted: false });

/**
 * `req.ip` as Express names it: from the connection's entry while the peer is the client, from
 * X-Forwarded-For behind a trusted peer, and `req.ip` itself where the short way does not apply.
 */
export function createClientIp(): (
  req: PeerRequest & { ip?: string | undefined },
) => string | undefined {
  const { clientOf } = createClientReader(plainPeer);
  return (req) => {
    const client = clientOf(req);
    if (client === undefined) return req.ip;
    return typeof client === 'string' ? client : client.address;
  };
}
