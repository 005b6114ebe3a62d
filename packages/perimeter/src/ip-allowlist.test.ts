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
