// connectSecure(): an mqtt.js client that only speaks verified TLS, re-reads its credentials on
// every reconnect, backs off with jitter, and reports failures as typed errors.
import { X509Certificate } from 'node:crypto';
import { isIP, connect as netConnect } from 'node:net';
import { PassThrough } from 'node:stream';
import { createSecureContext, connect as tlsConnect } from 'node:tls';
import { type IClientOptions, type IStream, MqttClient } from 'mqtt';
import { backoffDelay, RECONNECT_DEFAULTS, type ReconnectOptions } from './backoff.js';
import { connectionError, isTlsFailure, toConnectionError } from './connection-errors.js';
import { channels, type MqttLogger, warn } from './diagnostics.js';
import { MqttConfigError, MqttConnectionError, MqttPublishError } from './errors.js';
import { assertKnownOptions, isSharedSecretFile, readOptionFile } from './options.js';
import { trackSubscriptions } from './subscriptions.js';
import { publishableTopicProblem } from './topics.js';

type Pem = string | Buffer;

/** Options for {@link connectSecure}. */
export interface ConnectSecureOptions {
  /** Broker URL: `mqtts://host:8883` or `wss://host/mqtt`. `mqtt://`/`ws://` only with `allowInsecure`. */
  url: string | URL;
  /** CA certificate(s) to trust instead of the system roots (CA pinning). Default: system roots. */
  ca?: Pem | Pem[];
  /** Path of a PEM file with the CA certificate(s) to pin; re-read on every reconnect. */
  caFile?: string;
  /**
   * Certificate revocation list(s) (PEM) of the broker's CA: a broker certificate listed there is
   * refused with `server_certificate_revoked`. Default: none (revocation is not checked).
   */
  crl?: Pem | Pem[];
  /** Path of a PEM file with the CRL(s); re-read on every reconnect, so a new list applies. */
  crlFile?: string;
  /** Client certificate (PEM) for mutual TLS. */
  cert?: Pem;
  /** Path of the client certificate; re-read on every reconnect, so a rotated file is picked up. */
  certFile?: string;
  /** Client private key (PEM). */
  key?: Pem;
  /** Path of the client private key (mode 0600); re-read on every reconnect. */
  keyFile?: string;
  /** MQTT user name (for password-authenticated services). */
  username?: string;
  /** MQTT password. Prefer `passwordFile`. */
  password?: string | Buffer;
  /** Path of a file holding the MQTT password (mode 0600); re-read on every reconnect. */
  passwordFile?: string;
  /** MQTT client id. Default: the client certificate's CN, or `bulwark_<random>`. */
  clientId?: string;
  /** Lowest TLS version to accept. Default `'TLSv1.2'`. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Name to verify the broker certificate against and to send as SNI. Default: the URL host. */
  servername?: string;
  /** Only `true` is accepted: certificate verification cannot be turned off. */
  rejectUnauthorized?: true;
  /** Allow `mqtt://`/`ws://` (plaintext) outside production, for local development. Default `false`. */
  allowInsecure?: boolean;
  /** MQTT protocol version: 5 reports refused publishes, 4 (3.1.1) drops them silently. Default `5`. */
  protocolVersion?: 4 | 5;
  /** Keepalive interval in seconds. Default `30`. */
  keepalive?: number;
  /** Start a clean session. Default `true`. */
  clean?: boolean;
  /** How long to wait for the broker to accept a connection (TLS + CONNACK), in ms. Default `10_000`. */
  connectTimeoutMs?: number;
  /** Reconnect backoff, or `false` to never reconnect. Default: 1 s doubling to 30 s, jitter 0.5. */
  reconnect?: ReconnectOptions | false;
  /** Keep retrying (with backoff) when the first connection fails, instead of rejecting. Default `false`. */
  retryFirstConnect?: boolean;
  /** Last will, as mqtt.js takes it. */
  will?: IClientOptions['will'];
  /** MQTT 5 CONNECT properties, as mqtt.js takes them. */
  properties?: IClientOptions['properties'];
  /** Cancels a pending first connection. */
  signal?: AbortSignal;
  /** winston-shaped logger for warnings. Default: `process.emitWarning`. */
  logger?: MqttLogger;
}

