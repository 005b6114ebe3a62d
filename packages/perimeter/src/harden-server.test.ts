// hardenServer() against real sockets: slowloris headers and bodies are cut, caps hold, normal traffic flows.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { createTestPki } from '@bulwark/test-utils';
import express from 'express';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { hardenServer } from './harden-server.js';

const servers: Server[] = [];
const sockets: Socket[] = [];
const dir = mkdtempSync(join(tmpdir(), 'bulwark-harden-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

async function serve(options: Parameters<typeof hardenServer>[1]) {
  const app = express();
  app.get('/', (_req, res) => {
    res.json({ ok: true });
  });
  app.post('/upload', (req, res) => {
    req.resume();
    req.on('end', () => res.json({ ok: true }));
  });
  const server = hardenServer(createServer(app), options);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
    sockets.push(socket);
  });
}

/** Writes `chunks` one every 50 ms until they run out or the server closes the socket. */
function dribble(
  socket: Socket,
  chunks: string[],
): Promise<{ closedByServer: boolean; received: string }> {
  return new Promise((resolve) => {
    let received = '';
    let closed = false;
    socket.on('data', (d) => (received += d.toString()));
    socket.on('error', () => {});
    socket.once('close', () => {
      closed = true;
      clearInterval(timer);
      resolve({ closedByServer: true, received });
    });
    let i = 0;
    const timer = setInterval(() => {
      if (closed) return;
      const chunk = chunks[i++];
      if (chunk === undefined) {
        clearInterval(timer);
        resolve({ closedByServer: false, received });
        return;
      }
      socket.write(chunk);
    }, 50);
  });
}

describe('hardenServer', () => {
  it('sets Node server limits to the given values', async () => {
    const { server } = await serve({
      headersTimeout: 2_000,
      requestTimeout: 5_000,
      maxConnections: 10,
    });
    expect(server.headersTimeout).toBe(2_000);
    expect(server.requestTimeout).toBe(5_000);
    expect(server.keepAliveTimeout).toBe(5_000);
    expect(server.maxHeadersCount).toBe(100);
    expect(server.maxRequestsPerSocket).toBe(1_000);
    expect(server.maxConnections).toBe(10);
  });

  it('disconnects a slowloris client that dribbles headers past headersTimeout', async () => {
    const { port } = await serve({ headersTimeout: 300, requestTimeout: 1_000 });
    const socket = await open(port);
    // One header line every 50 ms for up to 10 s: far longer than the deadline, never finished.
    const chunks = [
      'GET / HTTP/1.1\r\nHost: localhost\r\n',
      ...Array.from({ length: 200 }, (_, i) => `X-Pad-${i}: a\r\n`),
    ];
    const result = await dribble(socket, chunks);
    expect(result.closedByServer).toBe(true);
    expect(result.received).toBe('');
  });

  it('disconnects a slowloris client over TLS too', async () => {
    const pki = createTestPki(join(dir, 'pki'), { clients: [] });
    const server = hardenServer(
      createHttpsServer(
        { key: readFileSync(pki.serverKeyFile), cert: readFileSync(pki.serverCertFile) },
        (_req, res) => res.end('ok'),
      ),
      { headersTimeout: 300, requestTimeout: 1_000 },
    );
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = tlsConnect(
        { port, host: '127.0.0.1', ca: readFileSync(pki.caFile), servername: 'localhost' },
        () => resolve(s),
      );
      s.on('error', reject);
      sockets.push(s);
    });
    const chunks = [
      'GET / HTTP/1.1\r\nHost: localhost\r\n',
      ...Array.from({ length: 200 }, (_, i) => `X-Pad-${i}: a\r\n`),
    ];
    const result = await dribble(socket, chunks);
    expect(result.closedByServer).toBe(true);
  });

  it('disconnects a client that dribbles its body past requestTimeout', async () => {
    const { port } = await serve({ headersTimeout: 300, requestTimeout: 600 });
    const socket = await open(port);
    const head = 'POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n';
    const result = await dribble(socket, [head, ...Array.from({ length: 200 }, () => 'a')]);
    expect(result.closedByServer).toBe(true);
  });

  it('serves ordinary requests, several on one kept-alive connection', async () => {
    const { port } = await serve({ headersTimeout: 300, requestTimeout: 1_000 });
    const socket = await open(port);
    const answers = await new Promise<string>((resolve) => {
      let data = '';
      socket.on('data', (d) => {
        data += d.toString();
        if (data.split('HTTP/1.1 200').length === 3) resolve(data);
      });
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
      setTimeout(() => socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'), 100);
    });
    expect(answers).toContain('{"ok":true}');
  });

  it('leaves an upgraded (WebSocket-style) connection open past headersTimeout', async () => {
    const { server, port } = await serve({ headersTimeout: 200, requestTimeout: 400 });
    server.on('upgrade', (_req, socket: Socket) => {
      sockets.push(socket);
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n',
      );
      socket.on('data', (d) => socket.write(d));
    });
    const socket = await open(port);
    const echoed = await new Promise<string>((resolve) => {
      let data = '';
      socket.on('data', (d) => {
        data += d.toString();
        if (data.includes('ping-2')) resolve(data);
      });
      socket.write(
        'GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n',
      );
      // Well past both deadlines, the upgraded connection still carries data.
      setTimeout(() => socket.write('ping-1'), 100);
      setTimeout(() => socket.write('ping-2'), 900);
    });
    expect(echoed).toContain('101 Switching Protocols');
    expect(socket.destroyed).toBe(false);
  });

  it('drops connections beyond the per-address cap and keeps the others', async () => {
    const { port } = await serve({ maxConnectionsPerIp: 2 });
    const first = await open(port);
    const second = await open(port);
    const third = await open(port);
    await new Promise<void>((resolve) => third.once('close', () => resolve()));
    expect(first.destroyed).toBe(false);
    expect(second.destroyed).toBe(false);
    first.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    const answer = await new Promise<string>((resolve) => {
      let data = '';
      first.on('data', (d) => (data += d.toString()));
      first.on('end', () => resolve(data));
    });
    expect(answer.startsWith('HTTP/1.1 200')).toBe(true);
  });

  it('refuses inconsistent timeouts, non-servers, typos and a second call', () => {
    expect(() =>
      hardenServer(createServer(), { headersTimeout: 5_000, requestTimeout: 1_000 }),
    ).toThrow(expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_TIMEOUTS' }));
    expect(() => hardenServer({} as Server)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_NOT_A_SERVER' }),
    );
    expect(() => hardenServer(createServer(), { headerTimeout: 1 } as never)).toThrow(
      /Did you mean `headersTimeout`/,
    );
    const server = hardenServer(createServer());
    expect(() => hardenServer(server)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_ALREADY_HARDENED' }),
    );
    expect(() => hardenServer(createServer(), { maxConnections: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_NUMBER' }),
    );
  });
});
