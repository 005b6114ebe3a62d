// Certificate tooling: an internal CA, a broker certificate, device and service credentials, a CRL,
// and the Mosquitto config and ACL that go with them.
import { pbkdf2Sync, randomBytes, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { MqttConfigError } from './errors.js';
import {
  mosquittoAcl,
  mosquittoConfig,
  type ServiceRights,
  servicesAcl,
} from './mosquitto-config.js';
import { assertKnownOptions } from './options.js';
import { hasControlCharacter, isSafeIdentity } from './topics.js';

type X509 = typeof import('@peculiar/x509');
let x509Module: Promise<X509> | undefined;

// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API.
// Loaded on first use only, so clients that never issue certificates never touch the global.
function loadX509(): Promise<X509> {
  x509Module ??= import('reflect-metadata').then(() => import('@peculiar/x509'));
  return x509Module;
}

// Passed explicitly to @peculiar/x509, so its global crypto provider is left alone.
const crypto = webcrypto;
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

/** A backend service that logs in with a user name and password on the service listener. */
export interface ServiceDefinition extends ServiceRights {
  /** User name; same charset as device ids. */
  name: string;
}

/** Options for {@link createCertificates}. */
export interface CreateCertificatesOptions {
  /** Folder to write into (created with mode 0700). */
  dir: string;
  /** Common name of the CA. Default `'Bulwark MQTT CA'`. */
  caName?: string;
  /** DNS names and IP addresses the broker is reached by (its SANs). Default `['localhost', '127.0.0.1']`. */
  serverHosts?: string[];
  /** Device ids; each gets a client certificate with CN = id. Default `[]`. */
  devices?: string[];
  /** Services that log in with a password, by name or with their topic rights. Default `[]`. */
  services?: Array<string | ServiceDefinition>;
  /** Validity of the broker and device certificates, in days. Default `365`. */
  validityDays?: number;
  /** Validity of the CA certificate, in days. Default `3650`. */
  caValidityDays?: number;
  /** Port of the mTLS device listener in the generated `mosquitto.conf`. Default `8883`. */
  port?: number;
  /** Port of the password-authenticated TLS service listener (only when there are services). Default `8884`. */
  servicePort?: number;
  /** Address the listeners bind to. Default: all interfaces. */
  bindAddress?: string;
  /** Broker `max_packet_size` in bytes. Default `262_144`. */
  maxPacketSize?: number;
  /** Replace an existing CA in `dir`. Default `false` (refuse, so a CA is never lost by accident). */
  overwrite?: boolean;
}

/** Where the files of one device live. */
export interface DeviceCredentials {
  deviceId: string;
  certFile: string;
  keyFile: string;
  /** Hexadecimal serial number of the current certificate. */
  serialNumber: string;
  notAfter: Date;
}

/** Where the files of one service live. */
export interface ServiceCredentials {
  username: string;
  /** File holding the password (mode 0600), for `connectSecure({ passwordFile })`. */
  passwordFile: string;
}

/** Everything {@link createCertificates} wrote. */
export interface CertificateSet {
  dir: string;
  caFile: string;
  caKeyFile: string;
  crlFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  mosquittoConfFile: string;
  aclFile: string;
  servicesAclFile: string | undefined;
  passwordFile: string | undefined;
  devices: Record<string, DeviceCredentials>;
  services: Record<string, ServiceCredentials>;
}

interface RegistryCertificate {
  serialNumber: string;
  notAfter: string;
  revokedAt?: string;
}

interface Registry {
  version: 1;
  caName: string;
  crlNumber: number;
  config: {
    port: number;
    servicePort: number;
    bindAddress?: string;
    maxPacketSize: number;
  };
  devices: Record<string, RegistryCertificate[]>;
  services: Record<string, ServiceRights>;
}

const KNOWN = [
  'dir',
  'caName',
  'serverHosts',
  'devices',
  'services',
  'validityDays',
  'caValidityDays',
  'port',
  'servicePort',
  'bindAddress',
  'maxPacketSize',
  'overwrite',
];

function fail(code: `ERR_BULWARK_MQTT_${string}`, message: string): never {
  throw new MqttConfigError(code, message);
}

/** Writes a file atomically with `mode`, so a reader never sees half a key or a wider mode. */
function writePrivate(path: string, data: string | Buffer, mode = 0o600): void {
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, data, { mode });
  chmodSync(temporary, mode);
  renameSync(temporary, path);
}

