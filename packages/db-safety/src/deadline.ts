// Request deadlines: read from an AbortSignal and turned into a server-side statement_timeout.
import pg from 'pg';

/**
 * The property an `AbortSignal` carries its deadline under: epoch milliseconds after which the
 * work it guards is pointless. `@bulwark/perimeter`'s `requestTimeout()` sets it on `req.signal`;
 * it is a registered symbol so the two packages agree on it without importing each other.
 */
export const DEADLINE = Symbol.for('bulwark.deadline');

/** The deadline `signal` carries (epoch ms), or undefined when it carries none. */
export function deadlineOf(signal: AbortSignal | undefined): number | undefined {
  if (signal === undefined) return undefined;
  const value = (signal as unknown as Record<symbol, unknown>)[DEADLINE];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** The earlier of two deadlines, either of which may be missing. */
export function earlier(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

/**
 * Milliseconds left before `deadline`, rounded up so the server never gives up before it; 0 when
 * it has passed.
 */
export function timeLeft(deadline: number): number {
  return Math.max(0, Math.ceil(deadline - Date.now()));
}

/**
 * `SELECT set_config('statement_timeout', ...)` lowering the timeout to `ms` for the rest of the
 * transaction (`is_local`), never raising it: the value in force (the pool's, the transaction's,
 * or an earlier deadline's) wins when it is shorter, and `0` (no limit) counts as longest. It
 * reads `current_setting` rather than `pg_settings`, whose lookup costs a scan of every setting.
 * `ms` is a whole number computed here, never input.
 */
export function deadlineTimeoutSql(ms: number): string {
  const n = Math.max(1, Math.min(2_147_483_647, Math.trunc(ms)));
  return `SELECT set_config('statement_timeout', CASE WHEN current_setting('statement_timeout') = '0' THEN '${n}' ELSE LEAST(${n}, EXTRACT(EPOCH FROM current_setting('statement_timeout')::interval) * 1000)::bigint::text END, true)`;
}

type Connection = {
  parse(config: { text: string }): void;
  bind(config: Record<string, never>): void;
  execute(config: { portal: string }): void;
};

const QueryBase = pg.Query as unknown as new (
  config: pg.QueryConfig,
) => pg.Query & {
  requiresPreparation(): boolean;
  prepare(connection: Connection): void;
  handleDataRow(msg: unknown): void;
  handleCommandComplete(msg: unknown, connection: Connection): void;
};

/**
 * One extended-protocol query preceded by {@link deadlineTimeoutSql}, written together before a
 * single Sync: one round trip. Statements before a Sync share one transaction (an implicit one
 * outside `BEGIN`), so the `is_local` setting ends with the query and never stays on the
 * connection, and PgBouncer in transaction mode keeps both on the same server connection.
 * PostgreSQL starts a fresh statement timer for each Execute, so the query runs under the new value.
 */
export class DeadlineQuery extends QueryBase {
  #prefix: string;
  #prefixPending = true;

  constructor(config: pg.QueryConfig, timeoutMs: number) {
    super(config);
    this.#prefix = deadlineTimeoutSql(timeoutMs);
  }

  // Also without values and on a pg older than 8.12 (no queryMode): the prefix needs the
  // extended protocol, whose messages wait for one Sync.
  override requiresPreparation(): boolean {
    return true;
  }

  override prepare(connection: Connection): void {
    // No Describe: the setting's one row comes without a RowDescription and is dropped below.
    connection.parse({ text: this.#prefix });
    connection.bind({});
    connection.execute({ portal: '' });
    super.prepare(connection);
  }

  override handleDataRow(msg: unknown): void {
    if (this.#prefixPending) return;
    super.handleDataRow(msg);
  }

  override handleCommandComplete(msg: unknown, connection: Connection): void {
    if (this.#prefixPending) {
      this.#prefixPending = false;
      return;
    }
    super.handleCommandComplete(msg, connection);
  }
}

/** Runs `config` on `client` with the statement timeout lowered to `timeoutMs`, in one round trip. */
export function queryWithDeadline(
  client: pg.ClientBase,
  config: pg.QueryConfig,
  timeoutMs: number,
): Promise<pg.QueryResult> {
  return new Promise((resolve, reject) => {
    const query = new DeadlineQuery(config, timeoutMs);
    (query as unknown as { callback: (err: Error | null, res: pg.QueryResult) => void }).callback =
      (err, res) => (err ? reject(err) : resolve(res));
    client.query(query);
  });
}
