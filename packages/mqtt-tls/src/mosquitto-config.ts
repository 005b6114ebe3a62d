// The Mosquitto broker config and ACL files that enforce mTLS device identity and per-device topics.
import { isIP } from 'node:net';
import { MqttConfigError } from './errors.js';
import { assertKnownOptions } from './options.js';
import { DEVICE_TOPIC_ROOT } from './topics.js';

/** Topic filters a password-authenticated service may read and write. */
export interface ServiceRights {
  /** Filters the service may subscribe to. Default `['devices/+/telemetry']`. */
  read?: string[];
  /**
   * Filters the service may publish to. Default `['devices/+/alerts', 'devices/+/commands']`:
   * the topics a service sends to devices, never the telemetry devices send.
   */
  write?: string[];
}

/** What an ingest service needs when nothing else is said: read telemetry, send alerts and commands. */
export const DEFAULT_SERVICE_RIGHTS: {
  readonly read: readonly string[];
  readonly write: readonly string[];
} = Object.freeze({
  read: Object.freeze([`${DEVICE_TOPIC_ROOT}/+/telemetry`]),
  write: Object.freeze([`${DEVICE_TOPIC_ROOT}/+/alerts`, `${DEVICE_TOPIC_ROOT}/+/commands`]),
});

/**
 * TLS 1.2 cipher suites of the generated listeners: ECDHE key exchange with AEAD encryption only
 * (AES-GCM, ChaCha20-Poly1305), for ECDSA and RSA broker keys. No CBC, no SHA-1, no static RSA.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * TLS 1.3 cipher suites of the generated listeners: OpenSSL's defaults, named so that a system
 * policy enabling the CCM-8 suites (64-bit tags) does not reach the broker.
 */
export const TLS13_CIPHERSUITES = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
].join(':');

/** The files a broker config points at; a {@link CertificateSet} has them all. */
export interface MosquittoFiles {
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  aclFile: string;
  crlFile?: string | undefined;
  servicesAclFile?: string | undefined;
  passwordFile?: string | undefined;
}

/** Options for {@link mosquittoConfig}. */
export interface MosquittoConfigOptions {
  /** Port of the mTLS device listener. Default `8883`. */
  port?: number;
  /** Port of the TLS listener for password-authenticated services (needs `passwordFile`). Default `8884`. */
  servicePort?: number;
  /** Address the listeners bind to. Default: all interfaces. */
  bindAddress?: string;
  /** Broker `max_packet_size` in bytes. Default `262_144`. */
  maxPacketSize?: number;
  /**
   * Also open a plaintext listener on this port, bound to 127.0.0.1 and password-only (services).
   * Default: none. Only for a broker whose services run on the same host.
   */
  plaintextPort?: number;
  /**
   * Keep retained messages (`retain_available true`). Default `false`: a retained message is
   * replayed to every new subscriber, so an old reading would arrive again as a new one each time
   * a service subscribes; the broker disconnects a client that publishes with the retain flag.
   */
  allowRetained?: boolean;
}

/** The device ACL: each identity (certificate CN) may use only `devices/<identity>/#`. */
export function mosquittoAcl(): string {
  return [
    '# Each device may publish and subscribe only under devices/<its certificate CN>/.',
    '# The same rule is authorizeTopic() in @bulwark/mqtt-tls.',
    `pattern readwrite ${DEVICE_TOPIC_ROOT}/%u/#`,
    '',
  ].join('\n');
}

/**
 * The service ACL: one `user` block per service with its read and write filters; a service without
 * its own gets {@link DEFAULT_SERVICE_RIGHTS}.
 */
export function servicesAcl(services: Record<string, ServiceRights>): string {
  const lines = ['# Topic rights of password-authenticated services.'];
  for (const [name, rights] of Object.entries(services)) {
    lines.push('', `user ${name}`);
    for (const filter of rights.read ?? DEFAULT_SERVICE_RIGHTS.read)
      lines.push(`topic read ${filter}`);
    for (const filter of rights.write ?? DEFAULT_SERVICE_RIGHTS.write)
      lines.push(`topic write ${filter}`);
  }
  return `${lines.join('\n')}\n`;
}

function checkPort(name: string, value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 65_535) {
    throw new MqttConfigError(
      'ERR_BULWARK_MQTT_PORT',
      `${name}: ${JSON.stringify(value)} must be a port number from 1 to 65535.`,
    );
  }
  return value as number;
}

function checkPath(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '' || /[\r\n]/.test(value)) {
    throw new MqttConfigError('ERR_BULWARK_MQTT_PATH', `${name} must be a file path on one line.`);
  }
  return value;
}

