// Whole stacks on one authenticated JSON route, each app in a process of its own: bare Express,
// the no-op floor, the best-case hand-built anchor (with and without pino-http) and Bulwark (with
// and without its access log), with CPU time per request, promises per request and memory.
import { get } from 'node:http';
import { migrate } from '@bulwark/rbac';
import { createTestDatabase } from '@bulwark/test-utils';
import pg from 'pg';
import {
  type AppProcess,
  logFolder,
  measureRound,
  QUICK,
  type Round,
  startApp,
} from '../app-process.js';
import {
  type AppSpec,
  AUDIENCE,
  CLAIMS,
  ISSUER,
  OWN_HEADERS,
  requestHeaders,
  SECRET_HEX,
  TENANT,
  tokenFor,
} from '../apps.js';
import { loadFromChild } from '../load.js';
import { interleavedRows, medianAndSpread, type RoundResult } from '../rounds.js';
import {
  atLeast,
  atMost,
  type BenchRow,
  type BenchSuite,
  type BenchSuiteResult,
} from '../types.js';

export const CONNECTIONS = 50;
const ROUNDS = QUICK ? 2 : 7;
const ROUND_S = QUICK ? 2 : 5;
const WARMUP_S = QUICK ? 1 : 3;
const COUNT_REQUESTS = QUICK ? 200 : 2000;
const MEMORY_CLIENTS = QUICK ? 5000 : 50_000;
const MEMORY_REQUESTS = QUICK ? 10_000 : 100_000;

const BARE = 'bare express';
const BARE_CLASSES = 'bare express, requestClasses() server';
const FLOOR = 'nine no-op layers + same headers';
const ANCHOR = 'best-case anchor';
const ANCHOR_LOG = 'best-case anchor + pino-http';
const BULWARK = 'bulwark stack';
const BULWARK_LOG = 'bulwark stack + httpLogger()';
const EMPTY = 'nine empty layers';

/** The one request every app answers, with the same token. */
export const HEADERS = requestHeaders(tokenFor());

/**
 * Runs `measure` with the URL of a fresh test database where users user-0 … user-<users - 1>
 * (user-1 among them) hold the viewer role in tenant acme, and drops the database afterwards.
 */
export async function withDatabase<T>(
  name: string,
  users: number,
  measure: (databaseUrl: string) => Promise<T>,
): Promise<T> {
  const db = await createTestDatabase(name);
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  try {
    await migrate(pool);
    await pool.query(`INSERT INTO bulwark_rbac.tenants (id, name) VALUES ($1, 'Acme')`, [TENANT]);
    await pool.query(
      `INSERT INTO bulwark_rbac.users (subject, tenant_id)
       SELECT 'user-' || g, $1 FROM generate_series(0, $2::int - 1) AS g`,
      [TENANT, users],
    );
    await pool.query(
      `INSERT INTO bulwark_rbac.user_roles (subject, role, tenant_id)
       SELECT 'user-' || g, 'viewer', $1 FROM generate_series(0, $2::int - 1) AS g`,
      [TENANT, users],
    );
    await pool.end();
    return await measure(db.url);
  } finally {
    await db.drop();
  }
}

/** Starts one app process per entry, in order, closing those started if one fails. */
export async function startAll(
  specs: Record<string, AppSpec>,
  options: { logPath: (name: string) => string; databaseUrl: string },
): Promise<Record<string, AppProcess>> {
  const apps: Record<string, AppProcess> = {};
  try {
    for (const [name, spec] of Object.entries(specs)) {
      apps[name] = await startApp(name, spec, {
        logPath: options.logPath(name),
        databaseUrl: options.databaseUrl,
      });
    }
    return apps;
  } catch (error) {
    await closeAll(apps);
    throw error;
  }
}

export async function closeAll(apps: Record<string, AppProcess>): Promise<void> {
  await Promise.all(Object.values(apps).map((app) => app.close()));
}

/** Warm-up (JIT, the permission cache's one database load), then the interleaved rounds. */
export async function measureApps(
  apps: Record<string, AppProcess>,
  rounds: number,
  seconds: number,
  perRound?: Record<string, RoundResult>[],
): Promise<BenchRow[]> {
  for (const app of Object.values(apps)) {
    await loadFromChild({
      url: app.url,
      connections: CONNECTIONS,
      duration: WARMUP_S,
      headers: HEADERS,
    });
  }
  return interleavedRows(
    apps,
    rounds,
    (app): Promise<Round> =>
      measureRound(app, { connections: CONNECTIONS, duration: seconds, headers: HEADERS }),
    perRound,
  );
}

