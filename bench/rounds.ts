// Interleaved measuring rounds shared by the HTTP suites, so every row sees the same machine drift.
import type { BenchRow } from './types.js';

/** What one measuring run reports: autocannon's result has this shape, plus the app's own figures. */
export interface RoundResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  cpuUsPerRequest?: number;
  writesPerRequest?: number;
}

export const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The median of `values` and their median absolute deviation from it: the run's noise on it. */
export function medianAndSpread(values: number[]): { value: number; spread: number } {
  const value = median(values);
  return { value, spread: median(values.map((v) => Math.abs(v - value))) };
}

/**
 * Measures every entry `rounds` times, alternating the order each round so drift on a shared
 * machine hits every row alike, and returns one row per entry with the median over the rounds
 * of req/s, p50, p99 and, where the round reports them, CPU µs and write calls per request.
 */
export async function interleavedRows<T>(
  entries: Record<string, T>,
  rounds: number,
  measure: (entry: T, name: string) => Promise<RoundResult>,
  /** Each round's results by entry name, for figures paired within a round. */
  perRound?: Record<string, RoundResult>[],
): Promise<BenchRow[]> {
  const totals = new Map<string, RoundResult[]>();
  for (let round = 0; round < rounds; round++) {
    const order = Object.entries(entries);
    if (round % 2 === 1) order.reverse();
    const thisRound: Record<string, RoundResult> = {};
    for (const [name, entry] of order) {
      const results = totals.get(name) ?? [];
      const result = await measure(entry, name);
      results.push(result);
      totals.set(name, results);
      thisRound[name] = result;
    }
    perRound?.push(thisRound);
  }
  return Object.keys(entries).map((name) => {
    const results = totals.get(name)!;
    const of = (pick: (r: RoundResult) => number | undefined) => {
      const values = results.map(pick).filter((v): v is number => v !== undefined);
      return values.length === results.length ? median(values) : undefined;
    };
    const row: BenchRow = {
      name,
      opsPerSec: of((r) => r.requests.average)!,
      p50Ms: of((r) => r.latency.p50)!,
      p99Ms: of((r) => r.latency.p99)!,
    };
    const cpu = of((r) => r.cpuUsPerRequest);
    if (cpu !== undefined) row.cpuUsPerRequest = cpu;
    const writes = of((r) => r.writesPerRequest);
    if (writes !== undefined) row.writesPerRequest = writes;
    return row;
  });
}