function pem(label: string, der: ArrayBuffer): string {
  const body = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f;
  if (bytes[0] === 0) bytes[0] = 1;
  return bytes.toString('hex');
}

function positiveDays(name: string, value: unknown, fallback: number): number {
  const days = value ?? fallback;
  if (typeof days !== 'number' || !Number.isFinite(days) || days <= 0 || days > 36_500) {
    fail(
      'ERR_BULWARK_MQTT_VALIDITY',
      `${name}: ${JSON.stringify(days)} must be a number of days from 1 to 36500, such as ${fallback}.`,
    );
  }
  return days;
}

function port(name: string, value: unknown, fallback: number): number {
  const chosen = value ?? fallback;
  if (!Number.isInteger(chosen) || (chosen as number) < 1 || (chosen as number) > 65_535) {
    fail(
      'ERR_BULWARK_MQTT_PORT',
      `${name}: ${JSON.stringify(chosen)} must be a port number from 1 to 65535.`,
    );
  }
  return chosen as number;
}

function assertIdentity(kind: string, id: unknown): asserts id is string {
  if (!isSafeIdentity(id)) {
    fail(
      'ERR_BULWARK_MQTT_IDENTITY',
      `${kind} ${JSON.stringify(id)} is not a safe identity. Use 1-64 characters from A-Z a-z 0-9 . _ : - starting with a letter or digit (no / + # $ or spaces).`,
    );
  }
}

function assertHost(host: unknown): asserts host is string {
  const dns =
    /^(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
  if (typeof host !== 'string' || (!isIP(host) && !dns.test(host))) {
    fail(
      'ERR_BULWARK_MQTT_SERVER_HOSTS',
      `serverHosts: ${JSON.stringify(host)} is neither a DNS name nor an IP address.`,
    );
  }
}

function paths(dir: string) {
  const root = resolve(dir);
  return {
    root,
    caFile: join(root, 'ca.crt'),
    caKeyFile: join(root, 'ca.key'),
    crlFile: join(root, 'ca.crl'),
    serverCertFile: join(root, 'server.crt'),
    serverKeyFile: join(root, 'server.key'),
    mosquittoConfFile: join(root, 'mosquitto.conf'),
    aclFile: join(root, 'devices.acl'),
    servicesAclFile: join(root, 'services.acl'),
    passwordFile: join(root, 'passwd'),
    registryFile: join(root, 'registry.json'),
    deviceDir: (id: string) => join(root, 'devices', id),
    servicePasswordFile: (name: string) => join(root, 'services', `${name}.password`),
  };
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
}

async function exportKey(key: CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', key));
}

interface Authority {
  certificate: InstanceType<X509['X509Certificate']>;
  key: CryptoKey;
}

async function loadAuthority(dir: string): Promise<Authority> {
  const x509 = await loadX509();
  const files = paths(dir);
  let certificatePem: string;
  let keyPem: string;
  try {
    certificatePem = readFileSync(files.caFile, 'utf8');
    keyPem = readFileSync(files.caKeyFile, 'utf8');
  } catch {
    fail(
      'ERR_BULWARK_MQTT_NO_CA',
      `dir: no CA in "${files.root}". Run createCertificates (bulwark-certs init) first.`,
    );
  }
  const der = x509.PemConverter.decodeFirst(keyPem);
  const key = await crypto.subtle.importKey(
    'pkcs8',
    der,
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  return { certificate: new x509.X509Certificate(certificatePem), key };
}

function readRegistry(dir: string): Registry {
  const files = paths(dir);
  try {
    return JSON.parse(readFileSync(files.registryFile, 'utf8')) as Registry;
  } catch {
    fail(
      'ERR_BULWARK_MQTT_NO_CA',
      `dir: no registry.json in "${files.root}". Run createCertificates (bulwark-certs init) first.`,
    );
  }
}

function writeRegistry(dir: string, registry: Registry): void {
  writePrivate(paths(dir).registryFile, `${JSON.stringify(registry, null, 2)}\n`);
}

async function issue(
  authority: Authority,
  subject: string,
  {
    days,
    notBefore,
    server,
    hosts = [],
  }: { days: number; notBefore: Date; server: boolean; hosts?: string[] },
): Promise<{ certificatePem: string; keyPem: string; serialNumber: string; notAfter: Date }> {
  const x509 = await loadX509();
  const keys = await generateKeys();
  const serialNumber = serial();
  const notAfter = new Date(notBefore.getTime() + days * DAY);
  const extensions: InstanceType<X509['Extension']>[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([
      server ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
    ]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    await x509.AuthorityKeyIdentifierExtension.create(authority.certificate, false, crypto),
  ];
  if (server) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        hosts.map((host) =>
          isIP(host) ? { type: 'ip' as const, value: host } : { type: 'dns' as const, value: host },
        ),
      ),
    );
  }
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber,
      subject: [{ CN: [subject] }],
      issuer: authority.certificate.subjectName,
      notBefore,
      notAfter,
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: authority.key,
      extensions,
    },
    crypto,
  );
  return {
    certificatePem: certificate.toString('pem'),
    keyPem: await exportKey(keys.privateKey),
    serialNumber,
    notAfter,
  };
}

