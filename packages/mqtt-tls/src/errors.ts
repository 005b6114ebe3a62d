// Typed errors: configuration errors thrown at construction, and runtime errors with stable codes.

/** Every `code` a {@link MqttConfigError} can carry. */
export type MqttConfigErrorCode = `ERR_BULWARK_MQTT_${string}`;

/** Thrown when options are invalid. The message quotes the bad value (never a secret) and the fix. */
export class MqttConfigError extends Error {
  override readonly name = 'MqttConfigError';
  readonly code: MqttConfigErrorCode;

  constructor(code: MqttConfigErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Stable codes for connection and TLS failures, documented in
 * https://github.com/bulwark-js/bulwark/blob/main/docs/errors/mqtt-tls.md
 */
export type MqttConnectionErrorCode =
  | 'client_certificate_required'
  | 'client_certificate_untrusted'
  | 'client_certificate_expired'
  | 'client_certificate_revoked'
  | 'server_certificate_untrusted'
  | 'server_certificate_expired'
  | 'server_certificate_not_yet_valid'
  | 'server_certificate_revoked'
  | 'server_hostname_mismatch'
  | 'tls_protocol_mismatch'
  | 'tls_version_rejected'
  | 'tls_handshake_failed'
  | 'credentials_unreadable'
  | 'broker_not_authorized'
  | 'broker_bad_credentials'
  | 'broker_refused'
  | 'connection_refused'
  | 'connection_reset'
  | 'connection_closed'
  | 'connection_failed'
  | 'host_not_found'
  | 'host_unreachable'
  | 'connect_timeout'
  | 'keepalive_timeout'
  | 'protocol_error';

/**
 * A connection or TLS failure. `code` is stable; `tlsCode` is the underlying OpenSSL/Node code
 * when there is one; `reasonCode` is the MQTT CONNACK reason when the broker refused.
 */
export class MqttConnectionError extends Error {
  override readonly name = 'MqttConnectionError';
  readonly code: MqttConnectionErrorCode;
  readonly tlsCode: string | undefined;
  readonly reasonCode: number | undefined;

  constructor(
    code: MqttConnectionErrorCode,
    message: string,
    { cause, tlsCode, reasonCode }: { cause?: unknown; tlsCode?: string; reasonCode?: number } = {},
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.tlsCode = tlsCode;
    this.reasonCode = reasonCode;
  }
}

/** Stable codes for a refused or failed publish. */
export type MqttPublishErrorCode =
  | 'topic_invalid'
  | 'payload_too_large'
  | 'not_connected'
  | 'connection_lost'
  | 'publish_timeout'
  | 'publish_rejected';

/** A publish that did not complete. `reasonCode` is the MQTT 5 PUBACK/PUBREC reason, if any. */
export class MqttPublishError extends Error {
  override readonly name = 'MqttPublishError';
  readonly code: MqttPublishErrorCode;
  readonly reasonCode: number | undefined;

  constructor(
    code: MqttPublishErrorCode,
    message: string,
    { cause, reasonCode }: { cause?: unknown; reasonCode?: number } = {},
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.reasonCode = reasonCode;
  }
}

/** Why a topic or identity was refused by the topic helpers. */
export type MqttTopicErrorCode = 'topic_invalid' | 'identity_invalid';

/** A topic, topic level or device identity that the topic helpers refuse. Never quotes the value. */
export class MqttTopicError extends Error {
  override readonly name = 'MqttTopicError';
  readonly code: MqttTopicErrorCode;
  /** What is wrong, as a short stable phrase (`wildcard`, `system-topic`, `empty-level`, ...). */
  readonly reason: string;

  constructor(code: MqttTopicErrorCode, reason: string, message: string) {
    super(message);
    this.code = code;
    this.reason = reason;
  }
}