const KNOWN = [
  'url',
  'ca',
  'caFile',
  'crl',
  'crlFile',
  'cert',
  'certFile',
  'key',
  'keyFile',
  'username',
  'password',
  'passwordFile',
  'clientId',
  'minVersion',
  'servername',
  'rejectUnauthorized',
  'allowInsecure',
  'protocolVersion',
  'keepalive',
  'clean',
  'connectTimeoutMs',
  'reconnect',
  'retryFirstConnect',
  'will',
  'properties',
  'signal',
  'logger',
] as const;

// Names from mqtt.js, paho and other clients that users reach for; mqtt.js ignores several silently.
const ALIASES: Record<string, string> = {
  certPath: 'certFile',
  keyPath: 'keyFile',
  caPath: 'caFile',
  caPaths: 'caFile',
  cafile: 'caFile',
  certfile: 'certFile',
  keyfile: 'keyFile',
  host: 'url',
  hostname: 'url',
  port: 'url',
  protocol: 'url',
  reconnectPeriod: 'reconnect',
  connectTimeout: 'connectTimeoutMs',
  checkServerIdentity: 'servername',
  secureProtocol: 'minVersion',
  insecure: 'allowInsecure',
};

const SECURE_PROTOCOLS = new Set(['mqtts:', 'wss:']);
const INSECURE_PROTOCOLS = new Set(['mqtt:', 'ws:']);

interface Endpoint {
  protocol: 'mqtts' | 'wss' | 'mqtt' | 'ws';
  host: string;
  port: number;
  path: string;
}

interface Material {
  ca?: Pem | Pem[];
  crl?: Pem | Pem[];
  cert?: Pem;
  key?: Pem;
  password?: Buffer;
}

function fail(code: `ERR_BULWARK_MQTT_${string}`, message: string): never {
  throw new MqttConfigError(code, message);
}

