// Reads the app's configuration from environment variables, with embedded defaults for development.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSecret } from '@bulwark/perimeter';

/** Every setting the app runs with; `loadConfig` fills it from the environment. */
export interface AppConfig {
  /** `NODE_ENV === 'production'`: every startup check becomes a hard failure. */
  production: boolean;
  /** The `NODE_ENV` value, for the startup banner. */
  nodeEnv: string | undefined;
  /** HTTP port; `0` picks a free one. */
  port: number;
  /** Address the HTTP (and embedded MQTT) listeners bind to. */
  host: string;
  /** Optional HTTPS port with the dev certificates; HTTP then redirects to it. */
  httpsPort: number | undefined;
  /** Folder for generated secrets, certificates and the embedded database (git-ignored). */
  dataDir: string;
  /** PostgreSQL URL the request path uses; `undefined` starts the embedded PGlite server. */
  databaseUrl: string | undefined;
  /** PostgreSQL URL migrations and demo data run with. Default: `databaseUrl`. */
  migrationDatabaseUrl: string | undefined;
  /** TLS to PostgreSQL; default verified in production except on loopback. */
  databaseSsl: boolean | undefined;
  /** Role every tenant transaction switches to (`SET LOCAL ROLE`); neither superuser nor BYPASSRLS. */
  appRole: string;
  /** `statement_timeout` of the pool, in ms. */
  statementTimeoutMs: number;
  /** Redis URL for shared rate limits; `undefined` keeps them in memory. */
  redisUrl: string | undefined;
  /** Key prefix of the rate-limit counters in Redis. */
  redisPrefix: string;
  /** External MQTT broker (`mqtts://host:port`); `undefined` starts the embedded aedes broker. */
  mqttUrl: string | undefined;
  /** Port of the embedded broker; `0` picks a free one, which the Mosquitto config and `simulate` then use. */
  mqttPort: number;
  /** CA, certificate and key the service connects to an external broker with. */
  mqttCaFile: string | undefined;
  mqttCertFile: string | undefined;
  mqttKeyFile: string | undefined;
  /** The service's MQTT identity (the CN of its certificate). */
  mqttServiceId: string;
  /** HS256 secret of the access tokens (at least 32 bytes). */
  jwtSecret: string;
  /** Pepper of the API key hashes (at least 32 bytes). */
  apiKeyPepper: string;
  /** Which secrets were generated into `dataDir` rather than given. */
  generatedSecrets: string[];
  /** Origins allowed by CORS. */
  corsOrigins: string[];
  /** Host names the app answers to. */
  allowedHosts: string[];
  /** Names a trusted proxy sends in `Host` instead of the client's (its upstream name for the app). */
  upstreamHosts: string[];
  /** Express `trust proxy` setting. */
  trustProxy: string | number | false;
  /** Addresses allowed to read `/metrics` (and `/docs` in production). */
  metricsAllowlist: string[];
  /** Serve `/docs` and `/openapi.json`; in production only to `metricsAllowlist`. */
  docsEnabled: boolean;
  /** Longest time a request may take, in ms. */
  requestTimeoutMs: number;
  /**
   * Shed requests with 503 `overloaded` while the event loop lags (perimeter `overloadGuard()`).
   * Default on in production, off elsewhere: a paused debugger or a test runner sharing the
   * process would otherwise trip it.
   */
  overloadGuard: boolean;
  /** `false` turns rate limiting off (refused in production by the startup check). */
  rateLimitEnabled: boolean;
  /** Requests per address per minute across the whole API. */
  globalRateLimit: number;
  /** Failures (401/403/404) per address in 10 minutes before a 15-minute ban. */
  abuseFailures: number;
  /** Writes (POST, PUT, PATCH, DELETE) per user per minute. */
  writeRateLimit: number;
  /** Telemetry exports per tenant per minute. */
  exportRateLimit: number;
  /** Lifetime of tokens printed by the token command, in seconds. */
  tokenTtlSec: number;
  /** Create the demo tenants, users, devices and rules on start. */
  seedDemoData: boolean;
  /** Log level; `silent` logs nothing. */
  logLevel: string;
  /** Where log lines go. */
  logStream: NodeJS.WritableStream | undefined;
}

