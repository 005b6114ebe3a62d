// Maps the errors Node, OpenSSL and mqtt.js raise while connecting to stable, typed connection errors.
import { MqttConnectionError, type MqttConnectionErrorCode } from './errors.js';

/** What the client knew when the error happened, to tell apart causes with the same alert. */
export interface FailureContext {
  /** Whether a client certificate was offered. */
  sentCertificate: boolean;
}

const MESSAGES: Record<MqttConnectionErrorCode, string> = {
  client_certificate_required:
    'The broker requires a client certificate and none was sent. Pass cert/certFile and key/keyFile.',
  client_certificate_untrusted:
    "The broker does not trust this client certificate (it was not issued by the broker's CA). Issue the device certificate from the broker's CA.",
  client_certificate_expired:
    'The broker refused this client certificate because it has expired. Issue a new device certificate.',
  client_certificate_revoked:
    'The broker refused this client certificate because it is revoked. Issue a new device certificate.',
  server_certificate_untrusted:
    "The broker's certificate is not signed by the pinned CA. Check ca/caFile: it must be the CA that issued the broker certificate.",
  server_certificate_expired: "The broker's certificate has expired. Renew the broker certificate.",
  server_certificate_not_yet_valid:
    "The broker's certificate is not valid yet. Check the clocks of the client and of the machine that issued it.",
  server_certificate_revoked: "The broker's certificate is revoked.",
  server_hostname_mismatch:
    "The broker's certificate does not name the host connected to (not in its DNS/IP subject alternative names). Connect by a listed name, set servername, or reissue the broker certificate.",
  tls_protocol_mismatch:
    'The other side does not speak TLS on this port. Check the port: it may be a plaintext MQTT listener.',
  tls_version_rejected:
    "Client and broker share no allowed TLS version. Check minVersion and the broker's tls_version.",
  tls_handshake_failed: 'The TLS handshake with the broker failed.',
  credentials_unreadable:
    'A certificate, key, CA or password file could not be read for this connection attempt.',
  broker_not_authorized: 'The broker refused the connection: not authorized.',
  broker_bad_credentials: 'The broker refused the connection: bad user name or password.',
  broker_refused: 'The broker refused the connection.',
  connection_refused: 'Nothing accepted the connection at this host and port.',
  connection_reset: 'The connection was reset.',
  connection_closed:
    'The broker closed the connection before accepting it (no CONNACK). If this is a TLS port, the client may have spoken plaintext.',
  connection_failed: 'The connection to the broker failed.',
  host_not_found: 'The broker host name could not be resolved.',
  host_unreachable: 'The broker host could not be reached.',
  connect_timeout: 'The broker did not accept the connection within connectTimeoutMs.',
  keepalive_timeout: 'The broker stopped answering keepalive pings.',
  protocol_error: 'The broker sent a packet that breaks the MQTT protocol.',
};

// OpenSSL reports what went wrong by a reason number that stays the same across versions
// (include/openssl/sslerr.h); a fatal TLS alert received from the peer is 1000 + the alert number.
const TLS_ALERT_REASON = 1000;
const HANDSHAKE_FAILURE = TLS_ALERT_REASON + 40;
const BY_SSL_REASON: Readonly<Record<number, MqttConnectionErrorCode>> = {
  156: 'tls_protocol_mismatch', // SSL_R_HTTP_REQUEST
  191: 'tls_version_rejected', // SSL_R_NO_PROTOCOLS_AVAILABLE
  198: 'tls_protocol_mismatch', // SSL_R_PACKET_LENGTH_TOO_LONG
  258: 'tls_version_rejected', // SSL_R_UNSUPPORTED_PROTOCOL
  267: 'tls_protocol_mismatch', // SSL_R_WRONG_VERSION_NUMBER
  [TLS_ALERT_REASON + 42]: 'client_certificate_untrusted', // bad_certificate
  [TLS_ALERT_REASON + 43]: 'client_certificate_untrusted', // unsupported_certificate
  [TLS_ALERT_REASON + 44]: 'client_certificate_revoked', // certificate_revoked
  [TLS_ALERT_REASON + 45]: 'client_certificate_expired', // certificate_expired
  [TLS_ALERT_REASON + 48]: 'client_certificate_untrusted', // unknown_ca
  [TLS_ALERT_REASON + 49]: 'client_certificate_untrusted', // access_denied
  [TLS_ALERT_REASON + 51]: 'client_certificate_untrusted', // decrypt_error
  [TLS_ALERT_REASON + 70]: 'tls_version_rejected', // protocol_version
  [TLS_ALERT_REASON + 116]: 'client_certificate_required', // certificate_required
};

