// TLS beyond what pg does: a CRL file read again for each connection, and typed errors for a refused server certificate or a server without TLS.
import { readFileSync } from 'node:fs';
import { type ConnectionOptions, createSecureContext } from 'node:tls';
import { type DbLogger, warn } from './diagnostics.js';
import { DbConfigError, type DbErrorCode, DbSafetyError } from './errors.js';
import { invalidOption } from './options.js';

/** Whether `text` holds CRLs OpenSSL can load. */
function isCrl(text: string): boolean {
  try {
    createSecureContext({ crl: text });
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks the CRL file now and returns a function that reads it again. pg passes the `ssl`
 * object to `tls.connect` for every new connection, so a getter calling it there lets a CRL the
 * CA publishes anew (before the old one's next update) reach new connections. A file that has
 * become unreadable or is being rewritten keeps the last good CRL, with a warning: never no CRL.
 */
export function crlReader(
  where: string,
  file: unknown,
  logger: DbLogger | undefined,
): () => string {
  if (typeof file !== 'string' || file === '') {
    invalidOption(where, 'sslCrlFile', file, 'Give the path of a PEM CRL file.');
  }
  let current: string;
  try {
    current = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DbConfigError(
      'ERR_BULWARK_DB_SSL_CRL_FILE',
      `${where}: sslCrlFile: cannot read ${JSON.stringify(file)} (${(err as NodeJS.ErrnoException).code ?? 'error'}). Point it at a readable PEM CRL.`,
    );
  }
  if (!isCrl(current)) {
    throw new DbConfigError(
      'ERR_BULWARK_DB_SSL_CRL_FILE',
      `${where}: sslCrlFile: ${JSON.stringify(file)} holds no CRL OpenSSL can read. Point it at the CRL of the server certificate's CA, in PEM (-----BEGIN X509 CRL-----).`,
    );
  }
  let warned = false;
  return () => {
    let problem: string;
    try {
      const text = readFileSync(file, 'utf8');
      if (text === current || isCrl(text)) {
        current = text;
        warned = false;
        return current;
      }
      problem = 'holds no CRL OpenSSL can read';
    } catch (err) {
      problem = `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    }
    if (!warned) {
      warned = true;
      warn(
        logger,
        'BULWARK_DB_SSL_CRL_FILE',
        `${where}: sslCrlFile ${JSON.stringify(file)} ${problem}; new connections keep checking against the CRL read before.`,
      );
    }
    return current;
  };
}

/** `options` with a `crl` that reads the CRL file each time pg opens a connection. */
export function withCrl(
  options: ConnectionOptions,
  crl: (() => string) | undefined,
): ConnectionOptions {
  if (crl !== undefined) Object.defineProperty(options, 'crl', { enumerable: true, get: crl });
  return options;
}

interface TlsFailure {
  code: DbErrorCode;
  /** What went wrong; `{host}` stands for the host connected to. */
  what: string;
  fix: string;
}

const EXPIRED: TlsFailure = {
  code: 'ERR_BULWARK_DB_SSL_CERT_EXPIRED',
  what: "The database server's TLS certificate has expired",
  fix: 'Renew the certificate the server presents (its ssl_cert_file).',
};
const NOT_YET_VALID: TlsFailure = {
  code: 'ERR_BULWARK_DB_SSL_CERT_NOT_YET_VALID',
  what: "The database server's TLS certificate is not valid yet",
  fix: "Check the clocks of this machine and of the server, and the certificate's start date.",
};
const REVOKED: TlsFailure = {
  code: 'ERR_BULWARK_DB_SSL_CERT_REVOKED',
  what: "The database server's TLS certificate is revoked: the CRL (sslCrlFile or ssl.crl) lists it",
  fix: 'Give the server a new certificate.',
};
const UNTRUSTED: TlsFailure = {
  code: 'ERR_BULWARK_DB_SSL_CERT_UNTRUSTED',
  what: "The database server's TLS certificate was not issued by a trusted CA, or is self-signed",
  fix: 'Give the CA that issued it with sslCaFile (or ssl.ca), or give the server a certificate from that CA; never turn verification off.',
};
const HOSTNAME_MISMATCH: TlsFailure = {
  code: 'ERR_BULWARK_DB_SSL_HOSTNAME_MISMATCH',
  what: "The database server's TLS certificate does not name the host connected to ({host}) among its subject alternative names",
  fix: 'Connect by a name the certificate lists, or reissue it for this name.',
};
const CRL_UNUSABLE: TlsFailure = {
  code: 'ERR_BULWARK_DB_SSL_CRL_UNUSABLE',
  what: "The CRL (sslCrlFile or ssl.crl) cannot be used to check the database server's certificate: it has expired, is not valid yet, or was not issued by the certificate's CA",
  fix: 'Install a current CRL from that CA.',
};

// Node's codes for OpenSSL certificate verification errors (and its own host name check); the
// same on every supported Node, whatever OpenSSL it ships.
const BY_NODE_CODE: Readonly<Record<string, TlsFailure>> = {
  CERT_HAS_EXPIRED: EXPIRED,
  CERT_NOT_YET_VALID: NOT_YET_VALID,
  CERT_REVOKED: REVOKED,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: UNTRUSTED,
  UNABLE_TO_GET_ISSUER_CERT: UNTRUSTED,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: UNTRUSTED,
  SELF_SIGNED_CERT_IN_CHAIN: UNTRUSTED,
  DEPTH_ZERO_SELF_SIGNED_CERT: UNTRUSTED,
  CERT_SIGNATURE_FAILURE: UNTRUSTED,
  CERT_UNTRUSTED: UNTRUSTED,
  INVALID_CA: UNTRUSTED,
  ERR_TLS_CERT_ALTNAME_INVALID: HOSTNAME_MISMATCH,
  UNABLE_TO_GET_CRL: CRL_UNUSABLE,
  CRL_HAS_EXPIRED: CRL_UNUSABLE,
  CRL_NOT_YET_VALID: CRL_UNUSABLE,
  CRL_SIGNATURE_FAILURE: CRL_UNUSABLE,
  UNABLE_TO_DECRYPT_CRL_SIGNATURE: CRL_UNUSABLE,
  ERROR_IN_CRL_LAST_UPDATE_FIELD: CRL_UNUSABLE,
  ERROR_IN_CRL_NEXT_UPDATE_FIELD: CRL_UNUSABLE,
};

/** What the pool knows about the connection, for the fix in a message. */
export interface TlsTarget {
  /** The host connected to. */
  host: string;
  /** `NODE_ENV=production` when the pool was made: TLS is then required and verified. */
  production: boolean;
}

/** pg's error when the server answers its SSLRequest with "N": no TLS on that server. */
const NO_TLS_ON_SERVER = 'The server does not support SSL connections';

const ENABLE_TLS =
  "Turn TLS on in PostgreSQL (ssl = on, with ssl_cert_file and ssl_key_file, in postgresql.conf, then reload it) and give the CA that issued the server's certificate with sslCaFile";

function unavailable(err: unknown, target: TlsTarget | undefined): DbSafetyError {
  const production = target?.production ?? false;
  const at = target === undefined ? '' : ` at ${JSON.stringify(target.host)}`;
  const asked = production
    ? 'this pool connects only over verified TLS (sslmode=verify-full), as it does by default when NODE_ENV=production'
    : 'this pool asks for TLS (the ssl, sslCaFile or sslCrlFile option, or the TLS parameters of the connection string)';
  const otherwise = production
    ? '. For a development database reached only on loopback, run the app without NODE_ENV=production.'
    : '.';
  return new DbSafetyError(
    'ERR_BULWARK_DB_SSL_UNAVAILABLE',
    `The database server${at} does not offer TLS, and ${asked}. ${ENABLE_TLS}${otherwise}`,
    { cause: err },
  );
}

/**
 * The {@link DbSafetyError} for a connection refused over TLS: because of the server's certificate
 * (`ERR_BULWARK_DB_SSL_CERT_EXPIRED`, `..._CERT_NOT_YET_VALID`, `..._CERT_REVOKED`,
 * `..._CERT_UNTRUSTED`, `..._HOSTNAME_MISMATCH`, `..._CRL_UNUSABLE`), with Node's code in the
 * message, or because the server offers no TLS at all (`ERR_BULWARK_DB_SSL_UNAVAILABLE`), with
 * the fix for `target`. The original error is the `cause`; `undefined` for any other error.
 */
export function tlsConnectError(err: unknown, target?: TlsTarget): DbSafetyError | undefined {
  const { code, host, message } = (err ?? {}) as {
    code?: unknown;
    host?: unknown;
    message?: unknown;
  };
  if (message === NO_TLS_ON_SERVER && code === undefined) {
    return unavailable(err, target);
  }
  if (typeof code !== 'string') return undefined;
  const failure = BY_NODE_CODE[code];
  if (!failure) return undefined;
  const what = failure.what.replace(
    '{host}',
    typeof host === 'string' ? JSON.stringify(host) : 'this host',
  );
  return new DbSafetyError(failure.code, `${what} (${code}). ${failure.fix}`, { cause: err });
}
