// The client address a request is counted under, without parsing X-Forwarded-For on every request.
import { createClientReader, type PeerRequest, socketOf } from '../../../internal/client-ip.js';
import { compiledTrust, type PeerEntry, type TrustFunction } from '../../../internal/peer-trust.js';
import { ipKey } from './ip.js';

export type { PeerRequest } from '../../../internal/client-ip.js';
export { readsExpressIp } from '../../../internal/client-ip.js';
export type { TrustFunction } from '../../../internal/peer-trust.js';

/** What is known about one connection's peer, with the address key made for it. */
interface Peer extends PeerEntry {
  /** The `ipv6Subnet` `key` was made for; `-1` before the first key. */
  subnet: number;
  /** `ip:<address or subnet>` for `address` grouped by `subnet`. */
  key: string;
}

const { clientOf, askTrust } = createClientReader<Peer>((address) => ({
  address,
  trust: undefined,
  trusted: false,
  subnet: -1,
  key: '',
}));

/**
 * Whether `trust` trusts the request's peer `address` as the first hop, as Express asks it;
 * `undefined` when `trust` throws. The answer of the app's compiled trust function is remembered
 * per socket.
 */
export function trustsPeer(
  req: PeerRequest,
  address: string,
  trust: TrustFunction,
): boolean | undefined {
  const app = req.app;
  const pure =
    typeof app?.get === 'function' && app.get('trust proxy fn') === trust && compiledTrust(app);
  return askTrust(socketOf(req), address, trust, pure);
}

/**
 * The address key of a request, `ip:<address or subnet>`: the key of `req.ip` (or of the socket's
 * address when there is none). When the client is the socket's peer, the key is made once per
 * connection and subnet length.
 */
export function addressKey(
  req: PeerRequest & { ip?: string | undefined },
  ipv6Subnet: number,
): string {
  const client = clientOf(req);
  if (client === undefined) {
    return `ip:${ipKey(req.ip ?? req.socket?.remoteAddress, ipv6Subnet) ?? 'unknown'}`;
  }
  if (typeof client === 'string') return `ip:${ipKey(client, ipv6Subnet) ?? 'unknown'}`;
  if (client.subnet !== ipv6Subnet) {
    client.key = `ip:${ipKey(client.address, ipv6Subnet) ?? 'unknown'}`;
    client.subnet = ipv6Subnet;
  }
  return client.key;
}

/** The client address of a request as `req.ip` names it; for tests. */
export function clientAddress(req: PeerRequest & { ip?: string | undefined }): string | undefined {
  const client = clientOf(req);
  if (client === undefined) return req.ip;
  return typeof client === 'string' ? client : client.address;
}