// Node names an OpenSSL error after its reason text, and OpenSSL 3.2 renamed the alerts that
// date from SSLv3 ("sslv3 alert certificate expired" became "ssl/tls alert certificate
// expired"): Node 20 (OpenSSL 3.0) and Node 22 and later (OpenSSL 3.5) spell the same alert
// differently, so both spellings are listed.
const SSL_REASON_OF_CODE: Readonly<Record<string, number>> = {
  ERR_SSL_HTTP_REQUEST: 156,
  ERR_SSL_NO_PROTOCOLS_AVAILABLE: 191,
  ERR_SSL_PACKET_LENGTH_TOO_LONG: 198,
  ERR_SSL_UNSUPPORTED_PROTOCOL: 258,
  ERR_SSL_WRONG_VERSION_NUMBER: 267,
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: HANDSHAKE_FAILURE,
  'ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE': HANDSHAKE_FAILURE,
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: TLS_ALERT_REASON + 42,
  'ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE': TLS_ALERT_REASON + 42,
  ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE: TLS_ALERT_REASON + 43,
  'ERR_SSL_SSL/TLS_ALERT_UNSUPPORTED_CERTIFICATE': TLS_ALERT_REASON + 43,
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED: TLS_ALERT_REASON + 44,
  'ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_REVOKED': TLS_ALERT_REASON + 44,
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: TLS_ALERT_REASON + 45,
  'ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_EXPIRED': TLS_ALERT_REASON + 45,
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: TLS_ALERT_REASON + 48,
  ERR_SSL_TLSV1_ALERT_ACCESS_DENIED: TLS_ALERT_REASON + 49,
  ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR: TLS_ALERT_REASON + 51,
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: TLS_ALERT_REASON + 70,
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: TLS_ALERT_REASON + 116,
};

const ERR_LIB_SSL = 20;
// The OpenSSL error line Node puts in a message: `<thread>:error:<packed code>:SSL routines:...`.
const OPENSSL_ERROR_LINE = /(?:^|[\s:])error:([0-9A-F]{8}):/;

/**
 * The reason number of the OpenSSL SSL-library error quoted in `message`. Node keeps only the
 * text when it meets the error while writing: it raises `EPROTO` ("write EPROTO <error line>"),
 * as it does when a TLS 1.2 broker refuses the certificate while the CONNECT is being sent.
 */
function sslReasonInMessage(message: string): number | undefined {
  const packed = OPENSSL_ERROR_LINE.exec(message)?.[1];
  if (packed === undefined) return undefined;
  const value = Number.parseInt(packed, 16);
  // OpenSSL 3 packs the library into bits 23-30 and the reason into bits 0-22.
  if (((value >>> 23) & 0xff) !== ERR_LIB_SSL) return undefined;
  return value & 0x7fffff;
}

// Certificate verification (the client checking the broker) and socket errors: Node's own codes.
const BY_NODE_CODE: Readonly<Record<string, MqttConnectionErrorCode>> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'server_certificate_untrusted',
  UNABLE_TO_GET_ISSUER_CERT: 'server_certificate_untrusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'server_certificate_untrusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'server_certificate_untrusted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'server_certificate_untrusted',
  CERT_SIGNATURE_FAILURE: 'server_certificate_untrusted',
  CERT_UNTRUSTED: 'server_certificate_untrusted',
  INVALID_CA: 'server_certificate_untrusted',
  INVALID_PURPOSE: 'server_certificate_untrusted',
  CERT_HAS_EXPIRED: 'server_certificate_expired',
  CERT_NOT_YET_VALID: 'server_certificate_not_yet_valid',
  CERT_REVOKED: 'server_certificate_revoked',
  ERR_TLS_CERT_ALTNAME_INVALID: 'server_hostname_mismatch',
  ECONNREFUSED: 'connection_refused',
  ECONNRESET: 'connection_reset',
  EPIPE: 'connection_reset',
  ENOTFOUND: 'host_not_found',
  EAI_AGAIN: 'host_not_found',
  ETIMEDOUT: 'host_unreachable',
  EHOSTUNREACH: 'host_unreachable',
  ENETUNREACH: 'host_unreachable',
};