/** The headers a Bulwark answer carries beyond Express's own, read off one real request. */
async function headersOf(app: AppProcess): Promise<[string, string][]> {
  // node:http keeps each name as the app wrote it (fetch lower-cases them), so the floor sets
  // the same names, in the same case, as the Bulwark app: Node.js lower-cases each name it is
  // given, which costs more for a name that is not lower-case already.
  const { status, raw } = await new Promise<{ status: number; raw: string[] }>(
    (resolve, reject) => {
      get(app.url, { headers: HEADERS }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, raw: res.rawHeaders }));
      }).on('error', reject);
    },
  );
  if (status !== 200) throw new Error(`bulwark stack answered ${status}`);
  const headers: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (!OWN_HEADERS.has(name.toLowerCase())) headers.push([name, raw[i + 1]!]);
  }
  return headers;
}

/** RSS, V8 heap in use and V8 heap held (used or not), in MB, after two full garbage collections. */
interface Memory {
  rss: number;
  heap: number;
  heapTotal: number;
}

interface MemoryFigures {
  row: BenchRow;
  before: Memory;
  first: Memory;
  second: Memory;
  third: Memory;
}

/**
 * RSS of a Bulwark stack process behind one trusted proxy after `MEMORY_REQUESTS` requests from
 * `MEMORY_CLIENTS` clients, each with its own address and token (so the rate-limit store, the
 * verified-token cache and the permission cache all see every client), and after two more rounds
 * of as many from the same clients. The first round fills the caches and lets V8 size its heap
 * for the load; a process whose caches are bounded then holds (nearly) the same RSS from the
 * second round to the third. With `empty`, the same app with every layer empty under the same
 * load: what Express, Node.js and V8 hold without Bulwark's caches and stores.
 */
