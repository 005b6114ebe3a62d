// Cancels the statement a pooled client is running, on the server, through a separate connection.
import { connect } from 'node:net';
import pg from 'pg';

interface BackendKey {
  processID?: number | null;
  secretKey?: number | null;
  host?: string;
  port?: number;
}

/**
 * Sends a protocol-level CancelRequest (what psql's Ctrl-C sends) on a new socket. It needs no
 * login, works when every connection slot is taken, and is forwarded by PgBouncer. Like libpq,
 * it then waits for the other side to close: PgBouncer drops a cancel whose sender hangs up
 * before it has been forwarded (and 1.18 exits on it).
 */
export function sendCancelRequest(client: pg.ClientBase): Promise<void> {
  const key = client as unknown as BackendKey;
  const { processID, secretKey } = key;
  if (typeof processID !== 'number' || typeof secretKey !== 'number') return Promise.resolve();
  const host = key.host ?? 'localhost';
  const port = key.port ?? 5432;
  return new Promise((resolve) => {
    const socket = host.startsWith('/')
      ? connect({ path: `${host}/.s.PGSQL.${port}` })
      : connect({ host, port });
    const finish = () => {
      socket.destroy();
      resolve();
    };
    socket.setTimeout(5000, finish);
    socket.once('error', finish);
    socket.once('close', finish);
    socket.once('connect', () => {
      const message = Buffer.alloc(16);
      message.writeInt32BE(16, 0);
      message.writeInt32BE(80877102, 4);
      message.writeInt32BE(processID, 8);
      message.writeInt32BE(secretKey, 12);
      socket.write(message);
    });
  });
}

/**
 * Runs `pg_cancel_backend` for the client's server process on a fresh connection made from
 * `config` (not taken from the pool, so it works when the pool is exhausted). Falls back to a
 * protocol CancelRequest when that connection cannot be made.
 */
export async function cancelBackend(
  client: pg.ClientBase,
  config: pg.ClientConfig | undefined,
  { viaProxy = false }: { viaProxy?: boolean } = {},
): Promise<void> {
  const pid = (client as unknown as BackendKey).processID;
  if (typeof pid !== 'number') return;
  // Behind PgBouncer (either mode) the process id is the proxy's, not PostgreSQL's, so only the
  // protocol request (which the proxy maps) reaches the right backend.
  if (viaProxy || !config) return sendCancelRequest(client);
  const canceller = new pg.Client({
    ...config,
    connectionTimeoutMillis: Math.min(config.connectionTimeoutMillis || 5000, 5000),
    statement_timeout: 5000,
    application_name: `${config.application_name ?? 'bulwark'} (cancel)`.slice(0, 63),
  });
  canceller.on('error', () => {});
  try {
    await canceller.connect();
    await canceller.query('SELECT pg_cancel_backend($1)', [pid]);
  } catch {
    await sendCancelRequest(client);
  } finally {
    await canceller.end().catch(() => {});
  }
}