/**
 * The text of a `mosquitto.conf` for Mosquitto 2: with `per_listener_settings true`, an mTLS
 * device listener (`require_certificate true`, `use_identity_as_username true`,
 * `use_username_as_clientid true`, `tls_version tlsv1.2` as the minimum, `ciphers` with
 * {@link TLS12_CIPHERS} and `ciphers_tls1.3` with {@link TLS13_CIPHERSUITES}, `allow_anonymous
 * false`, the device ACL, `crlfile` when there is a CRL), a TLS listener for password-authenticated
 * services when `passwordFile` is set, `max_packet_size`, `retain_available false` unless
 * `allowRetained`, and no plaintext listener unless `plaintextPort` asks for one.
 *
 * @throws {MqttConfigError} `ERR_BULWARK_MQTT_PORT`, `ERR_BULWARK_MQTT_BIND_ADDRESS`,
 *   `ERR_BULWARK_MQTT_PATH`, `ERR_BULWARK_MQTT_RETAIN` for bad values.
 * @example
 * writeFileSync('mosquitto.conf', mosquittoConfig(certs, { port: 8883, bindAddress: '10.0.0.5' }));
 */
export function mosquittoConfig(
  files: MosquittoFiles,
  options: MosquittoConfigOptions = {},
): string {
  assertKnownOptions('mosquittoConfig', options, [
    'port',
    'servicePort',
    'bindAddress',
    'maxPacketSize',
    'plaintextPort',
    'allowRetained',
  ]);
  const allowRetained = options.allowRetained ?? false;
  if (typeof allowRetained !== 'boolean') {
    throw new MqttConfigError(
      'ERR_BULWARK_MQTT_RETAIN',
      `allowRetained: ${JSON.stringify(allowRetained)} must be true or false. Leave it out to refuse retained messages.`,
    );
  }
  const port = checkPort('port', options.port ?? 8883);
  const servicePort = checkPort('servicePort', options.servicePort ?? 8884);
  const { bindAddress } = options;
  if (bindAddress !== undefined && !isIP(bindAddress)) {
    throw new MqttConfigError(
      'ERR_BULWARK_MQTT_BIND_ADDRESS',
      `bindAddress: ${JSON.stringify(bindAddress)} must be an IP address, such as 127.0.0.1.`,
    );
  }
  const maxPacketSize = options.maxPacketSize ?? 262_144;
  if (!Number.isInteger(maxPacketSize) || maxPacketSize < 128) {
    throw new MqttConfigError(
      'ERR_BULWARK_MQTT_MAX_PACKET_SIZE',
      `maxPacketSize: ${JSON.stringify(maxPacketSize)} must be a whole number of bytes, at least 128.`,
    );
  }
  const listen = (listenerPort: number, address = bindAddress) =>
    `listener ${listenerPort}${address ? ` ${address}` : ''}`;
  const tls = [
    `cafile ${checkPath('caFile', files.caFile)}`,
    `certfile ${checkPath('serverCertFile', files.serverCertFile)}`,
    `keyfile ${checkPath('serverKeyFile', files.serverKeyFile)}`,
    // A minimum: TLS 1.3 is negotiated when both sides support it.
    'tls_version tlsv1.2',
    // Without these Mosquitto takes OpenSSL's defaults, which accept CBC suites with SHA-1 MACs.
    `ciphers ${TLS12_CIPHERS}`,
    `ciphers_tls1.3 ${TLS13_CIPHERSUITES}`,
  ];
  const lines = [
    '# Mosquitto 2 broker: mutual TLS for devices, per-device topic ACL. Written by @bulwark/mqtt-tls.',
    'per_listener_settings true',
    `max_packet_size ${maxPacketSize}`,
    ...(allowRetained
      ? ['retain_available true']
      : [
          '# Retained messages would be replayed to every new subscriber as if they were new.',
          'retain_available false',
        ]),
    '',
    '# Devices: a client certificate from this CA is required; its CN is the user name and client id.',
    listen(port),
    ...tls,
    'require_certificate true',
    'use_identity_as_username true',
    // Inside the listener block: at top level with per_listener_settings, Mosquitto opens a plaintext :1883.
    'use_username_as_clientid true',
    'allow_anonymous false',
    `acl_file ${checkPath('aclFile', files.aclFile)}`,
  ];
  if (files.crlFile) lines.push(`crlfile ${checkPath('crlFile', files.crlFile)}`);
  const servicesAuth = () => [
    'allow_anonymous false',
    `password_file ${checkPath('passwordFile', files.passwordFile)}`,
    `acl_file ${checkPath('servicesAclFile', files.servicesAclFile)}`,
  ];
  if (files.passwordFile) {
    if (servicePort === port) {
      throw new MqttConfigError(
        'ERR_BULWARK_MQTT_PORT',
        `servicePort must differ from port (${port}).`,
      );
    }
    lines.push(
      '',
      '# Services: TLS with a user name and password (no client certificate).',
      listen(servicePort),
      ...tls,
      'require_certificate false',
      ...servicesAuth(),
    );
  }
  if (options.plaintextPort !== undefined) {
    const plaintextPort = checkPort('plaintextPort', options.plaintextPort);
    if (!files.passwordFile) {
      throw new MqttConfigError(
        'ERR_BULWARK_MQTT_INSECURE',
        'plaintextPort needs services (a password file): a plaintext listener never allows anonymous or certificate clients.',
      );
    }
    lines.push(
      '',
      '# Plaintext, loopback only, password-authenticated services. Asked for with plaintextPort.',
      listen(plaintextPort, '127.0.0.1'),
      ...servicesAuth(),
    );
  }
  return `${lines.join('\n')}\n`;
}
