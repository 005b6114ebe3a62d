// trustedHosts() over real HTTP: Host header injection, and Host and X-Forwarded-Host with and without a trusted proxy.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Agent, get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { type Listening, listen } from '@bulwark/test-utils';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonErrors, rawExchange, rawRequest } from '../test/app.js';
import { type TrustedHostsOptions, trustedHosts } from './trusted-hosts.js';

let server: Listening | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** One raw HTTP/1.1 request: the request line and Host exactly as given. */
function send(port: number, target: string, headers: string): Promise<string> {
  return rawExchange(port, `GET ${target} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`);
}

const statusOf = (answer: string) => Number(answer.slice(9, 12));

/** Several raw requests sent at once on one keep-alive connection, the last one closing it. */
const pipelined = (port: number, requests: string[]) =>
  rawExchange(
    port,
    requests
      .map(
        (headers, i) =>
          `GET / HTTP/1.1\r\n${headers}${i === requests.length - 1 ? 'Connection: close\r\n' : ''}\r\n`,
      )
      .join(''),
  );

const statuses = (answer: string) =>
  [...answer.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

/** Requests reaching the route, with what a handler building a link would see. */
let reached: { host: string | undefined; originalUrl: string }[] = [];
afterEach(() => {
  reached = [];
});

async function serve(
  hosts: Parameters<typeof trustedHosts>[0],
  trustProxy?: string,
  options?: TrustedHostsOptions,
) {
  const app = express();
  if (trustProxy) app.set('trust proxy', trustProxy);
  app.use(trustedHosts(hosts, options));
  app.get(['/', '/reset'], (req, res) => {
    reached.push({ host: req.get('host'), originalUrl: req.originalUrl });
    res.json({ host: req.hostname });
  });
  app.use(jsonErrors);
  server = await listen(app);
  return server.port;
}

describe('trustedHosts', () => {
  it('serves a listed host, whatever the port', async () => {
    const port = await serve(['api.example.com']);
    const res = await rawRequest({ port, headers: { Host: `API.example.com:${port}` } });
    expect(res.status).toBe(200);
  });

  it('refuses an injected Host header with 400 invalid_host before the handler runs', async () => {
    const port = await serve('api.example.com');
    const res = await rawRequest({ port, headers: { Host: 'evil.example' } });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({ code: 'invalid_host', message: 'Invalid Host header' });
    expect(res.body).not.toContain('evil');
  });

  it('refuses a request with two Host headers, even when the first is listed', async () => {
    const port = await serve(['api.example.com']);
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.write(
          'GET / HTTP/1.1\r\nHost: api.example.com\r\nHost: evil.example\r\nConnection: close\r\n\r\n',
        );
      });
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer.startsWith('HTTP/1.1 400 ')).toBe(true);
    expect(answer).toContain('invalid_host');
    expect(answer).not.toContain('evil');
  });

  it('ignores X-Forwarded-Host when the peer is not a trusted proxy', async () => {
    const port = await serve(['api.example.com']);
    const spoofed = await rawRequest({
      port,
      headers: { Host: 'api.example.com', 'X-Forwarded-Host': 'evil.example' },
    });
    expect(spoofed.status).toBe(200);
    expect(JSON.parse(spoofed.body).host).toBe('api.example.com');
    const smuggled = await rawRequest({
      port,
      headers: { Host: 'evil.example', 'X-Forwarded-Host': 'api.example.com' },
    });
    expect(smuggled.status).toBe(400);
  });

  it('checks X-Forwarded-Host when the peer is a trusted proxy', async () => {
    const port = await serve(['api.example.com'], 'loopback', { upstreamHosts: ['backend'] });
    const ok = await rawRequest({
      port,
      headers: { Host: 'backend:3000', 'X-Forwarded-Host': 'api.example.com' },
    });
    expect(ok.status).toBe(200);
    const spoofed = await rawRequest({
      port,
      headers: { Host: 'api.example.com', 'X-Forwarded-Host': 'evil.example' },
    });
    expect(spoofed.status).toBe(400);
  });

  it('refuses a Host that is not listed behind a trusted proxy, even with an allowed X-Forwarded-Host (Host: evil.com)', async () => {
    const port = await serve(['api.example.com'], 'loopback');
    for (const host of ['evil.com', 'evil.com:443', 'backend:3000', 'api.example.com.evil.com']) {
      const answer = await send(
        port,
        '/reset',
        `Host: ${host}\r\nX-Forwarded-Host: api.example.com\r\n`,
      );
      expect(statusOf(answer), host).toBe(400);
      expect(answer).toContain('invalid_host');
      expect(answer).not.toContain('evil');
    }
    expect(reached).toEqual([]);
  });

  it('lets a route behind a trusted proxy read a listed Host from req.get and the forwarded host from req.hostname', async () => {
    const port = await serve(['api.example.com', 'www.example.com'], 'loopback');
    const res = await rawRequest({
      port,
      path: '/reset',
      headers: { Host: 'www.example.com', 'X-Forwarded-Host': 'api.example.com' },
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ host: 'api.example.com' });
    expect(reached).toEqual([{ host: 'www.example.com', originalUrl: '/reset' }]);
  });

  it("accepts the proxy's upstream name in Host only from a trusted proxy that forwards the host", async () => {
    const proxied = await serve(['api.example.com'], 'loopback', {
      upstreamHosts: '127.0.0.1, backend',
    });
    const res = await rawRequest({
      port: proxied,
      path: '/reset',
      headers: { Host: `127.0.0.1:${proxied}`, 'X-Forwarded-Host': 'api.example.com' },
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ host: 'api.example.com' });
    expect(reached).toEqual([{ host: `127.0.0.1:${proxied}`, originalUrl: '/reset' }]);
    // Without X-Forwarded-Host, Host is the host Express uses, so it must be one of the hosts.
    const unforwarded = await rawRequest({ port: proxied, headers: { Host: 'backend:3000' } });
    expect(unforwarded.status).toBe(400);
    // An upstream name never makes an unlisted forwarded host acceptable.
    const forwardedEvil = await rawRequest({
      port: proxied,
      headers: { Host: 'backend:3000', 'X-Forwarded-Host': 'evil.example' },
    });
    expect(forwardedEvil.status).toBe(400);
    await server?.close();

    // From a peer that is not a trusted proxy, the upstream name is just an unlisted Host.
    const direct = await serve(['api.example.com'], undefined, { upstreamHosts: ['backend'] });
    const spoofed = await rawRequest({
      port: direct,
      headers: { Host: 'backend:3000', 'X-Forwarded-Host': 'api.example.com' },
    });
    expect(spoofed.status).toBe(400);
    expect(reached).toHaveLength(1);
  });

  it('publishes host_not_listed with the refused Host when a trusted proxy forwards an allowed host', async () => {
    const events: unknown[] = [];
    const onReject = (m: unknown) => events.push(m);
    subscribe('bulwark:perimeter:host-rejected', onReject);
    try {
      const port = await serve(['api.example.com'], 'loopback');
      await send(port, '/reset', 'Host: evil.example\r\nX-Forwarded-Host: api.example.com\r\n');
      expect(events).toEqual([
        expect.objectContaining({
          reason: 'host_not_listed',
          host: 'evil.example',
          forwarded: true,
        }),
      ]);
    } finally {
      unsubscribe('bulwark:perimeter:host-rejected', onReject);
    }
  });

  it('matches subdomain patterns, not the bare domain nor a suffix trick', async () => {
    const port = await serve(['*.example.com']);
    expect((await rawRequest({ port, headers: { Host: 'a.b.example.com' } })).status).toBe(200);
    expect((await rawRequest({ port, headers: { Host: 'example.com' } })).status).toBe(400);
    expect((await rawRequest({ port, headers: { Host: 'badexample.com' } })).status).toBe(400);
    expect((await rawRequest({ port, headers: { Host: 'a.example.com.evil.net' } })).status).toBe(
      400,
    );
  });

  it('accepts bracketed IPv6 hosts in any spelling', async () => {
    const port = await serve(['[::1]', '127.0.0.1']);
    expect((await rawRequest({ port, headers: { Host: `[0:0::1]:${port}` } })).status).toBe(200);
    expect((await rawRequest({ port, headers: { Host: `127.0.0.1:${port}` } })).status).toBe(200);
    expect((await rawRequest({ port, headers: { Host: '[::2]' } })).status).toBe(400);
  });

  it('refuses a Host header that carries anything but a port after the listed name (api.example.com:@evil.com)', async () => {
    const port = await serve(['api.example.com']);
    for (const host of [
      'api.example.com:@evil.com',
      'api.example.com:443@evil.com',
      'api.example.com:x/..',
      'api.example.com:',
      'api.example.com:65536',
      'api.example.com:443:443',
      'api.example.com:123456',
      'api.example.com/evil.com',
      'api.example.com\\evil.com',
      'api..example.com',
      '[::1]:80@evil.com',
      '[fe80::1%25eth0]',
    ]) {
      const answer = await send(port, '/reset', `Host: ${host}\r\n`);
      expect(statusOf(answer), host).toBe(400);
      expect(answer).toContain('invalid_host');
      expect(answer).not.toContain('evil');
    }
    expect(reached).toEqual([]);
  });

  it('still serves a listed host with a port up to 65535 or a trailing dot', async () => {
    const port = await serve(['api.example.com', '[::1]']);
    for (const host of [
      'api.example.com:65535',
      'api.example.com:1',
      'API.EXAMPLE.COM.',
      '[::1]:8080',
    ]) {
      expect(statusOf(await send(port, '/', `Host: ${host}\r\n`)), host).toBe(200);
    }
  });

  it('holds a trusted X-Forwarded-Host and the Host beside it to the same form', async () => {
    const port = await serve(['api.example.com'], 'loopback', { upstreamHosts: ['backend'] });
    const poisoned = await send(
      port,
      '/reset',
      'Host: backend:3000\r\nX-Forwarded-Host: api.example.com:@evil.com\r\n',
    );
    expect(statusOf(poisoned)).toBe(400);
    const badHost = await send(
      port,
      '/reset',
      'Host: backend:3000@evil.com\r\nX-Forwarded-Host: api.example.com\r\n',
    );
    expect(statusOf(badHost)).toBe(400);
    // Express reads the first entry of a list; that is the one checked.
    const listed = await send(
      port,
      '/',
      'Host: backend:3000\r\nX-Forwarded-Host: api.example.com, evil.example\r\n',
    );
    expect(statusOf(listed)).toBe(200);
    expect(reached).toHaveLength(1);
  });

  it('publishes why a host was refused, with the reason malformed for an injected suffix', async () => {
    const events: unknown[] = [];
    const onReject = (m: unknown) => events.push(m);
    subscribe('bulwark:perimeter:host-rejected', onReject);
    try {
      const port = await serve(['api.example.com']);
      await send(port, '/reset', 'Host: api.example.com:@evil.com\r\n');
      await send(port, '/reset', 'Host: evil.example\r\n');
      expect(events).toEqual([
        expect.objectContaining({ reason: 'malformed', host: 'api.example.com:@evil.com' }),
        expect.objectContaining({ reason: 'not_listed', host: 'evil.example' }),
      ]);
    } finally {
      unsubscribe('bulwark:perimeter:host-rejected', onReject);
    }
  });

  it('refuses an absolute-form request target naming another host (GET http://evil.com/...)', async () => {
    const port = await serve(['api.example.com']);
    for (const target of [
      'http://evil.com/reset?x=1',
      'https://evil.com/reset',
      'http://api.example.com@evil.com/reset',
      'http://user@api.example.com/reset',
      'http://api.example.com:8080/reset',
      'http://api.example.com.evil.com/reset',
      'ftp://api.example.com/reset',
    ]) {
      const answer = await send(port, target, 'Host: api.example.com\r\n');
      expect(statusOf(answer), target).toBe(400);
      expect(answer).toContain('invalid_host');
    }
    expect(reached).toEqual([]);
  });

  it('serves an absolute-form target that names the listed host exactly as Host does', async () => {
    const port = await serve(['api.example.com']);
    const answer = await send(
      port,
      'http://API.example.com/reset?x=1',
      'Host: api.example.com\r\n',
    );
    expect(statusOf(answer)).toBe(200);
    expect(reached).toEqual([
      { host: 'api.example.com', originalUrl: 'http://API.example.com/reset?x=1' },
    ]);
  });

  it('refuses an HTTP/1.0 request with no Host header at all', async () => {
    const port = await serve(['api.example.com']);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.0\r\n\r\n'));
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(answer.startsWith('HTTP/1.1 400')).toBe(true);
  });

  it('refuses *, ports, URLs and empty lists at construction', () => {
    expect(() => trustedHosts(['*'])).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_HOST' }),
    );
    expect(() => trustedHosts(['api.example.com:443'])).toThrow(/has a port/);
    expect(() => trustedHosts(['https://api.example.com'])).toThrow(/looks like a URL/);
    expect(() => trustedHosts(['*.com'])).toThrow(/top-level domain/);
    expect(() => trustedHosts(undefined)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_NO_HOSTS' }),
    );
    expect(() => trustedHosts('')).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_NO_HOSTS' }),
    );
  });

  it('refuses bad upstream names and misspelled options at construction', () => {
    for (const upstreamHosts of [['*'], ['backend:3000'], ['http://backend'], [42], 42]) {
      expect(
        () => trustedHosts(['api.example.com'], { upstreamHosts: upstreamHosts as never }),
        JSON.stringify(upstreamHosts),
      ).toThrow(expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_HOST' }));
    }
    expect(() => trustedHosts(['api.example.com'], { upstreamHosts: ['backend:3000'] })).toThrow(
      /upstreamHosts: "backend:3000" has a port/,
    );
    expect(() => trustedHosts(['api.example.com'], { upstreamHost: ['backend'] } as never)).toThrow(
      /Did you mean `upstreamHosts`/,
    );
  });

  it('asks a trust proxy Express compiled from a string nothing without X-Forwarded-Host, and once per connection with it', async () => {
    const asked: string[] = [];
    const app = express();
    app.set('trust proxy', 'loopback');
    // Counts the asks of the function Express compiled from 'loopback'; the setting stays a string.
    const compiled = app.get('trust proxy fn') as (address: string, hop: number) => boolean;
    const counting = (label: string) => (address: string, hop: number) => {
      asked.push(`${label} ${address}`);
      return compiled(address, hop);
    };
    app.set('trust proxy fn', counting('first'));
    app.use(trustedHosts(['api.example.com']));
    app.get('/', (req, res) => {
      res.json({ host: req.get('host') });
    });
    app.use(jsonErrors);
    server = await listen(app);
    const port = server.port;

    expect(
      statuses(await pipelined(port, ['Host: api.example.com\r\n', 'Host: api.example.com\r\n'])),
    ).toEqual([200, 200]);
    expect(asked).toEqual([]);

    const forwarded = 'Host: api.example.com\r\nX-Forwarded-Host: api.example.com\r\n';
    const evil = 'Host: api.example.com\r\nX-Forwarded-Host: evil.com\r\n';
    expect(statuses(await pipelined(port, [forwarded, evil, forwarded]))).toEqual([200, 400, 200]);
    expect(asked).toEqual(['first 127.0.0.1']);

    // A changed setting is asked again.
    asked.length = 0;
    app.set('trust proxy fn', counting('second'));
    expect(statuses(await pipelined(port, [evil, evil]))).toEqual([400, 400]);
    expect(asked).toEqual(['second 127.0.0.1']);
  });

  it('asks a trust proxy function of the app again on each request of a keep-alive connection (reloaded allow-list)', async () => {
    const allowList = new Set<string>();
    const asked: string[] = [];
    const app = express();
    app.set('trust proxy', (address: string) => {
      asked.push(address);
      return allowList.has(address);
    });
    app.use(trustedHosts(['api.example.com']));
    app.get('/', (req, res) => {
      res.json({ hostname: req.hostname, peerPort: req.socket.remotePort });
    });
    app.use(jsonErrors);
    server = await listen(app);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (headers: Record<string, string>) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpGet(
          { host: '127.0.0.1', port: server!.port, path: '/', agent, headers },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (body += chunk));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          },
        );
        req.on('error', reject);
      });
    try {
      const first = await get({ Host: 'api.example.com', 'X-Forwarded-Host': 'evil.com' });
      expect(first.status).toBe(200);
      expect(JSON.parse(first.body).hostname).toBe('api.example.com');

      // The proxy's address is added to the allow-list while the connection stays open: Express
      // now takes X-Forwarded-Host, so trustedHosts must check it.
      allowList.add('127.0.0.1');
      asked.length = 0;
      const second = await get({ Host: 'api.example.com', 'X-Forwarded-Host': 'evil.com' });
      expect(second.status).toBe(400);
      expect(second.body).not.toContain('evil');
      expect(asked.length).toBeGreaterThan(0);

      const third = await get({ Host: 'api.example.com', 'X-Forwarded-Host': 'api.example.com' });
      expect(third.status).toBe(200);
      expect(JSON.parse(third.body)).toEqual({
        hostname: 'api.example.com',
        peerPort: JSON.parse(first.body).peerPort,
      });
    } finally {
      agent.destroy();
    }
  });
});

