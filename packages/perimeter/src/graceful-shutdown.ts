// gracefulShutdown(): on SIGTERM/SIGINT stop accepting, drain in-flight requests, close resources, exit.
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import {
  checkOptions,
  describe,
  info,
  PerimeterConfigError,
  type PerimeterLogger,
  positiveInt,
  warn,
} from './errors.js';

/** Closes one resource: a pool's `end()`, a client's `quit()`, a broker connection's `endAsync()`. */
export type Closer = () => unknown;

export interface GracefulShutdownOptions {
  /** Signals that start the shutdown. Default `['SIGTERM', 'SIGINT']`. A second one forces exit. */
  signals?: readonly NodeJS.Signals[];
  /**
   * Milliseconds in-flight requests get to finish after the server stops accepting; connections
   * still open then are cut. Default `10_000`. Keep it below your orchestrator's grace period
   * (Kubernetes: 30 s) minus `closeTimeoutMs`.
   */
  timeoutMs?: number;
  /** Milliseconds each registered closer and `onShutdown` get. Default `5_000`. */
  closeTimeoutMs?: number;
  /** Runs after the requests have drained, before registered closers. Default: none. */
  onShutdown?: Closer;
  /** Winston-shaped logger for shutdown events. Default: warnings to `process.emitWarning`, nothing else. */
  logger?: PerimeterLogger;
  /**
   * Called with the exit code (0 when everything drained and closed, 1 otherwise). Default
   * `process.exit`. `false` leaves the process running (tests, or when you exit yourself).
   */
  exit?: ((code: number) => void) | false;
}

export interface ShutdownController {
  /** Adds a resource to close after the requests drain; closed in reverse order of registration. */
  register(name: string, close: Closer): void;
  /** Starts the shutdown (as a signal would) and resolves with the exit code. Idempotent. */
  shutdown(reason?: string): Promise<number>;
  /** True once the shutdown started: answer readiness probes with 503 from then on. */
  readonly shuttingDown: boolean;
  /** Removes the signal listeners (for tests and hot reload). */
  dispose(): void;
}

const KNOWN = ['signals', 'timeoutMs', 'closeTimeoutMs', 'onShutdown', 'logger', 'exit'] as const;

function within(ms: number, work: () => unknown): Promise<'ok' | 'timeout' | 'error'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), ms);
    timer.unref();
    Promise.resolve()
      .then(work)
      .then(
        () => resolve('ok'),
        () => resolve('error'),
      )
      .finally(() => clearTimeout(timer));
  });
}

/**
 * Shuts an HTTP server down cleanly on a signal: stops accepting connections, lets in-flight
 * requests finish (their connections close after the response), cuts what is left after
 * `timeoutMs`, then runs `onShutdown` and the registered closers (database pools, Redis and MQTT
 * clients), and exits with 0, or 1 when something had to be cut or failed to close.
 *
 * @param server The HTTP(S) server.
 * @param options See {@link GracefulShutdownOptions}.
 * @returns A {@link ShutdownController} to register resources and read `shuttingDown`.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_NOT_A_SERVER`,
 *   `ERR_BULWARK_PERIMETER_INVALID_SIGNAL`, `ERR_BULWARK_PERIMETER_INVALID_NUMBER`,
 *   `ERR_BULWARK_PERIMETER_INVALID_OPTION` for a non-function `onShutdown` or `exit`.
 * @example
 * const shutdown = gracefulShutdown(server, { logger });
 * shutdown.register('postgres', () => pool.end());
 * app.get('/ready', (_req, res) => res.sendStatus(shutdown.shuttingDown ? 503 : 204));
 */
