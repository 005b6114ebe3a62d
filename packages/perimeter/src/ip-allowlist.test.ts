// ipAllowlist() over real HTTP: IPv4, IPv6, IPv4-mapped peers and X-Forwarded-For with and without a trusted proxy.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonErrors, rawRequest } from '../test/app.js';
import { ipAllowlist } from './ip-allowlist.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** Serves /docs behind the allowlist on `host`; the handler echoes req.ip. */
async function serve(
  cidrs: Parameters<typeof ipAllowlist>[0],
  {
    host = '127.0.0.1',
    trustProxy,
    ...options
  }: Parameters<typeof ipAllowlist>[1] & { host?: string; trustProxy?: unknown } = {},
) {
  const app = express();
  if (trustProxy !== undefined) app.set('trust proxy', trustProxy);
  app.get('/docs', ipAllowlist(cidrs, options), (req, res) => {
    res.json({ ip: req.ip });
  });
  app.use(jsonErrors);
  const server = createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

describe('ipAllowlist', () => {
  it('lets in a client inside an IPv4 range', async () => {
    const port = await serve(['10.0.0.0/8', '127.0.0.0/8']);
    const res = await rawRequest({ port, path: '/docs' });
    expect(res.status).toBe(200);
  });

  it('answers 404 not_found to a client outside every range, hiding the route', async () => {
    const port = await serve(['192.168.1.0/24']);
    const res = await rawRequest({ port, path: '/docs' });
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body)).toEqual({ code: 'not_found', message: 'Not Found' });
  });

  it('answers 403 ip_not_allowed when configured to', async () => {
    const port = await serve(['192.168.1.0/24'], { status: 403 });
    const res = await rawRequest({ port, path: '/docs' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).code).toBe('ip_not_allowed');
  });

  it('ignores a spoofed X-Forwarded-For when no proxy is trusted', async () => {
    const port = await serve(['192.168.1.0/24']);
    const res = await rawRequest({
      port,
      path: '/docs',
      headers: { 'X-Forwarded-For': '192.168.1.7' },
    });
    expect(res.status).toBe(404);
  });

  it('uses the address the trusted proxy reports, and only the hop it added', async () => {
    const port = await serve(['192.168.1.0/24'], { trustProxy: 'loopback' });
    const viaProxy = await rawRequest({
      port,
      path: '/docs',
      headers: { 'X-Forwarded-For': '192.168.1.7' },
    });
    expect(viaProxy.status).toBe(200);
    expect(JSON.parse(viaProxy.body).ip).toBe('192.168.1.7');
    // The client sent its own X-Forwarded-For; the proxy appended the real address.
    const spoofed = await rawRequest({
      port,
      path: '/docs',
      headers: { 'X-Forwarded-For': '192.168.1.7, 203.0.113.9' },
    });
    expect(spoofed.status).toBe(404);
  });

  it('matches an IPv6 client against IPv6 ranges', async () => {
    const port = await serve(['::1/128'], { host: '::1' });
    const res = await rawRequest({ host: '::1', port, path: '/docs' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).ip).toBe('::1');
    const other = await serve(['fd00::/8', '127.0.0.1'], { host: '::1' });
    expect((await rawRequest({ host: '::1', port: other, path: '/docs' })).status).toBe(404);
  });

  it('matches an IPv4-mapped IPv6 peer against IPv4 ranges and mapped ranges', async () => {
    const port = await serve(['127.0.0.1/32'], { host: '::ffff:127.0.0.1' });
    const res = await rawRequest({ port, path: '/docs' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).ip).toBe('::ffff:127.0.0.1');
    const mappedRange = await serve(['::ffff:127.0.0.0/104'], { host: '::ffff:127.0.0.1' });
    expect((await rawRequest({ port: mappedRange, path: '/docs' })).status).toBe(200);
    const outside = await serve(['10.0.0.0/8'], { host: '::ffff:127.0.0.1' });
    expect((await rawRequest({ port: outside, path: '/docs' })).status).toBe(404);
  });

  it('warns once when trust proxy is true, because any client can then pick its address', async () => {
    const warnings: string[] = [];
    const logger = { warn: (message: string) => warnings.push(message) };
    const port = await serve(['192.168.1.0/24'], { trustProxy: true, logger });
    await rawRequest({ port, path: '/docs' });
    await rawRequest({ port, path: '/docs' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/trust proxy/);
  });

  it('also warns when trust proxy trusts public addresses through ranges or a huge hop count', async () => {
    for (const trustProxy of ['0.0.0.0/1,128.0.0.0/1', 100, () => true]) {
      const warnings: { message: string; code: unknown }[] = [];
      const logger = {
        warn: (message: string, meta?: Record<string, unknown>) =>
          warnings.push({ message, code: meta?.code }),
      };
      const port = await serve(['192.168.1.0/24'], { trustProxy, logger });
      await rawRequest({ port, path: '/docs' });
      await rawRequest({ port, path: '/docs' });
      expect(warnings, String(trustProxy)).toEqual([
        {
          message: expect.stringMatching(/trust proxy/),
          code: 'ERR_BULWARK_PERIMETER_TRUST_PROXY_ALL',
        },
      ]);
    }
    const quiet: string[] = [];
    const port = await serve(['192.168.1.0/24'], {
      trustProxy: 'loopback',
      logger: { warn: (m: string) => quiet.push(m) },
    });
    await rawRequest({ port, path: '/docs' });
    expect(quiet).toEqual([]);
  });

  it('says in the trust proxy warning that production refuses the setting, and how to fix it', async () => {
    const warnings: string[] = [];
    const port = await serve(['192.168.1.0/24'], {
      trustProxy: '1.0.0.0/7',
      production: false,
      logger: { warn: (message: string) => warnings.push(message) },
    });
    await rawRequest({ port, path: '/docs' });
    expect(warnings).toEqual([
      expect.stringContaining('whose range 1.0.0.0/7 is wider than any private network'),
    ]);
    expect(warnings[0]).toContain("app.set('trust proxy', 'loopback')");
    expect(warnings[0]).toContain('This is refused when NODE_ENV=production.');
  });

  it('refuses at construction in production a trust proxy that lets any client choose req.ip, given the app', () => {
    const settings: [unknown, string][] = [
      [true, 'setting is true'],
      ['0.0.0.0/1,128.0.0.0/1', 'trusts the public address 8.8.8.8'],
      ['10.0.0.0/8, 1.0.0.0/7', 'whose range 1.0.0.0/7'],
      [100, 'is 100 hops'],
      [() => true, 'is a function that trusts the public address'],
      [(addr: string, hop: number) => addr === '10.0.0.2' || hop > 0, 'at hop 1'],
    ];
    for (const [setting, said] of settings) {
      const app = express();
      app.set('trust proxy', setting);
      expect(() => ipAllowlist(['192.168.1.0/24'], { app, production: true }), said).toThrow(
        expect.objectContaining({
          name: 'PerimeterConfigError',
          code: 'ERR_BULWARK_PERIMETER_TRUST_PROXY_ALL',
          message: expect.stringContaining(said),
        }),
      );
    }
    for (const setting of [false, 1, 5, 'loopback', ['10.0.0.0/8', 'fc00::/7']]) {
      const app = express();
      app.set('trust proxy', setting);
      expect(() => ipAllowlist(['192.168.1.0/24'], { app, production: true })).not.toThrow();
    }
  });

  it('reads NODE_ENV=production when the factory runs, so a permissive trust proxy throws without production: true', () => {
    const app = express();
    app.set('trust proxy', true);
    const before = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      expect(() => ipAllowlist(['192.168.1.0/24'], { app })).toThrow(
        expect.objectContaining({
          code: 'ERR_BULWARK_PERIMETER_TRUST_PROXY_ALL',
          message: expect.stringContaining("app.set('trust proxy', 1)"),
        }),
      );
    } finally {
      process.env.NODE_ENV = before;
    }
    expect(() => ipAllowlist(['192.168.1.0/24'], { app, logger: { warn() {} } })).not.toThrow();
  });

  it('never serves the route to a spoofed X-Forwarded-For in production, whatever setting lets a client choose its address', async () => {
    const seen: unknown[] = [];
    for (const trustProxy of [true, '0.0.0.0/1,128.0.0.0/1', '1.0.0.0/7', 100, () => true]) {
      const warnings: string[] = [];
      const port = await serve(['192.168.1.0/24'], {
        trustProxy,
        production: true,
        logger: { warn: (message: string) => warnings.push(message) },
      });
      for (const attempt of [1, 2]) {
        const res = await rawRequest({
          port,
          path: '/docs',
          headers: { 'X-Forwarded-For': '192.168.1.7' },
        });
        seen.push(res.body);
        expect(res.status, `${String(trustProxy)} #${attempt}`).toBe(500);
        expect(JSON.parse(res.body)).toEqual({
          code: 'ERR_BULWARK_PERIMETER_TRUST_PROXY_ALL',
          message: 'Internal Server Error',
        });
      }
      // Production refuses instead of warning, so nothing reaches the logger.
      expect(warnings).toEqual([]);
    }
    expect(JSON.stringify(seen)).not.toContain('192.168.1.7');
  });

  it('never lets a spoofed X-Forwarded-For past the allowlist with a safe trust proxy setting', async () => {
    // The client wrote 192.168.1.7; a proxy on loopback appended the real address.
    const spoofed = { 'X-Forwarded-For': '192.168.1.7, 203.0.113.9' };
    for (const trustProxy of [undefined, false, 1, 'loopback', ['loopback', '10.0.0.0/8']]) {
      for (const production of [true, false]) {
        const port = await serve(['192.168.1.0/24'], { trustProxy, production });
        const res = await rawRequest({ port, path: '/docs', headers: spoofed });
        expect(res.status, `${String(trustProxy)} production=${production}`).toBe(404);
        expect(JSON.parse(res.body)).toEqual({ code: 'not_found', message: 'Not Found' });
      }
    }
  });

  it('refuses an app that is not an Express app and a production that is not a boolean', () => {
    expect(() => ipAllowlist(['10.0.0.0/8'], { app: {} as never })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_PERIMETER_INVALID_OPTION',
        message: expect.stringContaining('Pass the app returned by express()'),
      }),
    );
    expect(() => ipAllowlist(['10.0.0.0/8'], { production: 'yes' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_OPTION' }),
    );
  });

  it('refuses an IPv4-mapped range with host bits set instead of widening it (::ffff:10.0.0.5/104)', () => {
    expect(() => ipAllowlist(['::ffff:10.0.0.5/104'])).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_PERIMETER_INVALID_CIDR',
        message: expect.stringContaining('the network is ::ffff:10.0.0.0/104'),
      }),
    );
    expect(() => ipAllowlist(['::ffff:10.0.0.0/104', '::ffff:10.0.0.5/128'])).not.toThrow();
  });

  it('refuses malformed ranges, host bits, /0 and odd statuses at construction', () => {
    for (const bad of ['192.168.1.0/33', 'not-an-ip', '10.0.0.5/8', '0.0.0.0/0', '::/0']) {
      expect(() => ipAllowlist([bad]), bad).toThrow(
        expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_CIDR' }),
      );
    }
    expect(() => ipAllowlist('')).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_NO_RANGES' }),
    );
    expect(() => ipAllowlist(['10.0.0.0/8'], { status: 500 as 404 })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_OPTION' }),
    );
  });
});
