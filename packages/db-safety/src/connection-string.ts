// Reads a connection string the way pg does, so the pool's TLS, password and timeout rules judge what pg will use.
import { parse } from 'pg-connection-string';
import { DbConfigError } from './errors.js';

/** What pg will take from a connection string, as far as the pool's safety rules care. */
export interface ConnectionStringFacts {
  /**
   * How pg will treat TLS when the connection string configures it (any of `ssl`, `sslmode`,
   * `sslrootcert`, `sslcert`, `sslkey`, `sslnegotiation=direct`): pg then ignores the `ssl`
   * option. `undefined` when the connection string says nothing about TLS.
   */
  tls?: 'off' | 'unverified' | 'no-host-check' | 'verified';
  /** The TLS parameters as written (`ssl=0`, `sslmode=require&uselibpqcompat=true`), for messages. */
  tlsParameters: string;
  /** The last `sslmode`, which pg uses. */
  sslmode?: string;
  /** A password in the user-info part (`postgres://user:password@host/db`). */
  hasPassword: boolean;
  /** A `password` query parameter, which pg prefers over every other source. */
  hasPasswordParameter: boolean;
  /** The host pg will connect to. */
  host?: string;
}

const TLS_PARAMETERS = [
  'ssl',
  'sslmode',
  'sslrootcert',
  'sslcert',
  'sslkey',
  'sslnegotiation',
  'uselibpqcompat',
];

/** Parameters pg would let override a setting the pool guarantees, and the option to use instead. */
const OVERRIDING: Readonly<Record<string, string>> = {
  statement_timeout: 'use the statementTimeoutMs option',
  lock_timeout: 'use the lockTimeoutMs option',
  idle_in_transaction_session_timeout: 'use the idleInTransactionTimeoutMs option',
  query_timeout: 'use the queryTimeoutMs option',
  options:
    'it can change any setting, the timeouts included; set search_path and the like on the role instead (ALTER ROLE <app user> SET search_path = ...)',
};

function refuse(where: string, message: string): never {
  throw new DbConfigError('ERR_BULWARK_DB_CONNECTION_PARAMETER', `${where}: ${message}`);
}

/** The URL pg reads, prepared as pg prepares it; undefined for the `/socket/dir database` form. */
function readUrl(where: string, connectionString: string): URL | undefined {
  if (connectionString.startsWith('/')) return undefined;
  let text = connectionString;
  if (/ |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(text)) {
    text = encodeURI(text).replace(/%25(\d\d)/g, '%$1');
  }
  let url: URL;
  try {
    url = new URL(text, 'postgres://base');
  } catch {
    try {
      url = new URL(text.replace('@/', '@___DUMMY___/'), 'postgres://base');
    } catch {
      throw new DbConfigError(
        'ERR_BULWARK_DB_INVALID_OPTION',
        `${where}: connectionString is not a URL pg can read (it is not repeated here, since it may hold a password). Use postgres://user@host:5432/database.`,
      );
    }
  }
  return url;
}

/** pg's reading of the `ssl` value parse() leaves, as pg's ConnectionParameters and Connection apply it. */
function tlsOf(
  where: string,
  ssl: unknown,
  written: string,
): NonNullable<ConnectionStringFacts['tls']> {
  if (ssl === true || ssl === 'true') return 'verified';
  if (!ssl) return 'off';
  if (ssl === 'no-verify') return 'unverified';
  if (typeof ssl === 'object') {
    const options = ssl as { rejectUnauthorized?: unknown; checkServerIdentity?: unknown };
    if (options.rejectUnauthorized === false) return 'unverified';
    if (typeof options.checkServerIdentity === 'function') return 'no-host-check';
    return 'verified';
  }
  return refuse(
    where,
    `the connection string's ${written} is not a value pg understands (it would turn TLS on with meaningless settings). Use sslmode=verify-full, or remove it and use the ssl option.`,
  );
}

/**
 * Parses `connectionString` with pg's own parser (last value wins, as in pg) and refuses what
 * would silently override the pool's safety settings: a parameter given twice, a timeout or
 * `options` parameter, a `password` parameter. TLS is judged by the caller from the result.
 *
 * @throws {DbConfigError} `ERR_BULWARK_DB_CONNECTION_PARAMETER`, `ERR_BULWARK_DB_INVALID_OPTION`.
 */
export function inspectConnectionString(
  where: string,
  connectionString: string | undefined,
): ConnectionStringFacts {
  if (connectionString === undefined) {
    return { tlsParameters: '', hasPassword: false, hasPasswordParameter: false };
  }
  const url = readUrl(where, connectionString);
  const entries = url ? [...url.searchParams.entries()] : [];
  const seen = new Set<string>();
  for (const [name] of entries) {
    if (seen.has(name)) {
      refuse(
        where,
        `the connection string gives the parameter ${name} more than once; pg uses the last one, whatever the first says. Give it once.`,
      );
    }
    seen.add(name);
    const fix = OVERRIDING[name];
    if (fix !== undefined) {
      refuse(
        where,
        `the connection string sets ${name}, which would override the pool's safety settings on every connection. Remove it from the connection string; ${fix}.`,
      );
    }
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = parse(connectionString) as Record<string, unknown>;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
      throw new DbConfigError(
        'ERR_BULWARK_DB_INVALID_OPTION',
        `${where}: connectionString: a file named by sslrootcert, sslcert or sslkey cannot be read (${code}). Point it at a readable PEM file.`,
      );
    }
    if (seen.has('sslmode') && /verify-ca/.test(String((err as Error).message))) {
      refuse(
        where,
        'the connection string sets sslmode=verify-ca with uselibpqcompat=true but no sslrootcert. Use sslmode=verify-full, or give the CA with sslrootcert=<ca file>.',
      );
    }
    throw new DbConfigError(
      'ERR_BULWARK_DB_INVALID_OPTION',
      `${where}: connectionString is not a connection string pg can read (it is not repeated here, since it may hold a password). Use postgres://user@host:5432/database.`,
    );
  }
  const tlsParameters = entries
    .filter(([name]) => TLS_PARAMETERS.includes(name))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const host = typeof parsed.host === 'string' && parsed.host !== '' ? parsed.host : undefined;
  const sslmode = typeof parsed.sslmode === 'string' ? parsed.sslmode : undefined;
  return {
    ...('ssl' in parsed ? { tls: tlsOf(where, parsed.ssl, tlsParameters) } : {}),
    tlsParameters,
    ...(sslmode !== undefined ? { sslmode } : {}),
    hasPassword: url !== undefined && url.password !== '',
    hasPasswordParameter: seen.has('password'),
    ...(host !== undefined ? { host } : {}),
  };
}