export class AppConfigError extends Error {
  override readonly name = 'AppConfigError';
  readonly code: `ERR_IOT_APP_${string}`;

  constructor(code: `ERR_IOT_APP_${string}`, message: string) {
    super(message);
    this.code = code;
  }
}

/** The folder the app keeps generated files in: `DATA_DIR`, else `.data/` in the repository root. */
export function defaultDataDir(env: Record<string, string | undefined> = process.env): string {
  if (env.DATA_DIR) return resolve(env.DATA_DIR);
  return resolve(fileURLToPath(new URL('../../..', import.meta.url)), '.data');
}

function integer(
  env: Record<string, string | undefined>,
  name: string,
  fallback: number,
  min = 0,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new AppConfigError(
      'ERR_IOT_APP_INVALID_NUMBER',
      `${name}: ${JSON.stringify(raw)} is not a whole number of at least ${min}. Unset it or use a value such as ${fallback}.`,
    );
  }
  return value;
}

/** A port to listen on: `0` takes any free port. */
function port(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const value = integer(env, name, fallback);
  if (value > 65_535) {
    throw new AppConfigError(
      'ERR_IOT_APP_INVALID_NUMBER',
      `${name}: ${JSON.stringify(env[name])} is not a port. Use a port from 1 to 65535, or 0 to take any free port.`,
    );
  }
  return value;
}

function flag(env: Record<string, string | undefined>, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new AppConfigError(
    'ERR_IOT_APP_INVALID_FLAG',
    `${name}: ${JSON.stringify(raw)} is not true, false, 1 or 0.`,
  );
}

function list(raw: string | undefined, fallback: string[]): string[] {
  if (raw === undefined || raw.trim() === '') return fallback;
  return raw.split(/[\s,]+/).filter(Boolean);
}

/**
 * A development secret kept in `<dataDir>/secrets/<name>`, made on first use from 32 random bytes
 * and written with mode 0600 in a 0700 folder. Never used in production.
 */
export function devSecret(dataDir: string, name: string): string {
  const dir = join(dataDir, 'secrets');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, name);
  if (!existsSync(file)) {
    writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  }
  // A file copied in with wider permissions is narrowed rather than trusted as it is.
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  return readFileSync(file, 'utf8').trim();
}

const KNOWN_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly', 'silent'];