async function writeCrl(dir: string, authority: Authority, registry: Registry): Promise<void> {
  const x509 = await loadX509();
  const entries = Object.values(registry.devices)
    .flat()
    .filter((certificate) => certificate.revokedAt)
    .map((certificate) => ({
      serialNumber: certificate.serialNumber,
      revocationDate: new Date(certificate.revokedAt as string),
      reason: x509.X509CrlReason.unspecified,
    }));
  registry.crlNumber += 1;
  const crl = await x509.X509CrlGenerator.create(
    {
      issuer: authority.certificate.subjectName,
      thisUpdate: new Date(),
      // A local CRL file has no distribution point to refresh from: keep it valid as long as the CA.
      nextUpdate: authority.certificate.notAfter,
      signingAlgorithm: ALGORITHM,
      signingKey: authority.key,
      entries,
      extensions: [
        await x509.AuthorityKeyIdentifierExtension.create(authority.certificate, false, crypto),
        new x509.Extension('2.5.29.20', false, crlNumber(registry.crlNumber)),
      ],
    },
    crypto,
  );
  // OpenSSL (and so Mosquitto) reads only the 'X509 CRL' PEM label.
  writePrivate(paths(dir).crlFile, pem('X509 CRL', crl.rawData), 0o644);
}

// DER INTEGER for the CRL number extension.
function crlNumber(value: number): ArrayBuffer {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  const der = Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength);
}

function normalizeService(service: string | ServiceDefinition): ServiceDefinition {
  const definition = typeof service === 'string' ? { name: service } : service;
  if (typeof definition !== 'object' || definition === null) {
    fail(
      'ERR_BULWARK_MQTT_SERVICES',
      'services: each entry must be a name or { name, read, write }.',
    );
  }
  assertKnownOptions('services entry', definition, ['name', 'read', 'write']);
  assertIdentity('Service name', definition.name);
  for (const field of ['read', 'write'] as const) {
    const filters = definition[field];
    if (filters === undefined) continue;
    if (
      !Array.isArray(filters) ||
      filters.some(
        (filter) =>
          typeof filter !== 'string' ||
          filter === '' ||
          /\s/.test(filter) ||
          hasControlCharacter(filter),
      )
    ) {
      fail(
        'ERR_BULWARK_MQTT_SERVICES',
        `services: ${definition.name}.${field} must be an array of topic filters without spaces.`,
      );
    }
  }
  return definition;
}

