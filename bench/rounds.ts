// Interleaved measuring rounds shared by the HTTP suites, so every row sees the same machine drift.
import type { BenchRow } from './types.js';

/** What one measuring run reports: autocannon's result has this shape. */
export interface RoundResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
}

/**
 * Measures every entry `rounds` times, alternating the order each round so drift on a shared
 * machine hits every row alike, and returns one row per entry with the mean req/s, p50 and p99.
 */
export async function interleavedRows<T>(
  entries: Record<string, T>,
  rounds: number,
  measure: (entry: T) => Promise<RoundResult>,
): Promise<BenchRow[]> {
  const totals = new Map<string, { rps: number[]; p50: number[]; p99: number[] }>();
  for (let round = 0; round < rounds; round++) {
    const order = Object.entries(entries);
    if (round % 2 === 1) order.reverse();
    for (const [name, entry] of order) {
      const result = await measure(entry);
      const total = totals.get(name) ?? { rps: [], p50: [], p99: [] };
      total.rps.push(result.requests.average);
      total.p50.push(result.latency.p50);
      total.p99.push(result.latency.p99);
      totals.set(name, total);
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return [...totals].map(([name, t]) => ({
    name,
    opsPerSec: mean(t.rps),
    p50Ms: mean(t.p50),
    p99Ms: mean(t.p99),
  }));
}