describe('trustedHosts verdict memo', () => {
  const hosts = ['api.example.com', '*.apps.example.com', '127.0.0.1', '[::1]'];
  const options = { upstreamHosts: ['10.0.0.1'] };
  const app = express();
  app.set('trust proxy', 'loopback');
  const proxy = { remoteAddress: '127.0.0.1' };
  const client = { remoteAddress: '203.0.113.9' };

  interface Case {
    host?: string;
    forwarded?: string;
    peer: { remoteAddress: string };
    target: string;
    twoHosts?: boolean;
  }

  /** Calls the middleware in process; the outcome is the status and the reason published. */
  function outcome(middleware: ReturnType<typeof trustedHosts>, c: Case): string {
    const headers: Record<string, string> = {};
    const rawHeaders: string[] = [];
    if (c.host !== undefined) {
      headers.host = c.host;
      rawHeaders.push('Host', c.host);
      if (c.twoHosts) rawHeaders.push('host', 'evil.example');
    }
    if (c.forwarded !== undefined) {
      headers['x-forwarded-host'] = c.forwarded;
      rawHeaders.push('X-Forwarded-Host', c.forwarded);
    }
    const req = {
      headers,
      rawHeaders,
      method: 'GET',
      url: c.target,
      originalUrl: c.target,
      path: '/',
      app,
      socket: c.peer,
    };
    let reason = '';
    const onReject = (message: unknown) => {
      reason = (message as { reason: string }).reason;
    };
    subscribe('bulwark:perimeter:host-rejected', onReject);
    let status = 0;
    try {
      middleware(req as never, {} as never, (err?: unknown) => {
        status = err === undefined ? 200 : (err as { status: number }).status;
      });
    } finally {
      unsubscribe('bulwark:perimeter:host-rejected', onReject);
    }
    return `${status} ${reason}`;
  }

  // Listed and unlisted names, every spelling a client can vary (case, trailing dot, ports,
  // brackets, zone ids, spaces, tabs, empty labels, over-long labels and names), and values a
  // client may hope a kept verdict answers for (a listed name with something after it).
  const values = [
    'api.example.com',
    'API.Example.com',
    'api.example.com.',
    'api.example.com:443',
    'api.example.com:65535',
    'api.example.com:65536',
    'api.example.com:',
    'api.example.com:@evil.example',
    'api.example.com:80:80',
    'api.example.com.evil.example',
    ' api.example.com',
    'api.example.com ',
    'api.example.com\t',
    'api_example.com',
    'evil.example',
    'x.apps.example.com',
    'X.Apps.Example.COM:8080',
    'apps.example.com',
    '-x.apps.example.com',
    'a..apps.example.com',
    `${'a'.repeat(63)}.apps.example.com`,
    `${'a'.repeat(64)}.apps.example.com`,
    `${'a.'.repeat(130)}apps.example.com`,
    `${'x'.repeat(400)}.apps.example.com`,
    '127.0.0.1',
    '127.0.0.1:3000',
    '[::1]',
    '[0:0:0:0:0:0:0:1]:8080',
    '[::1%eth0]',
    '[::2]',
    '::1',
    '10.0.0.1:3000',
    '',
  ];
  const cases: Case[] = [];
  for (const value of values) {
    for (const target of ['/', 'http://api.example.com/x', 'http://API.example.com:443/', '*']) {
      cases.push({ host: value, peer: client, target });
    }
    cases.push({ host: value, peer: client, target: '/', twoHosts: true });
    for (const peer of [proxy, client]) {
      for (const host of ['10.0.0.1:3000', 'api.example.com', 'evil.example', value]) {
        cases.push({ host, forwarded: value, peer, target: '/' });
        cases.push({ host, forwarded: `${value}, evil.example`, peer, target: '/' });
      }
      cases.push({ forwarded: value, peer, target: '/' });
    }
  }
  cases.push({ peer: client, target: '/' });

  it('answers as a fresh instance does, whatever the memo already holds', () => {
    const kept = trustedHosts(hosts, options);
    const expected = cases.map((c) => outcome(trustedHosts(hosts, options), c));
    // Both answers occur, so the table tests something.
    expect(expected).toContain('200 ');
    expect(new Set(expected).size).toBeGreaterThan(5);
    // In order, in reverse and in an order that mixes the two, so each verdict is asked for
    // both before and after the same value was seen as Host, as forwarded host, and in targets.
    for (const order of [
      cases.map((_, i) => i),
      cases.map((_, i) => cases.length - 1 - i),
      cases.map((_, i) => (i * 7919) % cases.length),
    ]) {
      for (const i of order) {
        expect(outcome(kept, cases[i]!), JSON.stringify(cases[i])).toBe(expected[i]);
      }
    }
  });

  it('keeps answering right while a client floods it with new Host values', () => {
    const kept = trustedHosts(hosts, options);
    const listed = { host: 'api.example.com', peer: client, target: '/' };
    const unlisted = { host: 'evil.example', peer: client, target: '/' };
    const injected = { host: 'api.example.com:@evil.example', peer: client, target: '/' };
    for (let i = 0; i < 3000; i++) {
      // New values every request, accepted ones (any subdomain matches) and refused ones.
      expect(outcome(kept, { host: `h${i}.apps.example.com`, peer: client, target: '/' })).toBe(
        '200 ',
      );
      expect(outcome(kept, { host: `h${i}.evil.example`, peer: client, target: '/' })).toBe(
        '400 not_listed',
      );
      expect(
        outcome(kept, { host: `api.example.com:${i + 70_000}`, peer: client, target: '/' }),
      ).toBe('400 malformed');
      if (i % 100 === 0) {
        expect(outcome(kept, listed)).toBe('200 ');
        expect(outcome(kept, unlisted)).toBe('400 not_listed');
        expect(outcome(kept, injected)).toBe('400 malformed');
        // A kept Host verdict does not excuse the target or a forwarded host.
        expect(outcome(kept, { ...listed, target: 'http://evil.example/' })).toBe(
          '400 target_host',
        );
        expect(outcome(kept, { ...listed, forwarded: 'evil.example', peer: proxy })).toBe(
          '400 not_listed',
        );
        expect(outcome(kept, { ...listed, twoHosts: true })).toBe('400 repeated');
      }
    }
  });
});
