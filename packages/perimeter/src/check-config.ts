// checkConfig()/assertSafeConfig(): one startup audit of an app's security settings, with a banner.
import ipaddr from 'ipaddr.js';
import {
  checkOptions,
  info,
  PerimeterConfigError,
  type PerimeterLogger,
  positiveInt,
  warn,
} from './errors.js';
import { secretWeakness } from './read-secret.js';
import { describeSetting, judgeTrustProxy, type TrustVerdict } from './trust-proxy.js';

export interface SafeConfigInput {
  /** App name for the banner. */
  name?: string;
  /** App version for the banner. */
  version?: string;
  /** The `NODE_ENV` value. Default `process.env.NODE_ENV`. */
  env?: string | undefined;
  /**
   * Audit as production: problems are errors and `assertSafeConfig` throws. Default
   * `env === 'production'`. Pass `true` where the deployment is known to be production, so an
   * unset `NODE_ENV` is caught too.
   */
  production?: boolean;
  /** The Express app; its `trust proxy` setting is read. */
  app?: { get(setting: string): unknown };
  /** The `trust proxy` value, when no `app` is given. */
  trustProxy?: unknown;
  /**
   * Accept a function as `trust proxy` in production. Default `false`: a function cannot be
   * audited (only tried against public addresses), so it is a `trust_proxy_function` finding
   * until you have reviewed it and say so here.
   */
  trustProxyFunctionReviewed?: boolean;
  /** The CORS settings passed to `corsPolicy()`. */
  cors?: { origins: string | readonly (string | RegExp)[] | undefined; credentials?: boolean };
  /** Secrets by name (`{ JWT_SECRET: value }`), checked for length and placeholders, never printed. */
  secrets?: Record<string, string | undefined>;
  /** Shortest acceptable secret. Default `32`. */
  minSecretLength?: number;
  /** API docs routes (`/docs`, `/openapi.json`) and how they are protected. */
  docs?: { enabled: boolean; allowlist?: string | readonly string[]; authenticated?: boolean };
  /** Debug mode (verbose errors, SQL echo). */
  debug?: boolean;
  /** The MQTT broker URL (`mqtts://...`), or `{ url }`. */
  mqtt?: string | { url: string };
  /** The database URL and the `ssl` option given to the driver. */
  database?: { url?: string; ssl?: boolean | { rejectUnauthorized?: boolean } };
  /** Whether rate limiting is on. */
  rateLimit?: boolean | { enabled: boolean };
  /** Winston-shaped logger: `assertSafeConfig` writes the banner with `info` and findings with `warn`. */
  logger?: PerimeterLogger;
}

export interface ConfigFinding {
  /** Stable id, such as `trust_proxy_all`; listed in the errors docs. */
  id: string;
  severity: 'error' | 'warning';
  /** What is wrong and how to fix it; never a secret's value. */
  message: string;
}

export interface ConfigReport {
  production: boolean;
  /** True when there is no finding of severity `error`. */
  ok: boolean;
  findings: ConfigFinding[];
  /** A multi-line summary of what is on and what is wrong, safe to log at startup. */
  banner: string;
}

const KNOWN = [
  'name',
  'version',
  'env',
  'production',
  'app',
  'trustProxy',
  'trustProxyFunctionReviewed',
  'cors',
  'secrets',
  'minSecretLength',
  'docs',
  'debug',
  'mqtt',
  'database',
  'rateLimit',
  'logger',
] as const;

function isLoopback(host: string): boolean {
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  try {
    return ipaddr.process(bare).range() === 'loopback';
  } catch {
    return false;
  }
}

/** A URL with its credentials, query and fragment removed, fit for a log line. */
function redact(raw: string): { text: string; url?: URL } {
  try {
    const url = new URL(raw);
    const port = url.port ? `:${url.port}` : '';
    const path = url.pathname && url.pathname !== '/' ? url.pathname : '';
    return { text: `${url.protocol}//${url.hostname}${port}${path}`, url };
  } catch {
    return { text: '(not a valid URL)' };
  }
}

