// Socket, OpenSSL and mqtt.js errors map to stable connection error codes.
import { describe, expect, it } from 'vitest';
import { toConnectionError } from './connection-errors.js';

const withCode = (code: string | number, message = 'x') =>
  Object.assign(new Error(message), { code });

describe('toConnectionError', () => {
  it.each([
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'client_certificate_required'],
    ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'client_certificate_untrusted'],
    ['ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED', 'client_certificate_expired'],
    ['ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED', 'client_certificate_revoked'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'server_certificate_untrusted'],
    ['CERT_HAS_EXPIRED', 'server_certificate_expired'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'server_hostname_mismatch'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'tls_protocol_mismatch'],
    ['ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'tls_version_rejected'],
    ['ERR_SSL_SOMETHING_NEW', 'tls_handshake_failed'],
    ['ECONNREFUSED', 'connection_refused'],
    ['ENOTFOUND', 'host_not_found'],
  ])('maps %s to %s and keeps the original code', (nodeCode, code) => {
    const error = toConnectionError(withCode(nodeCode), { sentCertificate: true });
    expect(error).toMatchObject({ code, tlsCode: nodeCode });
  });

  it('reads a TLS 1.2 handshake failure as a missing certificate only when none was sent', () => {
    const failure = withCode('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE');
    expect(toConnectionError(failure, { sentCertificate: false })?.code).toBe(
      'client_certificate_required',
    );
    expect(toConnectionError(failure, { sentCertificate: true })?.code).toBe(
      'tls_handshake_failed',
    );
  });

  it('maps CONNACK refusals by reason code', () => {
    const context = { sentCertificate: false };
    expect(
      toConnectionError(withCode(0x87, 'Connection refused: Not authorized'), context),
    ).toMatchObject({ code: 'broker_not_authorized', reasonCode: 0x87 });
    expect(
      toConnectionError(withCode(4, 'Connection refused: Bad username or password'), context)?.code,
    ).toBe('broker_bad_credentials');
    expect(
      toConnectionError(withCode(0x88, 'Connection refused: Server unavailable'), context)?.code,
    ).toBe('broker_refused');
  });

  it('maps mqtt.js timeouts and leaves unrelated errors alone', () => {
    const context = { sentCertificate: false };
    expect(toConnectionError(new Error('connack timeout'), context)?.code).toBe('connect_timeout');
    expect(toConnectionError(new Error('Keepalive timeout'), context)?.code).toBe(
      'keepalive_timeout',
    );
    expect(toConnectionError(new Error('Invalid topic devices/#'), context)).toBeUndefined();
  });
});
