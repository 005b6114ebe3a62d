import { describe, expect, it } from 'vitest';
import { createClientIp, type PeerRequest, readsExpressIp } from './client-ip.js';

/** A getter with the source text of Express's own `req.ip` getter, over a stand-in proxyaddr. */
const expressIpGetter = new Function(
  'proxyaddr',
  "return function ip() { var trust = this.app.get('trust proxy fn'); return proxyaddr(this, trust); };",
)(() => 'from-req.ip') as () => string;

type Request = PeerRequest & { ip?: string | undefined };

/** An app whose `trust proxy` is compiled (not a function of its own), trusting `trusted`. */
function appTrusting(trusted: readonly string[], asked: string[]) {
  const trust = (address: string) => {
    asked.push(address);
    return trusted.includes(address);
  };
  return { get: (setting: string) => (setting === 'trust proxy fn' ? trust : 'loopback') };
}

function request(
  proto: object,
  app: PeerRequest['app'],
  socket: { remoteAddress?: string },
  forwarded?: string,
): Request {
  const req = Object.create(proto) as Request;
  req.headers = forwarded === undefined ? {} : { 'x-forwarded-for': forwarded };
  req.socket = socket;
  req.app = app;
  return req;
}

describe('createClientIp', () => {
  const proto = Object.defineProperty({}, 'ip', { get: expressIpGetter, configurable: true });

  it('names the peer without the header, and the header’s client behind a trusted peer', () => {
    const clientIp = createClientIp();
    const asked: string[] = [];
    const app = appTrusting(['127.0.0.1', '10.0.0.1'], asked);
    const socket = { remoteAddress: '127.0.0.1' };
    expect(clientIp(request(proto, app, socket))).toBe('127.0.0.1');
    expect(clientIp(request(proto, app, socket, '198.51.100.7'))).toBe('198.51.100.7');
    // Read from the end, past every trusted hop, to the first address not trusted.
    expect(clientIp(request(proto, app, socket, '203.0.113.5, 198.51.100.7, 10.0.0.1'))).toBe(
      '198.51.100.7',
    );
    // The header is read afresh on each request of a connection; empty entries are skipped.
    expect(clientIp(request(proto, app, socket, ' , '))).toBe('127.0.0.1');
    // The peer's verdict is asked once for the connection; hops past it on every request.
    expect(asked.filter((address) => address === '127.0.0.1')).toEqual(['127.0.0.1']);
  });

  it('names the peer when it is not trusted, whatever the header says', () => {
    const clientIp = createClientIp();
    const app = appTrusting([], []);
    const socket = { remoteAddress: '203.0.113.9' };
    expect(clientIp(request(proto, app, socket, '198.51.100.7'))).toBe('203.0.113.9');
  });

  it('reads req.ip where a getter of the app’s own stands in front of Express’s', () => {
    const clientIp = createClientIp();
    const own = Object.defineProperty({}, 'ip', { get: () => 'own', configurable: true });
    const app = appTrusting(['127.0.0.1'], []);
    expect(clientIp(request(own, app, { remoteAddress: '127.0.0.1' }))).toBe('own');
    expect(readsExpressIp(request(own, app, {}))).toBe(false);
    expect(readsExpressIp(request(proto, app, {}))).toBe(true);
  });

  it('reads req.ip without a socket address or with a trust function of the app’s own', () => {
    const clientIp = createClientIp();
    const app = appTrusting(['127.0.0.1'], []);
    expect(clientIp(request(proto, app, {}))).toBe('from-req.ip');
    const ownTrust = {
      get: (setting: string) => (setting === 'trust proxy fn' ? () => true : () => true),
    };
    expect(clientIp(request(proto, ownTrust, { remoteAddress: '127.0.0.1' }, '198.51.100.7'))).toBe(
      'from-req.ip',
    );
  });
});