/** The password-file line Mosquitto 2 expects: PBKDF2-SHA512 (`$7$`). */
export function mosquittoPasswordLine(username: string, password: string): string {
  const salt = randomBytes(12);
  // The passwords written here are 256-bit random, so the iteration count is not what protects them.
  const iterations = 1000;
  const hash = pbkdf2Sync(password, salt, iterations, 64, 'sha512');
  return `${username}:$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

async function addDeviceWith(
  dir: string,
  authority: Authority,
  registry: Registry,
  deviceId: string,
  days: number,
  notBefore: Date,
): Promise<DeviceCredentials> {
  const files = paths(dir);
  const issued = await issue(authority, deviceId, { days, notBefore, server: false });
  const folder = files.deviceDir(deviceId);
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const certFile = join(folder, 'device.crt');
  const keyFile = join(folder, 'device.key');
  // Key first: a client that re-reads both never pairs a new certificate with the old key for long.
  writePrivate(keyFile, issued.keyPem);
  writePrivate(certFile, issued.certificatePem, 0o644);
  registry.devices[deviceId] ??= [];
  registry.devices[deviceId].push({
    serialNumber: issued.serialNumber,
    notAfter: issued.notAfter.toISOString(),
  });
  return {
    deviceId,
    certFile,
    keyFile,
    serialNumber: issued.serialNumber,
    notAfter: issued.notAfter,
  };
}

/** The broker files' paths and contents, built (and so validated) before any is written. */
function brokerFiles(dir: string, registry: Registry): Array<[path: string, text: string]> {
  const files = paths(dir);
  const hasServices = Object.keys(registry.services).length > 0;
  const config = mosquittoConfig(
    {
      ...files,
      servicesAclFile: hasServices ? files.servicesAclFile : undefined,
      passwordFile: hasServices ? files.passwordFile : undefined,
    },
    {
      port: registry.config.port,
      servicePort: registry.config.servicePort,
      maxPacketSize: registry.config.maxPacketSize,
      ...(registry.config.bindAddress ? { bindAddress: registry.config.bindAddress } : {}),
    },
  );
  return [
    [files.aclFile, mosquittoAcl()],
    ...(hasServices
      ? [[files.servicesAclFile, servicesAcl(registry.services)] as [string, string]]
      : []),
    [files.mosquittoConfFile, config],
  ];
}

function writeBrokerFiles(files: Array<[path: string, text: string]>): void {
  for (const [path, text] of files) writePrivate(path, text, 0o644);
}

/**
 * Creates a private PKI and broker configuration in `dir`: a CA (EC P-256, SHA-256), a broker
 * certificate with DNS and IP SANs, one client certificate per device (CN = device id), a
 * password for each service, an empty CRL, a `mosquitto.conf` (mTLS listener with
 * `require_certificate`, `use_identity_as_username`, `use_username_as_clientid`,
 * `tls_version tlsv1.2`, `allow_anonymous false`, `crlfile`, `max_packet_size`, no plaintext
 * listener) and the ACL (`pattern readwrite devices/%u/#`). Private keys and passwords are
 * written with mode 0600.
 *
 * Defaults: `caName: 'Bulwark MQTT CA'`, `serverHosts: ['localhost', '127.0.0.1']`,
 * `validityDays: 365`, `caValidityDays: 3650`, `port: 8883`, `servicePort: 8884`,
 * `maxPacketSize: 262_144`, `overwrite: false`.
 *
 * @throws {MqttConfigError} `ERR_BULWARK_MQTT_CA_EXISTS` when `dir` already holds a CA,
 *   `ERR_BULWARK_MQTT_IDENTITY` for an unsafe device or service name, and others for bad options.
 * @example
 * const certs = await createCertificates({
 *   dir: './pki',
 *   serverHosts: ['broker.internal', '10.0.0.5'],
 *   devices: ['dev-1', 'dev-2'],
 *   services: ['ingest'],
 * });
 * // mosquitto -c ./pki/mosquitto.conf
 */
export async function createCertificates(
  options: CreateCertificatesOptions,
): Promise<CertificateSet> {
  if (typeof options !== 'object' || options === null)
    fail(
      'ERR_BULWARK_MQTT_OPTIONS',
      'createCertificates(options): options must be an object with at least dir.',
    );
  assertKnownOptions('createCertificates', options, KNOWN, {
    path: 'dir',
    hosts: 'serverHosts',
    days: 'validityDays',
  });
  const {
    dir,
    caName = 'Bulwark MQTT CA',
    serverHosts = ['localhost', '127.0.0.1'],
    devices = [],
    services = [],
  } = options;
  if (typeof dir !== 'string' || dir === '')
    fail('ERR_BULWARK_MQTT_DIR', 'dir must be a folder path.');
  if (typeof caName !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/.test(caName)) {
    fail(
      'ERR_BULWARK_MQTT_CA_NAME',
      `caName: ${JSON.stringify(caName)} must be 1-64 characters from A-Z a-z 0-9 space . _ -.`,
    );
  }
  if (!Array.isArray(serverHosts) || serverHosts.length === 0) {
    fail(
      'ERR_BULWARK_MQTT_SERVER_HOSTS',
      'serverHosts must list at least one DNS name or IP address, such as ["broker.internal"].',
    );
  }
  serverHosts.forEach(assertHost);
  if (!Array.isArray(devices))
    fail('ERR_BULWARK_MQTT_IDENTITY', 'devices must be an array of device ids.');
  for (const id of devices) assertIdentity('Device id', id);
  if (!Array.isArray(services)) fail('ERR_BULWARK_MQTT_SERVICES', 'services must be an array.');
  const serviceList = services.map(normalizeService);
  const names = [...devices, ...serviceList.map((service) => service.name)];
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate)
    fail(
      'ERR_BULWARK_MQTT_IDENTITY',
      `${JSON.stringify(duplicate)} is listed twice among devices and services. Names must be unique.`,
    );
  const days = positiveDays('validityDays', options.validityDays, 365);
  const caDays = positiveDays('caValidityDays', options.caValidityDays, 3650);
  if (caDays < days)
    fail(
      'ERR_BULWARK_MQTT_VALIDITY',
      `caValidityDays (${caDays}) must be at least validityDays (${days}).`,
    );
  const devicePort = port('port', options.port, 8883);
  const servicePort = port('servicePort', options.servicePort, 8884);
  if (serviceList.length > 0 && servicePort === devicePort)
    fail('ERR_BULWARK_MQTT_PORT', `servicePort must differ from port (${devicePort}).`);
  const maxPacketSize = options.maxPacketSize ?? 262_144;
  if (!Number.isInteger(maxPacketSize) || maxPacketSize < 128 || maxPacketSize > 268_435_455) {
    fail(
      'ERR_BULWARK_MQTT_MAX_PACKET_SIZE',
      `maxPacketSize: ${JSON.stringify(maxPacketSize)} must be a whole number of bytes from 128 to 268435455, such as 262_144.`,
    );
  }
  if (
    options.bindAddress !== undefined &&
    (typeof options.bindAddress !== 'string' || !isIP(options.bindAddress))
  ) {
    fail(
      'ERR_BULWARK_MQTT_BIND_ADDRESS',
      `bindAddress: ${JSON.stringify(options.bindAddress)} must be an IP address, such as 127.0.0.1.`,
    );
  }
  const files = paths(dir);
  if (existsSync(files.caKeyFile) && options.overwrite !== true) {
    fail(
      'ERR_BULWARK_MQTT_CA_EXISTS',
      `dir: "${files.root}" already holds a CA. Pass overwrite: true (bulwark-certs init --force) to replace it, which invalidates every certificate it issued; to add a device use addDevice (bulwark-certs add-device).`,
    );
  }

  const x509 = await loadX509();
  mkdirSync(files.root, { recursive: true, mode: 0o700 });
  const notBefore = new Date(Date.now() - 5 * 60_000);
  const caKeys = await generateKeys();
  const caCertificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: [{ CN: [caName] }],
      notBefore,
      notAfter: new Date(notBefore.getTime() + caDays * DAY),
      signingAlgorithm: ALGORITHM,
      keys: caKeys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  writePrivate(files.caKeyFile, await exportKey(caKeys.privateKey));
  writePrivate(files.caFile, caCertificate.toString('pem'), 0o644);
  const authority: Authority = { certificate: caCertificate, key: caKeys.privateKey };

  const server = await issue(authority, serverHosts[0] as string, {
    days,
    notBefore,
    server: true,
    hosts: serverHosts,
  });
  writePrivate(files.serverKeyFile, server.keyPem);
  writePrivate(files.serverCertFile, server.certificatePem, 0o644);

  const registry: Registry = {
    version: 1,
    caName,
    crlNumber: 0,
    config: {
      port: devicePort,
      servicePort,
      maxPacketSize,
      ...(options.bindAddress ? { bindAddress: options.bindAddress } : {}),
    },
    devices: {},
    services: {},
  };
  const deviceCredentials: Record<string, DeviceCredentials> = {};
  for (const id of devices) {
    deviceCredentials[id] = await addDeviceWith(dir, authority, registry, id, days, notBefore);
  }
  const serviceCredentials: Record<string, ServiceCredentials> = {};
  const passwordLines: string[] = [];
  for (const service of serviceList) {
    const password = randomBytes(32).toString('base64url');
    mkdirSync(join(files.root, 'services'), { recursive: true, mode: 0o700 });
    const passwordFile = files.servicePasswordFile(service.name);
    writePrivate(passwordFile, `${password}\n`);
    passwordLines.push(mosquittoPasswordLine(service.name, password));
    const rights: ServiceRights = {};
    if (service.read) rights.read = service.read;
    if (service.write) rights.write = service.write;
    registry.services[service.name] = rights;
    serviceCredentials[service.name] = { username: service.name, passwordFile };
  }
  if (passwordLines.length > 0) writePrivate(files.passwordFile, `${passwordLines.join('\n')}\n`);
  await writeCrl(dir, authority, registry);
  writeRegistry(dir, registry);
  writeBrokerFiles(brokerFiles(dir, registry));

  return {
    dir: files.root,
    caFile: files.caFile,
    caKeyFile: files.caKeyFile,
    crlFile: files.crlFile,
    serverCertFile: files.serverCertFile,
    serverKeyFile: files.serverKeyFile,
    mosquittoConfFile: files.mosquittoConfFile,
    aclFile: files.aclFile,
    servicesAclFile: serviceList.length > 0 ? files.servicesAclFile : undefined,
    passwordFile: serviceList.length > 0 ? files.passwordFile : undefined,
    devices: deviceCredentials,
    services: serviceCredentials,
  };
}