function describeTrust(value: unknown, verdict: TrustVerdict): string {
  if (value === undefined || value === false) return 'off (req.ip is the peer address)';
  if (value === true) return 'true (every X-Forwarded-For is believed)';
  const text = typeof value === 'function' ? 'a custom function' : String(value);
  return verdict.kind === 'all' ? `${text} (TRUSTS PUBLIC CLIENTS)` : text;
}

/** The verdict on the app's (or the given) setting; a value Express would refuse is refused here too. */
function trustVerdict(c: SafeConfigInput, trust: unknown): TrustVerdict {
  try {
    return judgeTrustProxy(trust, c.app?.get('trust proxy fn'));
  } catch (err) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTION',
      `checkConfig: trustProxy: ${describeSetting(trust)} is not a value Express accepts (${err instanceof Error ? err.message : String(err)}). Use the proxy's address or range ('loopback', '10.0.0.5', '10.0.0.0/24'), a hop count such as 1, or false.`,
    );
  }
}

/**
 * Audits an app's security settings in one place and returns the findings and a banner. In
 * production every problem is an error; in development the same problems are warnings. It
 * checks: `NODE_ENV` unset, debug on, CORS `*` (and `*` with credentials), a `trust proxy`
 * that trusts public addresses (`true`, ranges covering the internet, more than 5 hops) or is an
 * unreviewed function, missing, short or placeholder secrets, docs exposed without an allowlist or
 * authentication, plaintext MQTT, a database without TLS, and rate limiting turned off.
 *
 * @param config See {@link SafeConfigInput}; give the sections your app has.
 * @returns A {@link ConfigReport}; log `report.banner` at startup.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_UNKNOWN_OPTION` for a misspelled key,
 *   `ERR_BULWARK_PERIMETER_INVALID_OPTION` for a `trustProxy` value Express would refuse.
 * @example
 * const report = checkConfig({ app, cors: { origins: process.env.CORS_ORIGINS }, secrets: { JWT_SECRET } });
 * console.log(report.banner);
 */
