// The Mosquitto broker config and ACL files that enforce mTLS device identity and per-device topics.
import { isIP } from 'node:net';
import { MqttConfigError } from './errors.js';
import { assertKnownOptions } from './options.js';
import { DEVICE_TOPIC_ROOT } from './topics.js';

/** Topic filters a password-authenticated service may read and write. */
export interface ServiceRights {
  /** Filters the service may subscribe to. Default `['devices/#']`. */
  read?: string[];
  /** Filters the service may publish to. Default `['devices/#']`. */
  write?: string[];
}

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

/** The service ACL: one `user` block per service with its read and write filters. */
export function servicesAcl(services: Record<string, ServiceRights>): string {
  const lines = ['# Topic rights of password-authenticated services.'];
  for (const [name, rights] of Object.entries(services)) {
    lines.push('', `user ${name}`);
    for (const filter of rights.read ?? [`${DEVICE_TOPIC_ROOT}/#`])
      lines.push(`topic read ${filter}`);
    for (const filter of rights.write ?? [`${DEVICE_TOPIC_ROOT}/#`])
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
 * `use_username_as_clientid true`, `tls_version tlsv1.2` as the minimum, `allow_anonymous false`,
 * the device ACL, `crlfile` when there is a CRL), a TLS listener for password-authenticated
 * services when `passwordFile` is set, `max_packet_size`, and no plaintext listener unless
 * `plaintextPort` asks for one.
 *
 * @throws {MqttConfigError} `ERR_BULWARK_MQTT_PORT`, `ERR_BULWARK_MQTT_BIND_ADDRESS`,
 *   `ERR_BULWARK_MQTT_PATH` for bad values.
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
  ]);
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
  ];
  const lines = [
    '# Mosquitto 2 broker: mutual TLS for devices, per-device topic ACL. Written by @bulwark/mqtt-tls.',
    'per_listener_settings true',
    `max_packet_size ${maxPacketSize}`,
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