/** Options for {@link addDevice}. */
export interface AddDeviceOptions {
  /** The folder {@link createCertificates} wrote. */
  dir: string;
  /** Device id, used as the certificate CN and MQTT identity. */
  deviceId: string;
  /** Validity in days. Default `365`. */
  validityDays?: number;
  /** Start of validity. Default: five minutes ago (allows for clock skew). */
  notBefore?: Date;
  /** Revoke the device's earlier certificates in the same step. Default `false` (keep them valid for a rollover). */
  revokePrevious?: boolean;
}

/**
 * Issues a client certificate for a device, signed by the CA in `dir`, and writes it to
 * `devices/<id>/device.crt` and `device.key` (0600). Called again for the same id it rotates the
 * certificate in place: a client from {@link connectSecure} picks the new files up on its next
 * reconnect.
 *
 * @throws {MqttConfigError} `ERR_BULWARK_MQTT_IDENTITY` for an unsafe id, `ERR_BULWARK_MQTT_NO_CA`
 *   when `dir` holds no CA, `ERR_BULWARK_MQTT_VALIDITY` when the certificate would outlive the CA.
 * @example
 * const device = await addDevice({ dir: './pki', deviceId: 'dev-3' });
 */
export async function addDevice(options: AddDeviceOptions): Promise<DeviceCredentials> {
  assertKnownOptions('addDevice', options, [
    'dir',
    'deviceId',
    'validityDays',
    'notBefore',
    'revokePrevious',
  ]);
  assertIdentity('Device id', options.deviceId);
  const days = positiveDays('validityDays', options.validityDays, 365);
  const notBefore = options.notBefore ?? new Date(Date.now() - 5 * 60_000);
  if (!(notBefore instanceof Date) || Number.isNaN(notBefore.getTime())) {
    fail('ERR_BULWARK_MQTT_VALIDITY', 'notBefore must be a valid Date.');
  }
  const registry = readRegistry(options.dir);
  if (registry.services[options.deviceId]) {
    fail(
      'ERR_BULWARK_MQTT_IDENTITY',
      `${JSON.stringify(options.deviceId)} is already a service name. Device ids and service names must differ.`,
    );
  }
  const authority = await loadAuthority(options.dir);
  const notAfter = new Date(notBefore.getTime() + days * DAY);
  const caNotAfter = authority.certificate.notAfter;
  if (notAfter.getTime() > caNotAfter.getTime()) {
    const fits = Math.floor((caNotAfter.getTime() - notBefore.getTime()) / DAY);
    fail(
      'ERR_BULWARK_MQTT_VALIDITY',
      `validityDays: ${days} would make the certificate for ${JSON.stringify(options.deviceId)} valid until ${notAfter.toISOString()}, after the CA expires (${caNotAfter.toISOString()}). ${fits >= 1 ? `Pass validityDays (bulwark-certs --days) of at most ${fits}, or rotate` : 'Rotate'} the CA (createCertificates with overwrite: true) and reissue every certificate.`,
    );
  }
  const previous = (registry.devices[options.deviceId] ?? []).filter(
    (certificate) => !certificate.revokedAt,
  );
  const credentials = await addDeviceWith(
    options.dir,
    authority,
    registry,
    options.deviceId,
    days,
    notBefore,
  );
  if (options.revokePrevious && previous.length > 0) {
    const now = new Date().toISOString();
    for (const certificate of previous) certificate.revokedAt = now;
    await writeCrl(options.dir, authority, registry);
  }
  writeRegistry(options.dir, registry);
  return credentials;
}