function parseEndpoint(url: unknown, allowInsecure: boolean, production: boolean): Endpoint {
  let parsed: URL;
  try {
    parsed = url instanceof URL ? url : new URL(String(url));
  } catch {
    fail(
      'ERR_BULWARK_MQTT_URL',
      `url: ${JSON.stringify(String(url))} is not a URL. Use mqtts://host:8883.`,
    );
  }
  if (parsed.username || parsed.password) {
    fail(
      'ERR_BULWARK_MQTT_URL_CREDENTIALS',
      'url: the URL carries a user name or password, which ends up in logs. Pass username and passwordFile instead.',
    );
  }
  const { protocol } = parsed;
  if (INSECURE_PROTOCOLS.has(protocol)) {
    if (production) {
      fail(
        'ERR_BULWARK_MQTT_INSECURE',
        `url: ${protocol}// is plaintext and NODE_ENV is production, where plaintext is never allowed (even with allowInsecure). Use mqtts:// or wss://.`,
      );
    }
    if (!allowInsecure) {
      fail(
        'ERR_BULWARK_MQTT_INSECURE',
        `url: ${protocol}// is plaintext. Use mqtts:// or wss://, or set allowInsecure: true for local development.`,
      );
    }
  } else if (!SECURE_PROTOCOLS.has(protocol)) {
    fail(
      'ERR_BULWARK_MQTT_URL',
      `url: the scheme ${JSON.stringify(protocol)} is not supported. Use mqtts:// (MQTT over TLS) or wss:// (MQTT over secure WebSocket).`,
    );
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (!host) fail('ERR_BULWARK_MQTT_URL', 'url: the URL has no host. Use mqtts://host:8883.');
  const name = protocol.slice(0, -1) as Endpoint['protocol'];
  const defaultPort = { mqtts: 8883, wss: 443, mqtt: 1883, ws: 80 }[name];
  return {
    protocol: name,
    host,
    port: parsed.port ? Number(parsed.port) : defaultPort,
    path: `${parsed.pathname || '/'}${parsed.search}`,
  };
}

function isPem(value: unknown): value is Pem {
  return (typeof value === 'string' && value.length > 0) || Buffer.isBuffer(value);
}

function pick<T>(
  inline: T | undefined,
  file: string | undefined,
  inlineName: string,
  fileName: string,
): 'inline' | 'file' | undefined {
  if (inline !== undefined && file !== undefined) {
    fail('ERR_BULWARK_MQTT_CONFLICT', `Pass either ${inlineName} or ${fileName}, not both.`);
  }
  if (inline !== undefined) return 'inline';
  if (file !== undefined) return 'file';
  return undefined;
}

function stripNewline(buffer: Buffer): Buffer {
  let end = buffer.length;
  while (end > 0 && (buffer[end - 1] === 0x0a || buffer[end - 1] === 0x0d)) end--;
  return buffer.subarray(0, end);
}

/** Resolved, validated settings for one client. */
interface Settings {
  endpoint: Endpoint;
  load: () => Material;
  sentCertificate: boolean;
  servername: string | undefined;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  mqtt: IClientOptions;
  reconnect: Required<ReconnectOptions> | false;
  retryFirstConnect: boolean;
  logger: MqttLogger | undefined;
  signal: AbortSignal | undefined;
}

function resolveSettings(options: ConnectSecureOptions): Settings {
  if (typeof options !== 'object' || options === null) {
    fail(
      'ERR_BULWARK_MQTT_OPTIONS',
      'connectSecure(options): options must be an object with at least url.',
    );
  }
  assertKnownOptions('connectSecure', options, KNOWN, ALIASES);
  const production = process.env.NODE_ENV === 'production';
  if (options.allowInsecure !== undefined && typeof options.allowInsecure !== 'boolean') {
    fail(
      'ERR_BULWARK_MQTT_OPTIONS',
      `allowInsecure: ${JSON.stringify(options.allowInsecure)} must be a boolean.`,
    );
  }
  if (options.rejectUnauthorized !== undefined && options.rejectUnauthorized !== true) {
    fail(
      'ERR_BULWARK_MQTT_UNVERIFIED_TLS',
      `rejectUnauthorized: ${JSON.stringify(options.rejectUnauthorized)} would accept any broker certificate. Pin the broker's CA with ca/caFile instead.`,
    );
  }
  const endpoint = parseEndpoint(options.url, options.allowInsecure === true, production);
  const secure = endpoint.protocol === 'mqtts' || endpoint.protocol === 'wss';

  const minVersion = options.minVersion ?? 'TLSv1.2';
  if (minVersion !== 'TLSv1.2' && minVersion !== 'TLSv1.3') {
    fail(
      'ERR_BULWARK_MQTT_TLS_VERSION',
      `minVersion: ${JSON.stringify(minVersion)} is not allowed. Use 'TLSv1.2' (the default) or 'TLSv1.3'.`,
    );
  }
  if (options.servername !== undefined) {
    if (
      typeof options.servername !== 'string' ||
      options.servername === '' ||
      isIP(options.servername)
    ) {
      fail(
        'ERR_BULWARK_MQTT_SERVERNAME',
        `servername: ${JSON.stringify(options.servername)} must be a DNS name (IP addresses are checked from the URL host).`,
      );
    }
  }

  const caSource = pick(options.ca, options.caFile, 'ca', 'caFile');
  const crlSource = pick(options.crl, options.crlFile, 'crl', 'crlFile');
  const certSource = pick(options.cert, options.certFile, 'cert', 'certFile');
  const keySource = pick(options.key, options.keyFile, 'key', 'keyFile');
  const passwordSource = pick(options.password, options.passwordFile, 'password', 'passwordFile');
  if (Boolean(certSource) !== Boolean(keySource)) {
    fail(
      'ERR_BULWARK_MQTT_CLIENT_CERT_INCOMPLETE',
      `${certSource ? 'A client certificate was given without its key' : 'A client key was given without its certificate'}. Pass both cert/certFile and key/keyFile.`,
    );
  }
  if (caSource === 'inline') {
    const list = Array.isArray(options.ca) ? options.ca : [options.ca];
    if (list.length === 0 || !list.every(isPem)) {
      fail('ERR_BULWARK_MQTT_CA', 'ca must be a PEM string or Buffer, or an array of them.');
    }
  }
  if (crlSource === 'inline') {
    const list = Array.isArray(options.crl) ? options.crl : [options.crl];
    if (list.length === 0 || !list.every(isPem)) {
      fail('ERR_BULWARK_MQTT_CRL', 'crl must be a PEM string or Buffer, or an array of them.');
    }
  }
  if (certSource === 'inline' && !isPem(options.cert))
    fail('ERR_BULWARK_MQTT_CLIENT_CERT', 'cert must be a PEM string or Buffer.');
  if (keySource === 'inline' && !isPem(options.key))
    fail('ERR_BULWARK_MQTT_CLIENT_CERT', 'key must be a PEM string or Buffer.');
  if (passwordSource === 'inline' && !isPem(options.password)) {
    fail(
      'ERR_BULWARK_MQTT_PASSWORD',
      'password must be a non-empty string or Buffer. Prefer passwordFile.',
    );
  }
  if (
    options.username !== undefined &&
    (typeof options.username !== 'string' || options.username === '')
  ) {
    fail('ERR_BULWARK_MQTT_USERNAME', 'username must be a non-empty string.');
  }
  if (passwordSource && options.username === undefined) {
    fail(
      'ERR_BULWARK_MQTT_USERNAME',
      'A password was given without a username. Pass username too.',
    );
  }
  if (!secure && (certSource || caSource || crlSource)) {
    fail(
      'ERR_BULWARK_MQTT_INSECURE',
      `url: ${endpoint.protocol}:// is plaintext but TLS material (ca/crl/cert/key) was given. Use mqtts:// or wss://.`,
    );
  }

  const load = (): Material => {
    const material: Material = {};
    if (caSource === 'inline') material.ca = options.ca as Pem | Pem[];
    if (caSource === 'file') material.ca = readOptionFile('caFile', options.caFile);
    if (crlSource === 'inline') material.crl = options.crl as Pem | Pem[];
    if (crlSource === 'file') material.crl = readOptionFile('crlFile', options.crlFile);
    if (certSource === 'inline') material.cert = options.cert as Pem;
    if (certSource === 'file') material.cert = readOptionFile('certFile', options.certFile);
    if (keySource === 'inline') material.key = options.key as Pem;
    if (keySource === 'file') material.key = readOptionFile('keyFile', options.keyFile);
    if (passwordSource === 'inline') material.password = Buffer.from(options.password as Pem);
    if (passwordSource === 'file') {
      material.password = stripNewline(readOptionFile('passwordFile', options.passwordFile));
    }
    return material;
  };

  const logger = options.logger;
  const initial = load();
  let certificateCn: string | undefined;
  if (secure) {
    try {
      createSecureContext({
        ...(initial.ca ? { ca: initial.ca } : {}),
        ...(initial.cert ? { cert: initial.cert, key: initial.key } : {}),
      });
    } catch (err) {
      const reason = (err as Error).message.includes('key values mismatch')
        ? 'the key does not belong to the certificate'
        : 'it is not valid PEM';
      fail(
        initial.cert ? 'ERR_BULWARK_MQTT_CLIENT_CERT' : 'ERR_BULWARK_MQTT_CA',
        `The TLS material was refused: ${reason}. Check ca/caFile, cert/certFile and key/keyFile.`,
      );
    }
    if (initial.crl) {
      const crls = Array.isArray(initial.crl) ? initial.crl : [initial.crl];
      let usable = crls.every((crl) => String(crl).includes('-----BEGIN X509 CRL-----'));
      try {
        if (usable) createSecureContext({ crl: initial.crl });
      } catch {
        usable = false;
      }
      if (!usable) {
        fail(
          'ERR_BULWARK_MQTT_CRL',
          'crl/crlFile does not hold a PEM CRL (-----BEGIN X509 CRL-----). Give the CRL your CA publishes, such as the crl.pem of bulwark-certs.',
        );
      }
    }
    if (initial.cert) {
      try {
        const cn = /(?:^|\n)CN=([^\n]*)/.exec(new X509Certificate(initial.cert).subject)?.[1];
        certificateCn = cn;
      } catch {
        fail('ERR_BULWARK_MQTT_CLIENT_CERT', 'cert/certFile does not hold a PEM certificate.');
      }
    }
  }
  for (const [option, path] of [
    ['keyFile', options.keyFile],
    ['passwordFile', options.passwordFile],
  ] as const) {
    if (path && isSharedSecretFile(path)) {
      warn(
        logger,
        'BULWARK_MQTT_SECRET_FILE_MODE',
        `${option}: the file can be read by other users of this machine. Run chmod 600 on it.`,
        { option },
      );
    }
  }
  if (passwordSource === 'file' && initial.password?.length === 0) {
    fail('ERR_BULWARK_MQTT_PASSWORD', `passwordFile: "${options.passwordFile}" is empty.`);
  }

  const protocolVersion = options.protocolVersion ?? 5;
  if (protocolVersion !== 4 && protocolVersion !== 5) {
    fail(
      'ERR_BULWARK_MQTT_PROTOCOL_VERSION',
      `protocolVersion: ${JSON.stringify(protocolVersion)} must be 4 (MQTT 3.1.1) or 5.`,
    );
  }
  const keepalive = options.keepalive ?? 30;
  if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65_535) {
    fail(
      'ERR_BULWARK_MQTT_KEEPALIVE',
      `keepalive: ${JSON.stringify(keepalive)} must be a whole number of seconds from 0 to 65535, such as 30.`,
    );
  }
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  if (!Number.isFinite(connectTimeoutMs) || connectTimeoutMs <= 0) {
    fail(
      'ERR_BULWARK_MQTT_TIMEOUT',
      `connectTimeoutMs: ${JSON.stringify(connectTimeoutMs)} must be a positive number of milliseconds, such as 10_000.`,
    );
  }
  const clientId =
    options.clientId ?? certificateCn ?? `bulwark_${Math.random().toString(16).slice(2, 10)}`;
  if (
    typeof clientId !== 'string' ||
    clientId === '' ||
    clientId.length > 128 ||
    clientId.includes('\u0000')
  ) {
    fail(
      'ERR_BULWARK_MQTT_CLIENT_ID',
      'clientId must be a non-empty string of at most 128 characters without NUL.',
    );
  }

  let reconnect: Required<ReconnectOptions> | false = false;
  if (options.reconnect !== false) {
    const given = options.reconnect ?? {};
    if (typeof given !== 'object' || given === null) {
      fail(
        'ERR_BULWARK_MQTT_RECONNECT',
        'reconnect must be an object ({ initialDelayMs, maxDelayMs, multiplier, jitter }) or false.',
      );
    }
    assertKnownOptions('connectSecure reconnect', given, Object.keys(RECONNECT_DEFAULTS));
    reconnect = { ...RECONNECT_DEFAULTS, ...given };
    const { initialDelayMs, maxDelayMs, multiplier, jitter } = reconnect;
    if (!(initialDelayMs > 0) || !(maxDelayMs >= initialDelayMs) || !Number.isFinite(maxDelayMs)) {
      fail(
        'ERR_BULWARK_MQTT_RECONNECT',
        `reconnect: initialDelayMs ${initialDelayMs} and maxDelayMs ${maxDelayMs} must be positive, with maxDelayMs >= initialDelayMs, such as 1000 and 30_000.`,
      );
    }
    if (!(multiplier >= 1) || !Number.isFinite(multiplier)) {
      fail(
        'ERR_BULWARK_MQTT_RECONNECT',
        `reconnect.multiplier: ${multiplier} must be a number >= 1, such as 2.`,
      );
    }
    if (!(jitter >= 0 && jitter <= 1)) {
      fail(
        'ERR_BULWARK_MQTT_RECONNECT',
        `reconnect.jitter: ${jitter} must be between 0 and 1, such as 0.5.`,
      );
    }
  }

  const mqtt: IClientOptions = {
    protocolVersion,
    clientId,
    keepalive,
    clean: options.clean ?? true,
    connectTimeout: connectTimeoutMs,
    // Reconnects are scheduled here, with backoff; mqtt.js would retry at a fixed period.
    reconnectPeriod: 0,
    manualConnect: true,
    resubscribe: true,
  };
  if (options.username !== undefined) mqtt.username = options.username;
  if (options.will !== undefined) mqtt.will = options.will;
  if (options.properties !== undefined) mqtt.properties = options.properties;

  return {
    endpoint,
    load,
    sentCertificate: certSource !== undefined,
    servername: options.servername ?? (isIP(endpoint.host) ? undefined : endpoint.host),
    minVersion,
    mqtt,
    reconnect,
    retryFirstConnect: options.retryFirstConnect === true,
    logger,
    signal: options.signal,
  };
}