/** The typed code for an OpenSSL reason, when it is one this package names. */
function fromSslReason(
  reason: number,
  context: FailureContext,
): MqttConnectionErrorCode | undefined {
  if (reason === HANDSHAKE_FAILURE) {
    // TLS 1.2 brokers answer a missing client certificate with a generic handshake failure.
    return context.sentCertificate ? 'tls_handshake_failed' : 'client_certificate_required';
  }
  return BY_SSL_REASON[reason];
}

/** True for codes that come from TLS (published on `bulwark:mqtt:tls-error`). */
export function isTlsFailure(code: MqttConnectionErrorCode): boolean {
  return (
    code.startsWith('client_certificate_') || code.startsWith('server_') || code.startsWith('tls_')
  );
}

/** A typed error for `code`, with the standard message. */
export function connectionError(
  code: MqttConnectionErrorCode,
  details: { cause?: unknown; tlsCode?: string; reasonCode?: number } = {},
): MqttConnectionError {
  return new MqttConnectionError(code, MESSAGES[code], details);
}

const CONNACK_NOT_AUTHORIZED = new Set([5, 0x87, 0x8a]);
const CONNACK_BAD_CREDENTIALS = new Set([4, 0x86, 0x8c]);

/**
 * Turns what the socket or mqtt.js reported about the connection into a {@link MqttConnectionError};
 * `undefined` for errors that are not about the connection (a bad subscribe call, for example).
 */
export function toConnectionError(
  err: unknown,
  context: FailureContext,
): MqttConnectionError | undefined {
  if (err instanceof MqttConnectionError) return err;
  const error = err as { code?: unknown; message?: unknown } | undefined;
  const nodeCode = typeof error?.code === 'string' ? error.code : undefined;
  const message = typeof error?.message === 'string' ? error.message : '';
  if (nodeCode) {
    const reason = SSL_REASON_OF_CODE[nodeCode] ?? sslReasonInMessage(message);
    let code = reason === undefined ? undefined : fromSslReason(reason, context);
    code ??= BY_NODE_CODE[nodeCode];
    if (!code && (/^(ERR_SSL_|ERR_TLS_|ERR_OSSL_)/.test(nodeCode) || reason !== undefined)) {
      code = 'tls_handshake_failed';
    }
    if (!code && nodeCode === 'EPROTO') code = 'tls_protocol_mismatch';
    if (code) return connectionError(code, { cause: err, tlsCode: nodeCode });
  }
  if (typeof error?.code === 'number') {
    const reasonCode = error.code;
    if (message.startsWith('Connection refused')) {
      const code = CONNACK_NOT_AUTHORIZED.has(reasonCode)
        ? 'broker_not_authorized'
        : CONNACK_BAD_CREDENTIALS.has(reasonCode)
          ? 'broker_bad_credentials'
          : 'broker_refused';
      return connectionError(code, { cause: err, reasonCode });
    }
    return connectionError('protocol_error', { cause: err, reasonCode });
  }
  if (message === 'connack timeout') return connectionError('connect_timeout', { cause: err });
  if (message === 'Keepalive timeout') return connectionError('keepalive_timeout', { cause: err });
  if (message.startsWith('Protocol error') || message.includes('Topic Alias')) {
    return connectionError('protocol_error', { cause: err });
  }
  if (nodeCode) return connectionError('connection_failed', { cause: err, tlsCode: nodeCode });
  return undefined;
}