/** Options for {@link revokeDevice}. */
export interface RevokeDeviceOptions {
  /** The folder {@link createCertificates} wrote. */
  dir: string;
  deviceId: string;
  /** Revoke only this certificate (hex serial). Default: every certificate of the device. */
  serialNumber?: string;
}

/**
 * Revokes a device's certificates and rewrites the CRL (`ca.crl`) that the generated
 * `mosquitto.conf` names in `crlfile`. Mosquitto reads the CRL when it starts: restart (or reload)
 * the broker after a revocation.
 *
 * @throws {MqttConfigError} `ERR_BULWARK_MQTT_UNKNOWN_DEVICE` when the device (or serial) was never issued here.
 * @returns the revoked serial numbers and the CRL path.
 * @example
 * await revokeDevice({ dir: './pki', deviceId: 'dev-2' });
 */
export async function revokeDevice(
  options: RevokeDeviceOptions,
): Promise<{ revoked: string[]; crlFile: string }> {
  assertKnownOptions('revokeDevice', options, ['dir', 'deviceId', 'serialNumber']);
  assertIdentity('Device id', options.deviceId);
  const registry = readRegistry(options.dir);
  const issued = registry.devices[options.deviceId];
  if (!issued)
    fail(
      'ERR_BULWARK_MQTT_UNKNOWN_DEVICE',
      `No certificate was issued to device ${JSON.stringify(options.deviceId)} from this CA.`,
    );
  const targets = issued.filter(
    (certificate) =>
      options.serialNumber === undefined ||
      certificate.serialNumber === options.serialNumber.toLowerCase(),
  );
  if (targets.length === 0)
    fail(
      'ERR_BULWARK_MQTT_UNKNOWN_DEVICE',
      `Device ${JSON.stringify(options.deviceId)} has no certificate with serial ${JSON.stringify(options.serialNumber)}.`,
    );
  const now = new Date().toISOString();
  const revoked: string[] = [];
  for (const certificate of targets) {
    if (!certificate.revokedAt) {
      certificate.revokedAt = now;
      revoked.push(certificate.serialNumber);
    }
  }
  const authority = await loadAuthority(options.dir);
  await writeCrl(options.dir, authority, registry);
  writeRegistry(options.dir, registry);
  return { revoked, crlFile: paths(options.dir).crlFile };
}

