// Tracks checked-out clients and reports those held longer than `leakWarningMs`, with the stack that took them.
import type pg from 'pg';
import { channels, type DbLogger, warn } from './diagnostics.js';

interface Checkout {
  at: number;
  site: { stack?: string } | undefined;
  reported: boolean;
}

/** Where a checkout happened; the stack string is only built when a leak is reported. */
export function captureSite(below: (...args: never[]) => unknown): { stack?: string } {
  const site: { stack?: string } = {};
  Error.captureStackTrace(site, below);
  return site;
}

export class CheckoutTracker {
  readonly #out = new Map<pg.PoolClient, Checkout>();
  readonly #leakWarningMs: number;
  readonly #logger: DbLogger | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(leakWarningMs: number, logger: DbLogger | undefined) {
    this.#leakWarningMs = leakWarningMs;
    this.#logger = logger;
  }

  get tracksLeaks(): boolean {
    return this.#leakWarningMs > 0;
  }

  isCheckedOut(client: pg.PoolClient): boolean {
    return this.#out.has(client);
  }

  acquired(client: pg.PoolClient, site: { stack?: string } | undefined): void {
    this.#out.set(client, { at: performance.now(), site, reported: false });
    if (this.#leakWarningMs > 0 && this.#timer === undefined) {
      // One sweep timer for the whole pool instead of one timer per checkout.
      const every = Math.max(25, Math.min(1000, Math.floor(this.#leakWarningMs / 2)));
      this.#timer = setInterval(() => this.#sweep(), every);
      this.#timer.unref();
    }
  }

  released(client: pg.PoolClient): void {
    this.#out.delete(client);
    if (this.#out.size === 0) this.stop();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    const now = performance.now();
    for (const [client, checkout] of this.#out) {
      const heldMs = Math.round(now - checkout.at);
      if (checkout.reported || heldMs < this.#leakWarningMs) continue;
      checkout.reported = true;
      const stack = (checkout.site?.stack ?? '').replace(/^.*\n/, '');
      const pid = (client as { processID?: number }).processID ?? undefined;
      if (channels.leak.hasSubscribers) channels.leak.publish({ heldMs, stack, pid });
      warn(
        this.#logger,
        'BULWARK_DB_LEAK',
        `A database client has been checked out for ${heldMs} ms without being released (leakWarningMs is ${this.#leakWarningMs}).`,
        { heldMs, stack, pid },
        `Checked out at:\n${stack}`,
      );
    }
  }
}
