// Queries per second through createPool + db.query against a raw pg.Pool, measured in the same run.
import { createDb, createPool, sql } from '@bulwark/db-safety';
import { createTestDatabase } from '@bulwark/test-utils';
import pg from 'pg';
import type { BenchRow, BenchSuite, BenchSuiteResult } from '../types.js';

const CONCURRENCY = 8;
const ROUND_MS = 2000;
const ROUNDS = 4;

type Runner = (i: number) => Promise<unknown>;

interface Measured {
  ops: number;
  ms: number;
  latencies: number[];
  /** Client-side CPU time (user + system) in microseconds. */
  cpuUs: number;
}

/** Keeps CONCURRENCY queries in flight for `ms` and counts how many complete. */
async function measure(run: Runner, ms: number): Promise<Measured> {
  const latencies: number[] = [];
  let ops = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + ms;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      let i = worker;
      while (performance.now() < deadline) {
        const t = performance.now();
        await run(i);
        latencies.push(performance.now() - t);
        ops++;
        i += CONCURRENCY;
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return { ops, ms: performance.now() - started, latencies, cpuUs: used.user + used.system };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

export const suite: BenchSuite = {
  name: 'db-safety',
  async run(): Promise<BenchSuiteResult> {
    const database = await createTestDatabase('bench_db_safety');
    const raw = new pg.Pool({ connectionString: database.url, max: CONCURRENCY });
    raw.on('error', () => {});
    const safe = createPool({
      connectionString: database.url,
      max: CONCURRENCY,
      leakWarningMs: 30_000,
    });
    const db = createDb(safe);
    const runners: Record<string, Runner> = {
      'raw pg.Pool pool.query': (i) => raw.query('SELECT $1::int AS n', [i]),
      'createPool + pool.query': (i) => safe.query('SELECT $1::int AS n', [i]),
      'createPool + db.query(sql``)': (i) => db.query(sql`SELECT ${i}::int AS n`),
    };
    const totals = new Map<string, Measured>();
    try {
      for (const run of Object.values(runners)) await measure(run, 300);
      // Interleaved rounds, so drift on a shared machine hits every row alike.
      for (let round = 0; round < ROUNDS; round++) {
        const order = Object.entries(runners);
        if (round % 2 === 1) order.reverse();
        for (const [name, run] of order) {
          const result = await measure(run, ROUND_MS);
          const total = totals.get(name) ?? { ops: 0, ms: 0, latencies: [], cpuUs: 0 };
          total.ops += result.ops;
          total.ms += result.ms;
          total.cpuUs += result.cpuUs;
          for (const latency of result.latencies) total.latencies.push(latency);
          totals.set(name, total);
        }
      }
    } finally {
      await raw.end();
      await safe.end();
      await database.drop();
    }
    const rows: BenchRow[] = [...totals].map(([name, total]) => {
      const sorted = total.latencies.sort((a, b) => a - b);
      return {
        name,
        opsPerSec: (total.ops / total.ms) * 1000,
        p50Ms: percentile(sorted, 0.5),
        p99Ms: percentile(sorted, 0.99),
      };
    });
    const baseline = 'raw pg.Pool pool.query';
    const base = rows.find((row) => row.name === baseline)!.opsPerSec;
    const ratios = Object.fromEntries(
      rows.map((row) => [`${row.name} / ${baseline}`, row.opsPerSec / base]),
    );
    const dbRatio = ratios[`createPool + db.query(sql\`\`) / ${baseline}`]!;
    return {
      suite: 'db-safety',
      baseline,
      rows,
      ratios,
      targets: [
        {
          name: `createPool + db.query(sql\`\`) / ${baseline}`,
          ratio: dbRatio,
          min: 0.95,
          met: dbRatio >= 0.95,
        },
      ],
      notes: [
        ...[...totals].map(
          ([name, total]) =>
            `${name}: ${(total.cpuUs / total.ops).toFixed(1)} µs of client CPU per query`,
        ),
        `${CONCURRENCY} queries in flight, ${ROUNDS} interleaved rounds of ${ROUND_MS} ms per row, SELECT $1::int on loopback PostgreSQL.`,
        'createPool sends its timeouts as startup parameters, so a query costs the same single round trip as with a raw pool.',
      ],
    };
  },
};
