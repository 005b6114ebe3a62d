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
}

export interface BenchTarget {
  /** e.g. `bulwark / express-validator`. */
  name: string;
  ratio: number;
  /** The ratio the target asks for (ratio >= min). */
  min: number;
  met: boolean;
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
}

export interface BenchSuite {
  name: string;
  run(): Promise<BenchSuiteResult>;
}