type WsStreamBuilder = (client: MqttClient, opts: IClientOptions) => IStream;
let wsStreamBuilder: WsStreamBuilder | undefined;

async function loadWsBuilder(): Promise<WsStreamBuilder> {
  if (!wsStreamBuilder) {
    const module = (await import('mqtt/lib/connect/ws')) as unknown as {
      streamBuilder?: WsStreamBuilder;
      default?: { streamBuilder?: WsStreamBuilder };
    };
    const builder = module.streamBuilder ?? module.default?.streamBuilder;
    if (!builder) throw new Error('mqtt.js has no WebSocket stream builder');
    wsStreamBuilder = builder;
  }
  return wsStreamBuilder;
}

function openStream(settings: Settings, client: MqttClient, material: Material): IStream {
  const { endpoint, servername, minVersion } = settings;
  const tlsOptions = {
    minVersion,
    rejectUnauthorized: true,
    ...(servername ? { servername } : {}),
    ...(material.ca ? { ca: material.ca } : {}),
    ...(material.crl ? { crl: material.crl } : {}),
    ...(material.cert ? { cert: material.cert, key: material.key } : {}),
  };
  switch (endpoint.protocol) {
    case 'mqtts':
      return tlsConnect({
        host: endpoint.host,
        port: endpoint.port,
        ...tlsOptions,
      }) as unknown as IStream;
    case 'mqtt':
      return netConnect({ host: endpoint.host, port: endpoint.port }) as unknown as IStream;
    default:
      return (wsStreamBuilder as WsStreamBuilder)(client, {
        protocol: endpoint.protocol,
        // mqtt.js pastes the hostname into the URL, where an IPv6 address needs its brackets.
        hostname: isIP(endpoint.host) === 6 ? `[${endpoint.host}]` : endpoint.host,
        port: endpoint.port,
        path: endpoint.path,
        protocolId: 'MQTT',
        protocolVersion: settings.mqtt.protocolVersion ?? 5,
        wsOptions: endpoint.protocol === 'wss' ? tlsOptions : {},
      });
  }
}

