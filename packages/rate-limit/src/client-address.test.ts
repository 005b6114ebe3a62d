// The client address read without proxy-addr, against Express's own req.ip.
import { Agent, get as httpGet, IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import express, { type Express, type Request } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { addressKey, clientAddress, readsExpressIp, trustsPeer } from './client-address.js';
import { ipKey } from './ip.js';
import { rateLimit } from './rate-limit.js';

/** A socket as a request sees it: only its address is read. */
type FakeSocket = { remoteAddress?: string | undefined; readableHighWaterMark: number };

function socket(remoteAddress: string | undefined): FakeSocket {
  return { remoteAddress, readableHighWaterMark: 16_384 };
}

/** A request as Express hands it to middleware: an IncomingMessage with the app's prototype. */
function requestOn(
  app: Express,
  peer: FakeSocket,
  headers: Record<string, string> = {},
): Request & { ip: string | undefined } {
  const req = new IncomingMessage(peer as unknown as Socket);
  req.headers = headers;
  Object.setPrototypeOf(req, app.request);
  return req as unknown as Request & { ip: string | undefined };
}

/** The key as it was made before: from Express's req.ip, read on a request of its own. */
function expectedKey(
  app: Express,
  peer: FakeSocket,
  headers: Record<string, string>,
  ipv6Subnet: number,
): string {
  const req = requestOn(app, peer, headers);
  return `ip:${ipKey(req.ip ?? req.socket?.remoteAddress, ipv6Subnet) ?? 'unknown'}`;
}

/** What a call gives: its value, or the error it throws. */
function outcome<T>(work: () => T): { value: T } | { threw: string } {
  try {
    return { value: work() };
  } catch (error) {
    return { threw: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

const PEERS = [
  '127.0.0.1',
  '::ffff:127.0.0.1',
  '::1',
  '10.0.0.2',
  '203.0.113.9',
  '::ffff:203.0.113.9',
  '2001:db8:ab:cd::9',
  'fe80::1%eth0',
];

const SETTINGS: [string, unknown][] = [
  ['off (the default)', false],
  ['true', true],
  ['a hop count of 1', 1],
  ['a hop count of 2', 2],
  ['loopback', 'loopback'],
  ['loopback and a private range', 'loopback, 10.0.0.0/8'],
  ['a list', ['10.0.0.0/8', '127.0.0.1', '2001:db8::/32']],
  ['uniquelocal', 'uniquelocal'],
  ['a function of the app', (address: string) => address === '127.0.0.1'],
  ['a function by position', (_address: string, hop: number) => hop < 2],
];

const FORWARDED = [
  undefined,
  '',
  '198.51.100.7',
  ' 198.51.100.7 ',
  '198.51.100.7, 10.0.0.3',
  '1.2.3.4, 198.51.100.7, 127.0.0.1',
  '2001:db8:1:2::3',
  '2001:db8:1:2::3, ::1',
  ',',
  ' , ,',
  'unknown',
  'not an address, 10.0.0.3',
  '198.51.100.7,,10.0.0.3',
  '\t198.51.100.7',
  '198.51.100.7 , 10.0.0.4 , 127.0.0.1',
];

describe('addressKey', () => {
  it('gives the key req.ip gave, for every trust setting, peer, X-Forwarded-For and subnet', () => {
    const app = express();
    let cases = 0;
    for (const [, setting] of SETTINGS) {
      app.set('trust proxy', setting);
      for (const address of PEERS) {
        // One socket per peer and setting, reused by every request below: a keep-alive connection.
        const peer = socket(address);
        for (const forwarded of FORWARDED) {
          const headers: Record<string, string> =
            forwarded === undefined ? {} : { 'x-forwarded-for': forwarded };
          for (const subnet of [56, 64, 128]) {
            const key = addressKey(requestOn(app, peer, headers), subnet);
            expect(key, `${String(setting)} ${address} ${forwarded} /${subnet}`).toBe(
              expectedKey(app, peer, headers, subnet),
            );
            cases++;
          }
        }
      }
    }
    expect(cases).toBe(SETTINGS.length * PEERS.length * FORWARDED.length * 3);
  });

  it('groups IPv6 peers by subnet and unwraps IPv4-mapped ones, as before', () => {
    const app = express();
    const peer = socket('2001:db8:ab:cd::9');
    expect(addressKey(requestOn(app, peer), 56)).toBe('ip:2001:db8:ab::/56');
    expect(addressKey(requestOn(app, peer), 64)).toBe('ip:2001:db8:ab:cd::/64');
    // The same connection again, with the first subnet: the key follows the subnet asked for.
    expect(addressKey(requestOn(app, peer), 56)).toBe('ip:2001:db8:ab::/56');
    expect(addressKey(requestOn(app, socket('::ffff:203.0.113.9')), 56)).toBe('ip:203.0.113.9');
  });

  it('keys by the peer when X-Forwarded-For comes from a peer trust proxy does not trust', () => {
    const app = express();
    app.set('trust proxy', 'loopback');
    const peer = socket('203.0.113.9');
    for (const forwarded of ['198.51.100.1', '198.51.100.2, 127.0.0.1', '10.0.0.1']) {
      const req = requestOn(app, peer, { 'x-forwarded-for': forwarded });
      expect(addressKey(req, 56)).toBe('ip:203.0.113.9');
      expect(req.ip).toBe('203.0.113.9');
    }
  });

  it('reads each request’s own X-Forwarded-For on a keep-alive connection from a trusted proxy', () => {
    const app = express();
    app.set('trust proxy', 'loopback');
    const proxy = socket('127.0.0.1');
    const keys = ['198.51.100.1', '198.51.100.2', undefined, '198.51.100.3, 10.0.0.1'].map(
      (forwarded) =>
        addressKey(
          requestOn(app, proxy, forwarded === undefined ? {} : { 'x-forwarded-for': forwarded }),
          56,
        ),
    );
    // Nothing one request's header said is kept for the next.
    expect(keys).toEqual(['ip:198.51.100.1', 'ip:198.51.100.2', 'ip:127.0.0.1', 'ip:10.0.0.1']);
  });

  it('follows a trust proxy setting changed between two requests on one connection', () => {
    const app = express();
    const proxy = socket('127.0.0.1');
    const headers = { 'x-forwarded-for': '198.51.100.7' };
    expect(addressKey(requestOn(app, proxy, headers), 56)).toBe('ip:127.0.0.1');
    app.set('trust proxy', 'loopback');
    expect(addressKey(requestOn(app, proxy, headers), 56)).toBe('ip:198.51.100.7');
    app.set('trust proxy', 1);
    expect(addressKey(requestOn(app, proxy, headers), 56)).toBe('ip:198.51.100.7');
    app.set('trust proxy', '10.0.0.0/8');
    expect(addressKey(requestOn(app, proxy, headers), 56)).toBe('ip:127.0.0.1');
    app.set('trust proxy', () => true);
    expect(addressKey(requestOn(app, proxy, headers), 56)).toBe('ip:198.51.100.7');
    app.set('trust proxy', false);
    expect(addressKey(requestOn(app, proxy, headers), 56)).toBe('ip:127.0.0.1');
  });

  it('asks a trust function of the app’s own exactly as req.ip does, on every request', () => {
    const calls: [string, number][] = [];
    const app = express();
    app.set('trust proxy', (address: string, hop: number) => {
      calls.push([address, hop]);
      return hop === 0;
    });
    const proxy = socket('127.0.0.1');
    const headers = { 'x-forwarded-for': '198.51.100.7, 10.0.0.1' };
    addressKey(requestOn(app, proxy, headers), 56);
    addressKey(requestOn(app, proxy, headers), 56);
    const ours = calls.splice(0);
    void requestOn(app, proxy, headers).ip;
    void requestOn(app, proxy, headers).ip;
    expect(ours).toEqual(calls);
    expect(ours).toEqual([
      ['127.0.0.1', 0],
      ['10.0.0.1', 1],
      ['127.0.0.1', 0],
      ['10.0.0.1', 1],
    ]);
  });

  it('gives up the peer’s remembered answer when the socket reports another address', () => {
    const app = express();
    app.set('trust proxy', 'loopback');
    const reused = socket('127.0.0.1');
    const headers = { 'x-forwarded-for': '198.51.100.7' };
    expect(addressKey(requestOn(app, reused, headers), 56)).toBe('ip:198.51.100.7');
    reused.remoteAddress = '203.0.113.9';
    expect(addressKey(requestOn(app, reused, headers), 56)).toBe('ip:203.0.113.9');
    reused.remoteAddress = undefined;
    expect(addressKey(requestOn(app, reused, headers), 56)).toBe(
      expectedKey(app, reused, headers, 56),
    );
  });

  it('keeps a getter the app or a middleware puts in front of Express’s req.ip, even after requests were keyed', () => {
    const app = express();
    const peer = socket('203.0.113.9');
    expect(addressKey(requestOn(app, peer), 56)).toBe('ip:203.0.113.9');
    const own = requestOn(app, peer);
    Object.defineProperty(own, 'ip', { value: '198.51.100.20' });
    expect(addressKey(own, 56)).toBe('ip:198.51.100.20');
    Object.defineProperty(app.request, 'ip', {
      configurable: true,
      get(this: Request) {
        return this.headers['cf-connecting-ip'];
      },
    });
    expect(addressKey(requestOn(app, peer, { 'cf-connecting-ip': '198.51.100.21' }), 56)).toBe(
      'ip:198.51.100.21',
    );
    delete (app.request as { ip?: unknown }).ip;
    expect(addressKey(requestOn(app, peer, { 'cf-connecting-ip': '198.51.100.21' }), 56)).toBe(
      'ip:203.0.113.9',
    );
  });

  it('reads req.ip of requests that are not Express’s, as before', () => {
    expect(addressKey({ ip: '198.51.100.4', headers: {}, socket: {} } as never, 56)).toBe(
      'ip:198.51.100.4',
    );
    expect(addressKey({ headers: {}, socket: { remoteAddress: '::1' } } as never, 128)).toBe(
      'ip:::1/128',
    );
    expect(addressKey({ headers: {} } as never, 56)).toBe('ip:unknown');
  });

  it('throws where req.ip throws: an app whose trust function throws on an entry', () => {
    const app = express();
    app.set('trust proxy', (_address: string, hop: number) => {
      if (hop > 0) throw new Error('bad hop');
      return true;
    });
    const headers = { 'x-forwarded-for': '198.51.100.7, 10.0.0.1' };
    const proxy = socket('127.0.0.1');
    expect(outcome(() => addressKey(requestOn(app, proxy, headers), 56))).toEqual(
      outcome(() => requestOn(app, proxy, headers).ip),
    );
    expect(outcome(() => addressKey(requestOn(app, proxy, headers), 56))).toEqual({
      threw: 'Error: bad hop',
    });
  });
});

/** A small random generator, seeded, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('clientAddress against req.ip on generated headers', () => {
  it('agrees on 3000 X-Forwarded-For values built from addresses, spaces, tabs and commas', () => {
    const next = random(20_261_206);
    const pieces = [
      '127.0.0.1',
      '10.0.0.1',
      '10.1.2.3',
      '::1',
      '::ffff:10.0.0.9',
      '198.51.100.7',
      '2001:db8::5',
      'unknown',
      '',
      ' ',
      '  ',
      '\t',
      'x',
    ];
    const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
    const app = express();
    const sockets = PEERS.map((address) => socket(address));
    for (let i = 0; i < 3000; i++) {
      const [, setting] = pick(SETTINGS);
      app.set('trust proxy', setting);
      const parts = Array.from({ length: Math.floor(next() * 5) }, () =>
        `${pick(['', ' ', '  '])}${pick(pieces)}${pick(['', ' ', '\t'])}`.slice(
          0,
          1 + Math.floor(next() * 20),
        ),
      );
      const header = parts.join(pick([',', ', ', ' ,']));
      const peer = pick(sockets);
      const headers = { 'x-forwarded-for': header };
      const ours = outcome(() => clientAddress(requestOn(app, peer, headers)));
      const express_ = outcome(() => requestOn(app, peer, headers).ip);
      expect(ours, `${String(setting)} ${peer.remoteAddress} ${JSON.stringify(header)}`).toEqual(
        express_,
      );
    }
  });
});

describe('readsExpressIp', () => {
  it('recognises the req.ip getter of the Express in use, so requests take the short way', () => {
    const app = express();
    expect(readsExpressIp(requestOn(app, socket('127.0.0.1')))).toBe(true);
    const sub = express();
    app.use('/sub', sub);
    expect(readsExpressIp(requestOn(sub, socket('127.0.0.1')))).toBe(true);
  });

  it('does not take a look-alike getter or a plain value for it', () => {
    const req = requestOn(express(), socket('127.0.0.1'));
    Object.defineProperty(req, 'ip', {
      get: function ip() {
        return '198.51.100.1';
      },
    });
    expect(readsExpressIp(req)).toBe(false);
    expect(readsExpressIp({ ip: '198.51.100.1' })).toBe(false);
    expect(readsExpressIp({})).toBe(false);
  });
});

describe('trustsPeer', () => {
  it('remembers the answer of a compiled trust function per socket, and asks an app’s own function every time', () => {
    const app = express();
    app.set('trust proxy', 'loopback');
    const proxy = socket('127.0.0.1');
    const req = requestOn(app, proxy, { 'x-forwarded-for': '198.51.100.7' });
    const trust = app.get('trust proxy fn');
    expect(trustsPeer(req, '127.0.0.1', trust)).toBe(true);
    expect(trustsPeer(req, '127.0.0.1', trust)).toBe(true);
    // Another function than the app's is asked, whatever the socket's entry says.
    expect(trustsPeer(req, '127.0.0.1', () => false)).toBe(false);
    let calls = 0;
    app.set('trust proxy', () => {
      calls++;
      return true;
    });
    const own = app.get('trust proxy fn');
    expect(trustsPeer(req, '127.0.0.1', own)).toBe(true);
    expect(trustsPeer(req, '127.0.0.1', own)).toBe(true);
    expect(calls).toBe(2);
    expect(
      trustsPeer(req, '127.0.0.1', () => {
        throw new Error('no');
      }),
    ).toBeUndefined();
  });
});

describe('rateLimit keys over real keep-alive connections', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('keys each request as req.ip names it, the trust setting changing between requests on one connection', async () => {
    const app = express();
    const limiter = rateLimit({ name: 'keep-alive', limit: 1000 });
    app.use(limiter);
    app.get('/', (req, res) => {
      res.json({
        key: (req as Request & { rateLimit: { key: string } }).rateLimit.key,
        ip: req.ip,
      });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    close = () => new Promise((resolve) => server.close(() => resolve()));
    const { port } = server.address() as AddressInfo;
    const seen = new Set<unknown>();
    server.on('connection', (s) => seen.add(s));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const closeServer = close;
    close = async () => {
      agent.destroy();
      await closeServer();
    };
    const get = (headers: Record<string, string> = {}) =>
      new Promise<{ key: string; ip: string }>((resolve, reject) => {
        httpGet({ host: '127.0.0.1', port, path: '/', headers, agent }, (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            body += chunk;
          });
          response.on('end', () => resolve(JSON.parse(body)));
        }).on('error', reject);
      });
    expect(await get()).toEqual({ key: 'ip:127.0.0.1', ip: '127.0.0.1' });
    // Not trusted yet: the header changes nothing.
    expect(await get({ 'x-forwarded-for': '198.51.100.7' })).toEqual({
      key: 'ip:127.0.0.1',
      ip: '127.0.0.1',
    });
    app.set('trust proxy', 'loopback');
    expect(await get({ 'x-forwarded-for': '198.51.100.7' })).toEqual({
      key: 'ip:198.51.100.7',
      ip: '198.51.100.7',
    });
    expect(await get({ 'x-forwarded-for': '198.51.100.8' })).toEqual({
      key: 'ip:198.51.100.8',
      ip: '198.51.100.8',
    });
    expect(await get({ 'x-forwarded-for': '2001:db8:ab:cd::1' })).toEqual({
      key: 'ip:2001:db8:ab::/56',
      ip: '2001:db8:ab:cd::1',
    });
    app.set('trust proxy', false);
    expect(await get({ 'x-forwarded-for': '198.51.100.7' })).toEqual({
      key: 'ip:127.0.0.1',
      ip: '127.0.0.1',
    });
    // The agent keeps its one connection open between requests: one socket served them all.
    expect(seen.size).toBe(1);
  });
});