export function checkConfig(config: SafeConfigInput): ConfigReport {
  const c = checkOptions('checkConfig', config, KNOWN) as SafeConfigInput;
  const env = 'env' in c ? c.env : process.env.NODE_ENV;
  const production = c.production ?? env === 'production';
  const minLength = positiveInt('checkConfig', 'minSecretLength', c.minSecretLength ?? 32, {
    max: 4096,
  });
  const findings: ConfigFinding[] = [];
  const lines: [string, string][] = [];
  const add = (
    id: string,
    message: string,
    severity: 'error' | 'warning' = production ? 'error' : 'warning',
  ) => findings.push({ id, severity, message });

  if (env === undefined || env === '') {
    add(
      'node_env_unset',
      'NODE_ENV is not set, so Express and many libraries run in development mode (stack traces in responses, no view caching). Set NODE_ENV=production in the deployment.',
    );
  }
  lines.push(['environment', env ? `NODE_ENV=${env}` : 'NODE_ENV unset']);

  if (c.debug !== undefined) {
    lines.push(['debug', c.debug ? 'ON' : 'off']);
    if (c.debug)
      add(
        'debug_enabled',
        'Debug mode is on: errors and queries may reach clients and logs. Turn it off in production.',
      );
  }

  const trust = c.app ? c.app.get('trust proxy') : c.trustProxy;
  if (c.app || 'trustProxy' in c) {
    const verdict = trustVerdict(c, trust);
    lines.push(['trust proxy', describeTrust(trust, verdict)]);
    if (verdict.kind === 'all') {
      add(
        'trust_proxy_all',
        `'trust proxy' ${verdict.why}, so any client can choose its req.ip and req.protocol with X-Forwarded-For and X-Forwarded-Proto, defeating IP allowlists and rate limits. Set it to the proxy's address or hop count, such as 'loopback', '10.0.0.5' or 1.`,
      );
    } else if (verdict.kind === 'function' && c.trustProxyFunctionReviewed !== true) {
      add(
        'trust_proxy_function',
        "'trust proxy' is a function, which this audit cannot verify beyond checking that it trusts no public address. Prefer the proxy's address or hop count (such as 'loopback' or 1); if the function is reviewed and must stay, pass trustProxyFunctionReviewed: true.",
      );
    }
  }

  if (c.cors) {
    const raw = c.cors.origins;
    const list =
      typeof raw === 'string'
        ? raw.split(/[\s,]+/).filter(Boolean)
        : Array.isArray(raw)
          ? raw.map(String)
          : [];
    const credentials = c.cors.credentials === true;
    lines.push([
      'CORS',
      `${list.length ? list.join(', ') : '(no origins)'} (credentials ${credentials ? 'on' : 'off'})`,
    ]);
    if (list.includes('*') && credentials) {
      add(
        'cors_wildcard_credentials',
        "CORS allows '*' with credentials: any website could read authenticated responses. List exact origins.",
        'error',
      );
    } else if (list.includes('*')) {
      add(
        'cors_wildcard',
        "CORS allows every origin ('*'). List the exact origins of your front ends in CORS_ORIGINS.",
      );
    } else if (list.length === 0) {
      add(
        'cors_no_origins',
        'CORS has no origins configured. Set CORS_ORIGINS to the exact origins of your front ends.',
      );
    } else if (
      production &&
      list.some((o) => o.startsWith('http://') && !isLoopback(redact(o).url?.hostname ?? ''))
    ) {
      add(
        'cors_http_origin',
        'CORS allows a plain-http origin, whose pages a network attacker can alter. Serve that front end over HTTPS.',
        'warning',
      );
    }
  }

  if (c.secrets) {
    const parts: string[] = [];
    for (const [name, value] of Object.entries(c.secrets)) {
      const weakness = secretWeakness(value, minLength, { name });
      parts.push(`${name} ${weakness ? `WEAK (${weakness})` : 'ok'}`);
      if (weakness) {
        const why =
          weakness === 'missing'
            ? 'is not set'
            : weakness === 'short'
              ? `is shorter than ${minLength} characters`
              : weakness === 'placeholder'
                ? 'is a known placeholder or default'
                : weakness === 'guessable'
                  ? 'is built from words, names, sequences or repeats that a guesser tries first'
                  : 'has too few distinct characters';
        add(
          'secret_weak',
          `${name} ${why}. Generate at least ${minLength} random characters and load them with readSecret('${name}').`,
        );
      }
    }
    lines.push(['secrets', parts.length ? parts.join(', ') : '(none listed)']);
  }

  if (c.docs) {
    const allow = c.docs.allowlist;
    const hasAllow =
      typeof allow === 'string' ? allow.trim() !== '' : Array.isArray(allow) && allow.length > 0;
    const how = [
      hasAllow
        ? `allowlist ${typeof allow === 'string' ? allow : (allow as string[]).join(', ')}`
        : '',
      c.docs.authenticated ? 'authenticated' : '',
    ]
      .filter(Boolean)
      .join(', ');
    lines.push(['docs', c.docs.enabled ? `on${how ? ` (${how})` : ' (PUBLIC)'}` : 'off']);
    if (c.docs.enabled && !hasAllow && !c.docs.authenticated) {
      add(
        'docs_exposed',
        '/docs and /openapi.json are public, which maps the API for attackers. Turn them off in production or put them behind ipAllowlist() or authentication.',
      );
    }
  }

  if (c.mqtt !== undefined) {
    const { text, url } = redact(typeof c.mqtt === 'string' ? c.mqtt : c.mqtt.url);
    const tls = url ? ['mqtts:', 'wss:', 'ssl:', 'tls:'].includes(url.protocol) : false;
    lines.push(['MQTT', `${text} (${tls ? 'TLS' : 'PLAINTEXT'})`]);
    if (!tls) {
      const local = url ? isLoopback(url.hostname) : false;
      add(
        'mqtt_plaintext',
        `The MQTT connection is not encrypted${local ? ' (loopback only)' : ''}: credentials and telemetry travel in clear. Use mqtts:// with a verified certificate.`,
        local ? 'warning' : undefined,
      );
    }
  }

  if (c.database) {
    const { text, url } = c.database.url
      ? redact(c.database.url)
      : { text: '(url not given)', url: undefined };
    const sslmode = url?.searchParams.get('sslmode') ?? undefined;
    const ssl = c.database.ssl;
    const tls =
      (ssl !== undefined && ssl !== false) ||
      ['require', 'verify-ca', 'verify-full'].includes(sslmode ?? '');
    const verified =
      tls &&
      !(typeof ssl === 'object' && ssl.rejectUnauthorized === false) &&
      (sslmode === undefined ||
        sslmode === 'verify-full' ||
        sslmode === 'verify-ca' ||
        (ssl !== undefined && ssl !== false));
    lines.push([
      'database',
      `${text} (${tls ? (verified ? 'TLS, verified' : 'TLS, NOT verified') : 'PLAINTEXT'})`,
    ]);
    if (!tls) {
      const local = url ? isLoopback(url.hostname) || url.hostname === '' : false;
      add(
        'database_plaintext',
        `The database connection is not encrypted${local ? ' (loopback only)' : ''}. Pass ssl: { ca } to the driver or add sslmode=verify-full to the URL.`,
        local ? 'warning' : undefined,
      );
    } else if (!verified) {
      add(
        'database_tls_unverified',
        'The database TLS certificate is not verified, so a man in the middle can read the traffic. Use sslmode=verify-full or ssl: { ca }, not rejectUnauthorized: false.',
        'warning',
      );
    }
  }

  if (c.rateLimit !== undefined) {
    const enabled = typeof c.rateLimit === 'boolean' ? c.rateLimit : c.rateLimit.enabled;
    lines.push(['rate limit', enabled ? 'on' : 'OFF']);
    if (!enabled)
      add(
        'rate_limit_disabled',
        'Rate limiting is turned off, leaving login and write routes open to brute force. Turn it on (RATE_LIMIT_ENABLED=true).',
      );
  }

  const errors = findings.filter((f) => f.severity === 'error');
  const warnings = findings.filter((f) => f.severity === 'warning');
  const title = [c.name, c.version].filter(Boolean).join(' ');
  const width = Math.max(...lines.map(([k]) => k.length)) + 2;
  const banner = [
    `Security configuration${title ? ` of ${title}` : ''}: ${production ? 'production' : 'development'}`,
    ...lines.map(([k, v]) => `  ${k.padEnd(width)}${v}`),
    `  ${errors.length} error(s), ${warnings.length} warning(s)${findings.length ? ':' : ''}`,
    ...findings.map(
      (f) => `  [${f.severity === 'error' ? 'ERROR' : 'warn'}] ${f.id}: ${f.message}`,
    ),
  ].join('\n');
  return { production, ok: errors.length === 0, findings, banner };
}

/**
 * Runs {@link checkConfig}, logs the banner (logger `info`) and each warning, and throws when
 * anything is an error, so an unsafe production deployment refuses to start.
 *
 * @param config See {@link SafeConfigInput}.
 * @returns The report, when there is no error.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_UNSAFE_CONFIG` listing every error;
 *   its `findings` property holds them all.
 * @example
 * assertSafeConfig({ app, cors: { origins: process.env.CORS_ORIGINS }, rateLimit: true, logger });
 */
export function assertSafeConfig(config: SafeConfigInput): ConfigReport {
  const report = checkConfig(config);
  const logger = config.logger;
  info(logger, report.banner);
  const errors = report.findings.filter((f) => f.severity === 'error');
  if (errors.length > 0) {
    const err = new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_UNSAFE_CONFIG',
      `Refusing to start with ${errors.length} unsafe setting(s):\n${errors.map((f) => `  - ${f.id}: ${f.message}`).join('\n')}`,
    );
    Object.defineProperty(err, 'findings', { value: report.findings, enumerable: true });
    throw err;
  }
  for (const f of report.findings)
    warn(logger, `ERR_BULWARK_PERIMETER_${f.id.toUpperCase()}`, f.message);
  return report;
}
