// Tracks checked-out clients and reports those held longer than `leakWarningMs`, with the stack that took them.
import type pg from 'pg';
import { channels, type DbLogger, warn } from './diagnostics.js';

/**
 * The key of the function each client of a `createPool()` pool carries: calling it declares the
 * current checkout held on purpose (a LISTEN connection, a lock holder), so it is not reported as
 * a leak. A well-known symbol, so a package that must not depend on this one can look it up:
 * `client[Symbol.for('bulwark.db.held')]?.()`. It answers true when the client was checked out,
 * and lasts until the client is released.
 */
export const HELD = Symbol.for('bulwark.db.held');

interface Checkout {
  at: number;
  site: { stack?: string } | undefined;
  reported: boolean;
  /** Declared long-lived by its holder through {@link HELD}; counted, never reported. */
  held: boolean;
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

  /** How many checkouts their holders declared long-lived; they are among those checked out. */
  get heldCount(): number {
    let count = 0;
    for (const checkout of this.#out.values()) if (checkout.held) count++;
    return count;
  }

  /** Gives a new connection of the pool the {@link HELD} function, bound to this tracker. */
  expose(client: pg.PoolClient): void {
    Object.defineProperty(client, HELD, { value: () => this.hold(client), configurable: true });
  }

  /**
   * Declares `client`'s current checkout long-lived on purpose: it stays checked out and counted,
   * but is never reported as a leak. False when the client is not checked out.
   */
  hold(client: pg.PoolClient): boolean {
    const checkout = this.#out.get(client);
    if (checkout === undefined) return false;
    checkout.held = true;
    return true;
  }

  acquired(client: pg.PoolClient, site: { stack?: string } | undefined): void {
    this.#out.set(client, { at: performance.now(), site, reported: false, held: false });
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
    let watching = false;
    for (const [client, checkout] of this.#out) {
      if (checkout.reported || checkout.held) continue;
      const heldMs = Math.round(now - checkout.at);
      if (heldMs < this.#leakWarningMs) {
        watching = true;
        continue;
      }
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
    // Only held or already reported checkouts left: the next checkout starts the sweep again.
    if (!watching) this.stop();
  }
}
