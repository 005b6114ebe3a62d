// hardenServer(): timeouts and connection caps on a Node HTTP(S) server against slowloris and floods.
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { checkOptions, describe, PerimeterConfigError, positiveInt } from './errors.js';

export interface HardenServerOptions {
  /**
   * Milliseconds a client has to send a request's complete headers. Default `10_000`. A client
   * that dribbles headers (slowloris) is disconnected when it runs out.
   */
  headersTimeout?: number;
  /**
   * Milliseconds a client has to send a whole request, body included. Default `30_000`. It
   * bounds slow uploads; it does not limit how long your handler takes (see `requestTimeout()`).
   */
  requestTimeout?: number;
  /** Milliseconds an idle keep-alive connection stays open. Default `5_000`. */
  keepAliveTimeout?: number;
  /** Most request headers parsed per request. Default `100`. */
  maxHeadersCount?: number;
  /** Requests served on one keep-alive connection before it is closed. Default `1_000`. */
  maxRequestsPerSocket?: number;
  /** Open connections the server accepts at once; more are dropped. Default `1_024`. */
  maxConnections?: number;
  /**
   * Open connections one client address may hold; more are dropped. Default `0` (no per-address
   * cap), because behind a reverse proxy every connection comes from the proxy. Set it (such as
   * `32`) when clients connect directly.
   */
  maxConnectionsPerIp?: number;
}

const KNOWN = [
  'headersTimeout',
  'requestTimeout',
  'keepAliveTimeout',
  'maxHeadersCount',
  'maxRequestsPerSocket',
  'maxConnections',
  'maxConnectionsPerIp',
] as const;

const DEFAULTS: Required<HardenServerOptions> = {
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  keepAliveTimeout: 5_000,
  maxHeadersCount: 100,
  maxRequestsPerSocket: 1_000,
  maxConnections: 1_024,
  maxConnectionsPerIp: 0,
};

const hardened = new WeakSet<object>();

/**
 * Sets Node's server limits to safe values and enforces the header and request deadlines on
 * every connection itself: Node checks `headersTimeout` and `requestTimeout` only every
 * `connectionsCheckingInterval` (30 s by default, fixed when the server is created), which lets
 * a slowloris client hold a socket for up to a minute. Works for `http` and `https` servers.
 *
 * @param server The server returned by `http.createServer(app)`, `https.createServer(...)` or
 *   `app.listen()`.
 * @param options See {@link HardenServerOptions}; every field has a safe default.
 * @returns The same server, for chaining.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_NOT_A_SERVER` for anything but an HTTP
 *   server, `ERR_BULWARK_PERIMETER_INVALID_NUMBER` for a bad limit,
 *   `ERR_BULWARK_PERIMETER_INVALID_TIMEOUTS` when `headersTimeout` exceeds `requestTimeout`,
 *   `ERR_BULWARK_PERIMETER_ALREADY_HARDENED` when called twice on one server.
 * @example
 * const server = hardenServer(app.listen(3000), { maxConnectionsPerIp: 32 });
 */
export function hardenServer<S extends HttpServer | HttpsServer>(
  server: S,
  options?: HardenServerOptions,
): S {
  if (
    !server ||
    typeof server !== 'object' ||
    typeof (server as HttpServer).on !== 'function' ||
    typeof (server as HttpServer).headersTimeout !== 'number'
  ) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_NOT_A_SERVER',
      `hardenServer: ${describe(server)} is not an HTTP server. Pass what http.createServer(app) or app.listen() returns.`,
    );
  }
  if (hardened.has(server)) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_ALREADY_HARDENED',
      'hardenServer: this server is already hardened. Call hardenServer() once per server.',
    );
  }
  const given = checkOptions('hardenServer', options, KNOWN) as HardenServerOptions;
  const o = { ...DEFAULTS };
  for (const key of KNOWN) {
    const value = given[key];
    if (value !== undefined) {
      o[key] = positiveInt('hardenServer', key, value, {
        allowZero: key === 'maxConnectionsPerIp',
      });
    }
  }
  if (o.headersTimeout > o.requestTimeout) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_TIMEOUTS',
      `hardenServer: headersTimeout (${o.headersTimeout}) is longer than requestTimeout (${o.requestTimeout}). The headers are part of the request: make headersTimeout the smaller one.`,
    );
  }
  hardened.add(server);

  const s = server as HttpServer;
  s.headersTimeout = o.headersTimeout;
  s.requestTimeout = o.requestTimeout;
  s.keepAliveTimeout = o.keepAliveTimeout;
  s.maxHeadersCount = o.maxHeadersCount;
  s.maxRequestsPerSocket = o.maxRequestsPerSocket;
  s.maxConnections = o.maxConnections;

  const deadlines = new WeakMap<Socket, NodeJS.Timeout>();
  const perIp = new Map<string, number>();

  const arm = (socket: Socket, ms: number, check?: () => boolean) => {
    clearTimeout(deadlines.get(socket));
    const timer = setTimeout(() => {
      deadlines.delete(socket);
      if (!check || check()) socket.destroy();
    }, ms);
    timer.unref();
    deadlines.set(socket, timer);
  };
  const disarm = (socket: Socket) => {
    clearTimeout(deadlines.get(socket));
    deadlines.delete(socket);
  };

  // Counted on the raw TCP connection, so TLS clients that never finish a handshake count too.
  const countConnection = (socket: Socket) => {
    const ip = socket.remoteAddress ?? '';
    const open = (perIp.get(ip) ?? 0) + 1;
    if (open > o.maxConnectionsPerIp) {
      socket.destroy();
      return;
    }
    perIp.set(ip, open);
    socket.once('close', () => {
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left <= 0) perIp.delete(ip);
      else perIp.set(ip, left);
    });
  };
  if (o.maxConnectionsPerIp > 0) s.on('connection', countConnection);

  const startHeadersDeadline = (socket: Socket) => {
    if (socket.destroyed) return;
    arm(socket, o.headersTimeout);
    socket.once('close', () => disarm(socket));
  };
  // An https server hands the decrypted socket to HTTP on 'secureConnection'; plain HTTP on
  // 'connection'. The TLS handshake itself is bounded by https.createServer's handshakeTimeout.
  const isTls = typeof (server as unknown as { addContext?: unknown }).addContext === 'function';
  s.on(isTls ? 'secureConnection' : 'connection', startHeadersDeadline);

  // An upgraded (WebSocket) or CONNECT socket leaves HTTP without a 'request' event; its
  // deadline must go too. Listening for 'upgrade' would change how Node treats upgrade requests
  // in apps that do not handle them, so the event is observed as it is emitted instead.
  const emit = s.emit;
  s.emit = function observeHandover(this: HttpServer, event: string | symbol, ...args: unknown[]) {
    if (event === 'upgrade' || event === 'connect') disarm(args[1] as Socket);
    return emit.apply(this, [event, ...args] as Parameters<HttpServer['emit']>);
  } as HttpServer['emit'];

  s.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    if (req.complete) {
      disarm(socket);
    } else {
      // Headers are in; the body must follow within requestTimeout.
      arm(socket, o.requestTimeout, () => !req.complete);
    }
    res.once('finish', () => {
      if (socket.destroyed) return;
      // Waiting for the next request on a kept-alive connection: idle time, then its headers.
      arm(socket, o.keepAliveTimeout + o.headersTimeout);
    });
  });
  return server;
}