/**
 * Connects to an MQTT broker over verified TLS and resolves with the connected mqtt.js client.
 *
 * Only `mqtts://` and `wss://` are accepted (plaintext needs `allowInsecure: true` and is never
 * allowed when `NODE_ENV=production`); certificate verification cannot be turned off. Certificate,
 * key, CA and password files are re-read on every reconnect, so rotating a device certificate
 * needs no restart. Reconnects back off exponentially with jitter and a cap, and always use TLS.
 * Failures reach the client's `error` event (or the logger, when nothing listens) as
 * {@link MqttConnectionError}s with a stable `code`; `publish` on the returned client refuses
 * wildcard, `$` and malformed topics before they reach the wire.
 *
 * Defaults: `minVersion: 'TLSv1.2'`, `protocolVersion: 5`, `keepalive: 30`,
 * `connectTimeoutMs: 10_000`, `reconnect: { initialDelayMs: 1000, maxDelayMs: 30_000,
 * multiplier: 2, jitter: 0.5 }`, `retryFirstConnect: false`.
 *
 * @throws {MqttConfigError} synchronously, for bad options (`ERR_BULWARK_MQTT_INSECURE`,
 *   `ERR_BULWARK_MQTT_UNVERIFIED_TLS`, `ERR_BULWARK_MQTT_UNKNOWN_OPTION`, ...).
 * @returns a promise that rejects with a {@link MqttConnectionError} when the first connection
 *   fails (unless `retryFirstConnect`), or with the signal's reason when aborted.
 * @example
 * const client = await connectSecure({
 *   url: 'mqtts://broker.internal:8883',
 *   caFile: '/etc/bulwark/ca.crt',
 *   certFile: '/etc/bulwark/device.crt',
 *   keyFile: '/etc/bulwark/device.key',
 * });
 * await publishSafe(client, deviceTopic('dev-1', 'telemetry'), JSON.stringify({ t: 21.5 }));
 */
