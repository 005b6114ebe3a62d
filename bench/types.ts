// The shape every benchmark suite returns, so one run can be written to results.json.

export interface BenchRow {
  /** What was measured, e.g. `bulwark validate` or `express-validator`. */
  name: string;
  /** Operations (or requests) per second. */
  opsPerSec: number;
  /** Latency percentiles in milliseconds, where the suite measures them. */
  p50Ms?: number;
  p99Ms?: number;
  /** Resident set size in MB, for memory suites. */
  rssMb?: number;
  /** CPU time of the serving process per request, in µs, for suites that serve from a process of their own. */
  cpuUsPerRequest?: number;
  /** Write system calls of the serving process's main thread per request, where /proc has them. */
  writesPerRequest?: number;
}

export interface BenchTarget {
  /** e.g. `bulwark / express-validator`. */
  name: string;
  ratio: number;
  /** The value the target asks for at least (ratio >= min). */
  min?: number;
  /** The value the target asks for at most (ratio <= max). */
  max?: number;
  met: boolean;
}

/** What one layer of a stack adds per request, measured in the same run. */
export interface LayerCost {
  layer: string;
  /** CPU µs per request this layer adds to the row before it. */
  cpuUs: number;
  /** Median absolute deviation of that difference over the rounds: the run's noise on it. */
  spreadUs?: number;
  /** CPU µs per request this layer adds in one process without sockets: its own JavaScript. */
  inProcessUs?: number;
  /** Median absolute deviation of the in-process difference over its batches. */
  inProcessSpreadUs?: number;
  /** What the layer does per request. */
  work: string;
}

export interface BenchSuiteResult {
  suite: string;
  /** The row every ratio is measured against, measured in the same run. */
  baseline: string;
  rows: BenchRow[];
  /** `row / baseline` (or the pairs named in the key) for each row. */
  ratios: Record<string, number>;
  targets: BenchTarget[];
  notes?: string[];
  /** Per-layer costs, for suites that build a stack up one layer at a time. */
  layerCosts?: LayerCost[];
  /** CPU µs per request of the first row (no layer on) in one process without sockets. */
  inProcessBaseUs?: number;
}

export interface BenchSuite {
  name: string;
  run(): Promise<BenchSuiteResult>;
}

/** A target met when `value` is at least `min`. */
export function atLeast(name: string, value: number, min: number): BenchTarget {
  return { name, ratio: value, min, met: value >= min };
}

/** A target met when `value` is at most `max`. */
export function atMost(name: string, value: number, max: number): BenchTarget {
  return { name, ratio: value, max, met: value <= max };
}

/** How a target reads in a table: `≥ 1.5` or `≤ 10`. */
export function wantedText(target: BenchTarget): string {
  return target.max !== undefined ? `≤ ${target.max}` : `≥ ${target.min}`;
}
