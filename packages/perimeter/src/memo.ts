// A bounded memo for verdicts and header values worked out from a string: per-request work that
// depends only on a header's value is done once per distinct value.

/**
 * A map from a string to what `compute` returns for it, bounded to `limit` entries: when full it
 * is emptied before the next entry goes in. Keys longer than `maxKeyLength` are computed every
 * time and never kept, so the memory held is at most `limit` keys of `maxKeyLength` characters.
 * `compute` must be a pure function of its argument; then an entry can only ever hold the answer
 * that computing it again would give, and whoever chooses the keys (a client, for a Host header)
 * can cause misses, never a different answer.
 */
export class BoundedMemo<T extends NonNullable<unknown> | null> {
  readonly #entries = new Map<string, T>();
  readonly #limit: number;
  readonly #maxKeyLength: number;
  readonly #compute: (key: string) => T;

  constructor(limit: number, maxKeyLength: number, compute: (key: string) => T) {
    this.#limit = limit;
    this.#maxKeyLength = maxKeyLength;
    this.#compute = compute;
  }

  get(key: string): T {
    const known = this.#entries.get(key);
    if (known !== undefined) return known;
    const value = this.#compute(key);
    if (key.length <= this.#maxKeyLength) {
      // Emptying, rather than refusing new entries, lets the values in use come back after a
      // burst of one-off keys instead of missing for good.
      if (this.#entries.size >= this.#limit) this.#entries.clear();
      this.#entries.set(key, value);
    }
    return value;
  }

  /** How many entries are kept (for tests). */
  get size(): number {
    return this.#entries.size;
  }
}