export function connectSecure(options: ConnectSecureOptions): Promise<MqttClient> {
  const settings = resolveSettings(options);
  const ready = settings.endpoint.protocol.startsWith('ws')
    ? loadWsBuilder()
    : Promise.resolve(undefined);
  return ready.then(() => start(settings));
}

function start(settings: Settings): Promise<MqttClient> {
  const { endpoint, logger } = settings;
  const context = { sentCertificate: settings.sentCertificate };
  let attemptFailed = false;
  let connackSeen = false;
  let everConnected = false;
  let stopped = false;
  let failures = 0;
  let lastCode: string | undefined;
  let timer: NodeJS.Timeout | undefined;

  const builder = (client: MqttClient): IStream => {
    attemptFailed = false;
    connackSeen = false;
    let material: Material;
    try {
      material = settings.load();
    } catch (err) {
      const stream = new PassThrough();
      const failure = connectionError('credentials_unreadable', { cause: err });
      process.nextTick(() => stream.destroy(failure));
      return stream as unknown as IStream;
    }
    if (material.password) client.options.password = material.password;
    return openStream(settings, client, material);
  };

  const client = new MqttClient(builder, settings.mqtt);
  const clientId = settings.mqtt.clientId as string;
  const where = { clientId, host: endpoint.host, port: endpoint.port, protocol: endpoint.protocol };

  // mqtt.js emits raw socket and protocol errors; turn them into typed ones, once per attempt.
  const rawEmit = client.emit.bind(client) as (event: string, ...args: unknown[]) => boolean;
  // The first-connection promise listens for errors too; it must not hide them from the logger.
  let internalListeners = 0;
  const report = (failure: MqttConnectionError): void => {
    lastCode = failure.code;
    if (isTlsFailure(failure.code)) {
      channels.tlsError.publish({ ...where, code: failure.code, tlsCode: failure.tlsCode });
    }
    const userListens = client.listenerCount('error') > internalListeners;
    if (client.listenerCount('error') > 0) rawEmit('error', failure);
    if (!userListens && (everConnected || settings.retryFirstConnect)) {
      warn(logger, 'BULWARK_MQTT_CONNECTION', failure.message, {
        ...where,
        errorCode: failure.code,
      });
    }
  };
  (client as unknown as { emit: typeof rawEmit }).emit = (event, ...args) => {
    if (event !== 'error') return rawEmit(event, ...args);
    let failure = toConnectionError(args[0], context);
    if (failure?.code === 'connection_reset' && !connackSeen) {
      // Reset before CONNACK is the broker refusing the connection, e.g. plaintext on a TLS port.
      failure = connectionError('connection_closed', {
        cause: args[0],
        ...(failure.tlsCode ? { tlsCode: failure.tlsCode } : {}),
      });
    }
    if (!failure) {
      if (client.listenerCount('error') > 0) return rawEmit('error', ...args);
      warn(
        logger,
        'BULWARK_MQTT_CLIENT',
        (args[0] as Error)?.message ?? 'MQTT client error',
        where,
      );
      return false;
    }
    if (attemptFailed) return true;
    attemptFailed = true;
    report(failure);
    return true;
  };

  // Refuse wildcard, $SYS and malformed topics before they reach the wire, for every publish path.
  const rawPublish = client.publish.bind(client) as (...args: unknown[]) => MqttClient;
  (client as unknown as { publish: typeof rawPublish }).publish = (...args) => {
    const [topic] = args;
    const problem = publishableTopicProblem(topic, { maxBytes: 65_535, maxLevels: 128 });
    if (!problem) return rawPublish(...args);
    const callback = args.findLast((arg) => typeof arg === 'function') as
      | ((err: Error) => void)
      | undefined;
    const error = publishRefusal(problem);
    if (callback) process.nextTick(callback, error);
    else if (client.listenerCount('error') > 0) rawEmit('error', error);
    else warn(logger, 'BULWARK_MQTT_PUBLISH', error.message, where);
    return client;
  };

  const subscriptions = trackSubscriptions(client);
  client.on('connect', () => {
    connackSeen = true;
    if (everConnected) subscriptions.restore();
    const attempt = failures;
    failures = 0;
    everConnected = true;
    const stream = client.stream as unknown as { getProtocol?: () => string | null };
    channels.connect.publish({
      ...where,
      reconnect: attempt > 0,
      tlsVersion: stream.getProtocol?.() ?? undefined,
    });
  });

  client.on('end', () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
  });

  client.on('close', () => {
    if (stopped || client.disconnecting || client.disconnected) return;
    if (!connackSeen && !attemptFailed) {
      attemptFailed = true;
      report(connectionError('connection_closed'));
    }
    if (stopped || client.disconnecting || client.disconnected) return;
    if (settings.reconnect === false || (!everConnected && !settings.retryFirstConnect)) return;
    if (timer) return;
    failures += 1;
    const delayMs = backoffDelay(failures, settings.reconnect);
    channels.reconnect.publish({ ...where, attempt: failures, delayMs, code: lastCode });
    timer = setTimeout(() => {
      timer = undefined;
      if (stopped || client.disconnected) return;
      // Keep the stores, so QoS 1/2 messages queued while offline are sent after reconnecting.
      client.reconnect({
        incomingStore: client.incomingStore,
        outgoingStore: client.outgoingStore,
      });
    }, delayMs);
  });

  return new Promise<MqttClient>((resolve, reject) => {
    const { signal } = settings;
    const settle = (): void => {
      internalListeners = 0;
      client.removeListener('error', onFirstError);
      client.removeListener('connect', onFirstConnect);
      signal?.removeEventListener('abort', onAbort);
    };
    const onFirstConnect = (): void => {
      settle();
      resolve(client);
    };
    const onFirstError = (err: Error): void => {
      if (settings.retryFirstConnect || !(err instanceof MqttConnectionError)) return;
      settle();
      client.end(true);
      reject(err);
    };
    const onAbort = (): void => {
      settle();
      client.end(true);
      reject(signal?.reason);
    };
    if (signal?.aborted) {
      // Nothing was opened yet, so there is nothing to end.
      stopped = true;
      reject(signal.reason);
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    client.on('connect', onFirstConnect);
    client.on('error', onFirstError);
    internalListeners = 1;
    client.connect();
  });
}

function publishRefusal(problem: string): MqttPublishError {
  return new MqttPublishError(
    'topic_invalid',
    `Refused to publish: the topic is not publishable (${problem}).`,
  );
}