export function gracefulShutdown(
  server: HttpServer | HttpsServer,
  options?: GracefulShutdownOptions,
): ShutdownController {
  if (
    !server ||
    typeof (server as HttpServer).close !== 'function' ||
    typeof (server as HttpServer).on !== 'function'
  ) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_NOT_A_SERVER',
      `gracefulShutdown: ${describe(server)} is not an HTTP server. Pass what http.createServer(app) or app.listen() returns.`,
    );
  }
  const opts = checkOptions('gracefulShutdown', options, KNOWN) as GracefulShutdownOptions;
  const signals = opts.signals ?? ['SIGTERM', 'SIGINT'];
  if (
    !Array.isArray(signals) ||
    signals.some(
      (s) =>
        typeof s !== 'string' || !/^SIG[A-Z0-9]+$/.test(s) || s === 'SIGKILL' || s === 'SIGSTOP',
    )
  ) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_SIGNAL',
      `gracefulShutdown: signals: ${describe(signals)} must be signal names that can be caught, such as ['SIGTERM', 'SIGINT'].`,
    );
  }
  const timeoutMs = positiveInt('gracefulShutdown', 'timeoutMs', opts.timeoutMs ?? 10_000);
  const closeTimeoutMs = positiveInt(
    'gracefulShutdown',
    'closeTimeoutMs',
    opts.closeTimeoutMs ?? 5_000,
  );
  for (const key of ['onShutdown', 'exit'] as const) {
    const v = opts[key];
    if (v !== undefined && typeof v !== 'function' && !(key === 'exit' && v === false)) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_OPTION',
        `gracefulShutdown: ${key}: ${describe(v)} is not a function.`,
      );
    }
  }
  const exit = opts.exit === undefined ? (code: number) => process.exit(code) : opts.exit;
  const logger = opts.logger;
  const s = server as HttpServer;

  const closers: { name: string; close: Closer }[] = [];
  const inFlight = new Set<ServerResponse>();
  let shuttingDown = false;
  let running: Promise<number> | undefined;

  s.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    inFlight.add(res);
    if (shuttingDown && !res.headersSent) res.setHeader('Connection', 'close');
    res.once('close', () => {
      inFlight.delete(res);
      if (shuttingDown) s.closeIdleConnections?.();
    });
  });

  const run = async (reason: string): Promise<number> => {
    const started = Date.now();
    info(logger, 'shutdown started', { reason, inFlight: inFlight.size });
    let code = 0;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const res of inFlight) {
      if (!res.headersSent) res.setHeader('Connection', 'close');
    }
    s.closeIdleConnections?.();
    const drained = await Promise.race([
      closed.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref()),
    ]);
    if (!drained) {
      code = 1;
      warn(
        logger,
        'ERR_BULWARK_PERIMETER_SHUTDOWN_TIMEOUT',
        `gracefulShutdown: ${inFlight.size} request(s) still running after ${timeoutMs} ms; closing their connections.`,
      );
      s.closeAllConnections?.();
    }
    const steps = [
      ...(opts.onShutdown ? [{ name: 'onShutdown', close: opts.onShutdown }] : []),
      ...[...closers].reverse(),
    ];
    for (const step of steps) {
      const result = await within(closeTimeoutMs, step.close);
      if (result !== 'ok') {
        code = 1;
        warn(
          logger,
          'ERR_BULWARK_PERIMETER_SHUTDOWN_CLOSE',
          `gracefulShutdown: closing ${step.name} ${result === 'timeout' ? `took longer than ${closeTimeoutMs} ms` : 'failed'}.`,
        );
      }
    }
    info(logger, 'shutdown complete', { reason, code, durationMs: Date.now() - started });
    return code;
  };

  const shutdown = (reason = 'shutdown'): Promise<number> => {
    if (!running) {
      shuttingDown = true;
      running = run(reason).then((code) => {
        if (exit) exit(code);
        return code;
      });
    }
    return running;
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      // A second signal means the operator does not want to wait.
      warn(
        logger,
        'ERR_BULWARK_PERIMETER_SHUTDOWN_FORCED',
        `gracefulShutdown: ${signal} received again; exiting now.`,
      );
      s.closeAllConnections?.();
      if (exit) exit(1);
      return;
    }
    void shutdown(signal);
  };
  for (const signal of signals) process.on(signal, onSignal);

  return {
    register(name, close) {
      if (typeof name !== 'string' || typeof close !== 'function') {
        throw new PerimeterConfigError(
          'ERR_BULWARK_PERIMETER_INVALID_OPTION',
          'gracefulShutdown: register(name, close) needs a name and a function, such as register("postgres", () => pool.end()).',
        );
      }
      closers.push({ name, close });
    },
    shutdown,
    get shuttingDown() {
      return shuttingDown;
    },
    dispose() {
      for (const signal of signals) process.off(signal, onSignal);
    },
  };
}