async function memoryFigures(
  databaseUrl: string,
  logPath: string,
  empty = false,
): Promise<MemoryFigures> {
  const app = await startApp(
    empty ? 'memory, empty layers' : 'memory',
    { kind: 'bulwark', behindProxy: true, ...(empty ? { real: 0 } : {}) },
    { logPath, databaseUrl },
  );
  try {
    const mb = async (): Promise<Memory> => {
      const { rssBytes, heapUsedBytes, heapTotalBytes } = await app.memory();
      return {
        rss: rssBytes / 2 ** 20,
        heap: heapUsedBytes / 2 ** 20,
        heapTotal: heapTotalBytes / 2 ** 20,
      };
    };
    await loadFromChild({ url: app.url, connections: CONNECTIONS, amount: 200, headers: HEADERS });
    const before = await mb();
    const load = () =>
      loadFromChild({
        url: app.url,
        connections: CONNECTIONS,
        amount: MEMORY_REQUESTS,
        headers: { origin: HEADERS.origin! },
        clients: {
          count: MEMORY_CLIENTS,
          token: { secretHex: SECRET_HEX, issuer: ISSUER, audience: AUDIENCE, claims: CLAIMS },
        },
      });
    const started = performance.now();
    const firstLoad = await load();
    const first = await mb();
    const secondLoad = await load();
    const second = await mb();
    const thirdLoad = await load();
    const seconds = (performance.now() - started) / 1000;
    const third = await mb();
    for (const result of [firstLoad, secondLoad, thirdLoad]) {
      if (result.non2xx > 0 || result.errors > 0) {
        throw new Error(`memory run: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
      }
    }
    return {
      row: {
        name: `${empty ? EMPTY : BULWARK}, ${(3 * MEMORY_REQUESTS) / 1000}k requests from ${MEMORY_CLIENTS / 1000}k clients`,
        opsPerSec:
          (firstLoad.requests.total + secondLoad.requests.total + thirdLoad.requests.total) /
          seconds,
        p50Ms: thirdLoad.latency.p50,
        p99Ms: thirdLoad.latency.p99,
        rssMb: third.rss,
      },
      before,
      first,
      second,
      third,
    };
  } finally {
    await app.close();
  }
}

const fixed = (value: number, digits = 1) => value.toFixed(digits);
const signed = (value: number, digits = 1) => `${value >= 0 ? '+' : ''}${fixed(value, digits)}`;

/** RSS and V8 heap figures of one memory run, as the notes give them. */
function memoryText(memory: MemoryFigures): string {
  const { before, first, second, third } = memory;
  const mb = (m: Memory) => `${fixed(m.rss)} MB (${fixed(m.heap)} MB)`;
  return `RSS (V8 heap in use): ${mb(before)} before, ${mb(first)} after ${MEMORY_REQUESTS} requests, ${mb(second)} after ${MEMORY_REQUESTS} more from the same clients, ${mb(third)} after a third round of ${MEMORY_REQUESTS}: RSS ${fixed(second.rss / first.rss, 2)}× from the first round to the second, ${fixed(third.rss / second.rss, 2)}× from the second to the third. The V8 heap held (in use or not, the young generation grown to the load's allocation rate) after each round: ${fixed(first.heapTotal)}, ${fixed(second.heapTotal)} and ${fixed(third.heapTotal)} MB.`;
}

/** A figure taken within each round: the median over the rounds and its median absolute deviation. */
type Paired = ReturnType<typeof medianAndSpread>;
const plusMinus = ({ value, spread }: Paired, digits: number, sign = false) =>
  `${sign ? signed(value, digits) : fixed(value, digits)} ± ${fixed(spread, digits)}`;

export const suite: BenchSuite = {
  name: 'stacks',
  run: () =>
    withDatabase('bench_stacks', MEMORY_CLIENTS, async (databaseUrl) => {
      const logs = logFolder();
      try {
        const bulwark = await startApp(
          BULWARK,
          { kind: 'bulwark' },
          {
            logPath: logs.path(BULWARK),
            databaseUrl,
          },
        );
        let floorHeaders: [string, string][];
        try {
          floorHeaders = await headersOf(bulwark);
        } finally {
          await bulwark.close();
        }
        const specs: Record<string, AppSpec> = {
          [BARE]: { kind: 'bare' },
          [BARE_CLASSES]: { kind: 'bare', classes: true },
          [FLOOR]: { kind: 'floor', headers: floorHeaders },
          [ANCHOR]: { kind: 'anchor' },
          [ANCHOR_LOG]: { kind: 'anchor', accessLog: true },
          [BULWARK]: { kind: 'bulwark' },
          [BULWARK_LOG]: { kind: 'bulwark', accessLog: true },
        };
        const apps = await startAll(specs, { logPath: logs.path, databaseUrl });
        let rows: BenchRow[];
        const perRound: Record<string, RoundResult>[] = [];
        const promises: Record<string, number> = {};
        try {
          rows = await measureApps(apps, ROUNDS, ROUND_S, perRound);
          // Counted after the timed rounds: async hooks slow every promise while they are on.
          for (const name of [BARE, ANCHOR, BULWARK, BULWARK_LOG]) {
            promises[name] =
              (await apps[name]!.countPromises(COUNT_REQUESTS, HEADERS)) / COUNT_REQUESTS;
          }
        } finally {
          await closeAll(apps);
        }
        const memory = await memoryFigures(databaseUrl, logs.path('memory'));
        const emptyMemory = await memoryFigures(databaseUrl, logs.path('memory-empty'), true);

        const row = (name: string) => rows.find((r) => r.name === name)!;
        const writes = (name: string) => row(name).writesPerRequest;
        // Figures comparing two apps are taken within each round, where the two ran less than a
        // minute apart, then the median over the rounds: a drift of the machine's speed between
        // rounds moves both apps of a round alike and cancels out of their ratio.
        const paired = (of: (round: Record<string, RoundResult>) => number): Paired => {
          const values = perRound.map(of).filter((value) => Number.isFinite(value));
          return values.length > 0
            ? medianAndSpread(values)
            : { value: Number.NaN, spread: Number.NaN };
        };
        const roundCpu = (round: Record<string, RoundResult>, name: string) =>
          round[name]?.cpuUsPerRequest ?? Number.NaN;
        const roundOps = (round: Record<string, RoundResult>, name: string) =>
          round[name]?.requests.average ?? Number.NaN;
        const cpuRatio = (name: string, to = BARE) =>
          paired((round) => roundCpu(round, name) / roundCpu(round, to));
        const cpuAdded = (name: string, to = BARE) =>
          paired((round) => roundCpu(round, name) - roundCpu(round, to));
        const opsRatio = (name: string, to: string) =>
          paired((round) => roundOps(round, name) / roundOps(round, to));
        const ratios: Record<string, number> = {};
        for (const { name } of rows) {
          ratios[`${name} req/s / ${BARE}`] = opsRatio(name, BARE).value;
          ratios[`${name} req/s / ${ANCHOR}`] = opsRatio(name, ANCHOR).value;
          ratios[`${name} CPU per request / ${BARE}`] = cpuRatio(name).value;
        }
        ratios[`${BULWARK_LOG} req/s / ${ANCHOR_LOG}`] = opsRatio(BULWARK_LOG, ANCHOR_LOG).value;
        const bulwarkCpu = cpuRatio(BULWARK);
        const bulwarkOps = opsRatio(BULWARK, ANCHOR);
        const bulwarkLogCpu = cpuRatio(BULWARK_LOG);
        const accessLog = cpuAdded(BULWARK_LOG, BULWARK);
        const pinoLog = cpuAdded(ANCHOR_LOG, ANCHOR);
        const logWrites =
          writes(BULWARK_LOG) !== undefined && writes(BULWARK) !== undefined
            ? writes(BULWARK_LOG)! - writes(BULWARK)!
            : undefined;
        const extraPromises = promises[BULWARK]! - promises[BARE]!;
        rows.push(memory.row, emptyMemory.row);

        const targets = [
          atMost(`${BULWARK} CPU per request / ${BARE}`, bulwarkCpu.value, 1.6),
          atLeast(`${BULWARK} req/s / ${ANCHOR}`, bulwarkOps.value, 1.5),
          atMost(`${BULWARK_LOG} CPU per request / ${BARE}`, bulwarkLogCpu.value, 1.8),
          atMost(
            'access-log CPU µs per request (httpLogger() row − bulwark row)',
            accessLog.value,
            10,
          ),
          ...(logWrites === undefined
            ? []
            : [
                atMost(
                  'synchronous log writes per request (main-thread write calls, httpLogger() row − bulwark row)',
                  logWrites,
                  0.1,
                ),
              ]),
          atMost(`promises per request on the 200 path, ${BULWARK} − ${BARE}`, extraPromises, 4),
          atMost(
            `RSS after ${(3 * MEMORY_REQUESTS) / 1000}k / after ${(2 * MEMORY_REQUESTS) / 1000}k requests from ${MEMORY_CLIENTS / 1000}k clients`,
            memory.third.rss / memory.second.rss,
            1.1,
          ),
          atMost(
            `V8 heap in use after ${(3 * MEMORY_REQUESTS) / 1000}k / after ${(2 * MEMORY_REQUESTS) / 1000}k requests from ${MEMORY_CLIENTS / 1000}k clients`,
            memory.third.heap / memory.second.heap,
            1.1,
          ),
        ];
        const result: BenchSuiteResult = {
          suite: 'stacks',
          baseline: BARE,
          rows,
          ratios,
          targets,
          notes: [
            `autocannon, ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${ROUND_S} s per app (the table's figures are the median of the rounds) after a ${WARMUP_S} s warm-up each, GET /devices/acme-sensor-1 with the same HS256 Bearer token and an allowed Origin, on loopback. Each app runs in a process of its own and the load generator in another; CPU µs per request is that app process's CPU time (user + system, all threads, from process.cpuUsage()) over a round divided by the requests it answered in it. A figure comparing two apps (a ratio, a difference, every target) is taken within each round and is the median over the rounds; after ± is its median absolute deviation over the rounds, this run's noise on it.`,
            `CPU µs per request: ${rows
              .filter((r) => r.cpuUsPerRequest !== undefined)
              .map((r) => `${r.name} ${fixed(r.cpuUsPerRequest!)}`)
              .join('; ')}. CPU per request ÷ bare: ${rows
              .filter((r) => r.cpuUsPerRequest !== undefined && r.name !== BARE)
              .map((r) => `${r.name} ${plusMinus(cpuRatio(r.name), 2)}`)
              .join('; ')}.`,
            `CPU µs per request added to bare express's (the ratios above also carry what the machine's kernel and network stack charge for every request, which differs more between machines than what the layers themselves add): ${rows
              .filter((r) => r.cpuUsPerRequest !== undefined && r.name !== BARE)
              .map((r) => `${r.name} ${plusMinus(cpuAdded(r.name), 1, true)}`)
              .join('; ')}.`,
            `The same served alike: CPU per request ÷ ${BARE_CLASSES}, both served by a requestClasses() server: ${BULWARK} ${plusMinus(cpuRatio(BULWARK, BARE_CLASSES), 2)}; ${BULWARK_LOG} ${plusMinus(cpuRatio(BULWARK_LOG, BARE_CLASSES), 2)}. ${BARE_CLASSES} ÷ ${BARE}: ${plusMinus(cpuRatio(BARE_CLASSES), 2)}.`,
            `req/s ÷ bare: ${rows
              .filter((r) => r.cpuUsPerRequest !== undefined && r.name !== BARE)
              .map((r) => `${r.name} ${plusMinus(opsRatio(r.name, BARE), 2)}`)
              .join(
                '; ',
              )}. req/s ÷ ${ANCHOR}: ${BULWARK} ${plusMinus(bulwarkOps, 2)}, ${BULWARK_LOG} ÷ ${ANCHOR_LOG} ${plusMinus(opsRatio(BULWARK_LOG, ANCHOR_LOG), 2)}.`,
            `Access log: httpLogger() adds ${plusMinus(accessLog, 1)} µs of CPU per request to the Bulwark stack (the two ran one after the other in every round)${logWrites === undefined ? '' : ` and ${fixed(logWrites, 2)} write calls per request on the event-loop thread (1.00 is one synchronous write per request; writes done by libuv's thread pool are not counted)`}; pino-http adds ${plusMinus(pinoLog, 1)} µs to the anchor${writes(ANCHOR_LOG) !== undefined && writes(ANCHOR) !== undefined ? ` and ${fixed(writes(ANCHOR_LOG)! - writes(ANCHOR)!, 2)} event-loop write calls per request` : ''}.`,
            `Promises created per request on the 200 path (async_hooks, ${COUNT_REQUESTS} sequential requests over one keep-alive connection after the timed rounds): ${[BARE, ANCHOR, BULWARK, BULWARK_LOG].map((name) => `${name} ${fixed(promises[name]!, 2)}`).join('; ')}; ${BULWARK} − ${BARE} = ${fixed(extraPromises, 2)}.`,
            `Memory: a ${BULWARK} process behind one trusted proxy (trust proxy: loopback), loaded by ${MEMORY_CLIENTS} clients each with its own X-Forwarded-For address and its own token (subject user-<n>, each granted the viewer role in PostgreSQL), so the rate-limit store, the verified-token cache and the permission cache all see ${MEMORY_CLIENTS} clients. After two full collections, ${memoryText(memory)} The same app with every layer empty (${EMPTY}, one trusted proxy, the same load), without Bulwark's caches and stores: ${memoryText(emptyMemory)} RSS also holds memory the allocator keeps after a collection, and heap pages V8 keeps pooled for the next allocations outside what it reports as held; the heap in use is what the caches and stores hold.`,
            `${BARE}: Express 5 and the route handler, served by app.listen(). ${BARE_CLASSES}: the same app served by http.createServer(requestClasses(app), app), as the two Bulwark rows are: each request and response is made on the app's own prototypes, so Express does not change them per request. ${FLOOR}: six app.use() layers, two route middlewares and an error handler, where the Bulwark stack has its own, setting the ${floorHeaders.length} response headers a Bulwark answer carries (read off a real one) as fixed strings and doing nothing else.`,
            `${ANCHOR}: helmet(), cors(), express-jwt (HS256, the secret as a KeyObject), express-rate-limit (memory store, draft-8 RateLimit headers and X-RateLimit-*, as Bulwark's rateLimit() sends), a permission check on the token's claims, express-validator on the id, a problem+json error handler logging through winston (JSON lines on stdout). ${ANCHOR_LOG}: the same with pino-http first, logging the fields of Bulwark's access line through pino.destination({ dest: 1, sync: false }).`,
            `${BULWARK}: requestContext(), trustedHosts(), secureHeaders(), corsPolicy(), authenticate() (HS256 KeyObject; permissions from PostgreSQL through createPermissionStore(), cached), rateLimit() (bounded memory store), requirePermission(), validate() on the id, errorHandler() with createLogger() (JSON lines on stdout), served by http.createServer(requestClasses(app), app) as docs/getting-started.md serves it (createAppServer(), less hardenServer()'s connection deadlines). ${BULWARK_LOG}: the same with httpLogger({ logger }) after requestContext(), as docs/getting-started.md mounts it. Every app's stdout is a file (node app.js > app.log), so both stacks' loggers write to the same kind of destination; the 200 path logs nothing without an access logger.`,
          ],
        };
        return result;
      } finally {
        logs.remove();
      }
    }),
};