/**
 * Builds the configuration from environment variables (see docs/iot-app.md for the list). With
 * nothing set the app runs on embedded services: PGlite, aedes and in-memory rate limits, with
 * secrets generated into `dataDir`. In production the secrets must be given.
 *
 * @throws {AppConfigError} for malformed values, or a missing secret in production.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<AppConfig> = {},
): AppConfig {
  const nodeEnv = env.NODE_ENV;
  const production = overrides.production ?? nodeEnv === 'production';
  const dataDir = overrides.dataDir ?? defaultDataDir(env);
  const generatedSecrets: string[] = [];
  const secret = (name: string, file: string): string => {
    const given = readSecret(name, { env, production, required: production });
    if (given !== undefined) return given;
    if (production) {
      throw new AppConfigError(
        'ERR_IOT_APP_SECRET_MISSING',
        `${name} is not set. In production give it in ${name}_FILE (a 0600 secret file) or ${name}.`,
      );
    }
    generatedSecrets.push(name);
    return devSecret(dataDir, file);
  };
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!KNOWN_LEVELS.includes(logLevel)) {
    throw new AppConfigError(
      'ERR_IOT_APP_LOG_LEVEL',
      `LOG_LEVEL: ${JSON.stringify(logLevel)} is not a level. Use one of ${KNOWN_LEVELS.join(', ')}.`,
    );
  }
  const databaseSsl = env.DATABASE_SSL === undefined ? undefined : flag(env, 'DATABASE_SSL', false);
  const trustRaw = env.TRUST_PROXY;
  const trustProxy =
    trustRaw === undefined || trustRaw === '' || trustRaw === 'false'
      ? false
      : /^\d+$/.test(trustRaw)
        ? Number(trustRaw)
        : trustRaw;
  if (trustProxy === 'true') {
    throw new AppConfigError(
      'ERR_IOT_APP_TRUST_PROXY',
      'TRUST_PROXY=true would let any client choose its address. Give the hop count or the proxy address, such as 1 or loopback.',
    );
  }
  const config: AppConfig = {
    production,
    nodeEnv,
    port: port(env, 'PORT', 3000),
    host: env.HOST ?? '127.0.0.1',
    httpsPort: env.HTTPS_PORT ? port(env, 'HTTPS_PORT', 3443) : undefined,
    dataDir,
    databaseUrl: env.DATABASE_URL || undefined,
    migrationDatabaseUrl: env.MIGRATION_DATABASE_URL || env.DATABASE_URL || undefined,
    databaseSsl,
    appRole: env.APP_DB_ROLE ?? 'iot_app',
    statementTimeoutMs: integer(env, 'STATEMENT_TIMEOUT_MS', 5000, 1),
    redisUrl: env.REDIS_URL || undefined,
    redisPrefix: env.REDIS_PREFIX ?? 'iot-app:rl:',
    mqttUrl: env.MQTT_URL || undefined,
    mqttPort: port(env, 'MQTT_PORT', 8883),
    mqttCaFile: env.MQTT_CA_FILE || undefined,
    mqttCertFile: env.MQTT_CERT_FILE || undefined,
    mqttKeyFile: env.MQTT_KEY_FILE || undefined,
    mqttServiceId: env.MQTT_SERVICE_ID ?? 'iot-service',
    jwtSecret: overrides.jwtSecret ?? secret('JWT_SECRET', 'jwt_secret'),
    apiKeyPepper: overrides.apiKeyPepper ?? secret('API_KEY_PEPPER', 'api_key_pepper'),
    generatedSecrets,
    corsOrigins: list(env.CORS_ORIGINS, ['http://localhost:5173']),
    allowedHosts: list(env.ALLOWED_HOSTS, ['localhost', '127.0.0.1']),
    upstreamHosts: list(env.UPSTREAM_HOSTS, []),
    trustProxy,
    metricsAllowlist: list(env.METRICS_ALLOWLIST, ['127.0.0.1', '::1']),
    docsEnabled: flag(env, 'DOCS_ENABLED', true),
    requestTimeoutMs: integer(env, 'REQUEST_TIMEOUT_MS', 10_000, 1),
    overloadGuard: flag(env, 'OVERLOAD_GUARD', production),
    rateLimitEnabled: flag(env, 'RATE_LIMIT_ENABLED', true),
    globalRateLimit: integer(env, 'RATE_LIMIT_GLOBAL', 300, 1),
    abuseFailures: integer(env, 'ABUSE_FAILURES', 20, 1),
    writeRateLimit: integer(env, 'RATE_LIMIT_WRITES', 60, 1),
    exportRateLimit: integer(env, 'RATE_LIMIT_EXPORTS', 5, 1),
    tokenTtlSec: integer(env, 'TOKEN_TTL_SEC', 3600, 60),
    seedDemoData: flag(env, 'SEED_DEMO_DATA', !production),
    logLevel,
    logStream: undefined,
  };
  if (config.mqttUrl && !(config.mqttCaFile && config.mqttCertFile && config.mqttKeyFile)) {
    throw new AppConfigError(
      'ERR_IOT_APP_MQTT_FILES',
      'MQTT_URL is set without MQTT_CA_FILE, MQTT_CERT_FILE and MQTT_KEY_FILE. The service connects with its own client certificate; give all three.',
    );
  }
  return { ...config, ...overrides, generatedSecrets };
}