/**
 * Rewrites `mosquitto.conf` in `dir` for another port or bind address (for example a free port in
 * tests), and keeps the choice in `registry.json` for later rewrites.
 *
 * @throws {MqttConfigError} `ERR_BULWARK_MQTT_BIND_ADDRESS`, `ERR_BULWARK_MQTT_PORT` for bad values,
 *   before any file is written.
 */
export function writeMosquittoConfig(
  dir: string,
  {
    port: devicePort,
    servicePort,
    bindAddress,
  }: { port?: number; servicePort?: number; bindAddress?: string } = {},
): string {
  if (bindAddress !== undefined && (typeof bindAddress !== 'string' || !isIP(bindAddress))) {
    fail(
      'ERR_BULWARK_MQTT_BIND_ADDRESS',
      `bindAddress: ${JSON.stringify(bindAddress)} must be an IP address, such as 127.0.0.1.`,
    );
  }
  const registry = readRegistry(dir);
  if (devicePort !== undefined) registry.config.port = port('port', devicePort, 8883);
  if (servicePort !== undefined)
    registry.config.servicePort = port('servicePort', servicePort, 8884);
  if (bindAddress !== undefined) registry.config.bindAddress = bindAddress;
  // Built before anything is written, so a value mosquittoConfig refuses never reaches the registry.
  const files = brokerFiles(dir, registry);
  writeRegistry(dir, registry);
  writeBrokerFiles(files);
  return paths(dir).mosquittoConfFile;
}
