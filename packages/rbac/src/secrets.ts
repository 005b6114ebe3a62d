// Hashing and constant-time checking of secrets (scrypt or SHA-256), and reading them from env or files.
import { createHash, randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
// Bundled from internal/, so perimeter's and rbac's readSecret share one shape and verdict.
import {
  describeWeakness,
  environmentKeys,
  environmentMessage,
  isSecretName,
  judgeSecret,
  READ_SECRET_OPTIONS,
  readSecretFile as readSharedSecretFile,
  SECRET_FIX,
} from '../../../internal/read-secret-core.js';
import { checkOptionNames, defined, RbacConfigError, show } from './errors.js';
import { warn } from './events.js';
import type { Logger } from './types.js';

/** A parsed secret hash. */
export type SecretHash =
  | {
      algorithm: 'scrypt';
      cost: number;
      blockSize: number;
      parallelization: number;
      salt: Buffer;
      hash: Buffer;
    }
  | { algorithm: 'sha256'; hash: Buffer };

export interface HashSecretOptions {
  /** `scrypt` for passwords (default), `sha256` only for random keys of 128 bits or more. */
  algorithm?: 'scrypt' | 'sha256';
  /** scrypt cost as a power of two. Default `15` (N = 32768). */
  log2Cost?: number;
}

const SCRYPT =
  /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,88})\$([A-Za-z0-9+/]{32,88})$/;
const SHA256 = /^\$sha256\$([A-Za-z0-9+/]{43})$/;
const KEY_LENGTH = 32;

function b64(buffer: Buffer): string {
  return buffer.toString('base64').replace(/=+$/, '');
}

function scryptAsync(
  secret: string,
  salt: Buffer,
  length: number,
  options: ScryptOptions,
): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, length, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

function scryptOptions(h: {
  cost: number;
  blockSize: number;
  parallelization: number;
}): ScryptOptions {
  return {
    N: h.cost,
    r: h.blockSize,
    p: h.parallelization,
    maxmem: 256 * h.cost * h.blockSize * h.parallelization,
  };
}

/** Parses `$scrypt$ln=15,r=8,p=1$salt$hash` or `$sha256$hash`; returns `null` when it is neither. */
export function parseSecretHash(text: unknown): SecretHash | null {
  if (typeof text !== 'string') return null;
  const s = SCRYPT.exec(text);
  if (s) {
    const [ln, r, p] = [Number(s[1]), Number(s[2]), Number(s[3])];
    if (ln < 14 || ln > 22 || r < 8 || r > 32 || p < 1 || p > 16) return null;
    return {
      algorithm: 'scrypt',
      cost: 2 ** ln,
      blockSize: r,
      parallelization: p,
      salt: Buffer.from(s[4]!, 'base64'),
      hash: Buffer.from(s[5]!, 'base64'),
    };
  }
  const h = SHA256.exec(text);
  return h ? { algorithm: 'sha256', hash: Buffer.from(h[1]!, 'base64') } : null;
}

/**
 * Hashes a secret for `basicAuth`, `staticApiKeys` or a config file: scrypt by default, SHA-256
 * for high-entropy keys. The result holds no secret and can live in env or a secret file.
 *
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_SECRET` for an empty secret or a weak scrypt cost.
 * @example
 * await hashSecret('correct horse battery staple'); // '$scrypt$ln=15,r=8,p=1$...$...'
 */
export async function hashSecret(secret: string, options: HashSecretOptions = {}): Promise<string> {
  if (typeof secret !== 'string' || secret === '') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_SECRET',
      'hashSecret: the secret is empty. Pass the secret to hash.',
    );
  }
  const algorithm = options.algorithm ?? 'scrypt';
  if (algorithm === 'sha256') {
    if (Buffer.byteLength(secret) < 22) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_SECRET',
        `hashSecret: the secret is ${Buffer.byteLength(secret)} bytes; SHA-256 is only safe for random keys of 22 characters or more. Use scrypt for passwords.`,
      );
    }
    return `$sha256$${b64(createHash('sha256').update(secret).digest())}`;
  }
  if (algorithm !== 'scrypt') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_SECRET',
      `hashSecret: the algorithm ${show(algorithm)} is not supported. Use 'scrypt' or 'sha256'.`,
    );
  }
  const ln = options.log2Cost ?? 15;
  if (!Number.isInteger(ln) || ln < 14 || ln > 22) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_SECRET',
      `hashSecret: log2Cost ${show(ln)} is out of range. Use an integer from 14 to 22; 15 is the default.`,
    );
  }
  const params = { cost: 2 ** ln, blockSize: 8, parallelization: 1 };
  const salt = randomBytes(16);
  const hash = await scryptAsync(secret, salt, KEY_LENGTH, scryptOptions(params));
  return `$scrypt$ln=${ln},r=8,p=1$${b64(salt)}$${b64(hash)}`;
}

/** Checks a secret against a parsed hash in constant time (for equal-length inputs). */
export async function verifySecret(secret: string, hash: SecretHash): Promise<boolean> {
  const actual =
    hash.algorithm === 'sha256'
      ? createHash('sha256').update(secret).digest()
      : await scryptAsync(secret, hash.salt, hash.hash.length, scryptOptions(hash));
  return actual.length === hash.hash.length && timingSafeEqual(actual, hash.hash);
}

/** A new random secret, 32 bytes as base64url: suitable for an API key or a pepper. */
export function generateSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Options of `readSecret(name, options)`: the same shape as `@bulwark/perimeter`'s `readSecret`. */
export interface ReadSecretOptions {
  /** Shortest acceptable value, in characters. Default `32`. */
  minLength?: number;
  /** Throw when neither `NAME_FILE` nor `NAME` is set. Default: `true` in production, else `false`. */
  required?: boolean;
  /**
   * Refuse short, placeholder, low-variety and guessable values (throw) instead of warning.
   * Default: `NODE_ENV === 'production'` in `env`.
   */
  production?: boolean;
  /** Where to read `NAME` and `NAME_FILE` from. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Winston-shaped logger for warnings (only `warn` is used). Default: `process.emitWarning`. */
  logger?: Pick<Logger, 'warn'>;
  /**
   * The app's name, whose parts a guesser tries first (`iot-api` makes `iot-api-jwt-secret-2024`
   * guessable). Default: the `name` in the `package.json` of the working directory.
   */
  appName?: string;
}

function readSecretFile(name: string, file: string, logger: ReadSecretOptions['logger']): string {
  const read = readSharedSecretFile(name, file, (variable, code) => {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_SECRET_SOURCE',
      `readSecret: the file named by ${variable} could not be read (${code}). Check that it exists, is a regular file and this process may read it.`,
    );
  });
  if (read.looseMessage) {
    warn(logger as Logger | undefined, 'ERR_BULWARK_RBAC_SECRET_PERMISSIONS', read.looseMessage, {
      variable: name,
      mode: read.looseMode,
    });
  }
  return read.text;
}

/**
 * Reads a secret the way containers deliver them: from the file named by `NAME_FILE` (Docker
 * and Kubernetes secrets, trimmed) or from `NAME`. The same function, with the same options, as
 * `@bulwark/perimeter`'s `readSecret`: setting both variables is an error, a file readable by
 * group or others is warned about, a missing secret is an error when `required` (by default in
 * production), and in production a value shorter than `minLength`, a placeholder, a value with
 * few distinct characters or one built from guessable parts is refused (a warning elsewhere).
 * The value never appears in a message. A second argument that is not options, such as the map
 * of variables older releases took (`readSecret(name, env)`), is refused.
 *
 * @param name The variable name, such as `API_KEY_PEPPER` (reads `API_KEY_PEPPER_FILE` or `API_KEY_PEPPER`).
 * @param options See {@link ReadSecretOptions}.
 * @returns The secret, or `undefined` when it is not set and not required.
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_SECRET_NAME` for a name that is not a variable name,
 *   `ERR_BULWARK_RBAC_OPTIONS` for a second argument that is not `readSecret`'s options,
 *   `ERR_BULWARK_RBAC_UNKNOWN_OPTION`, `ERR_BULWARK_RBAC_SECRET_SOURCE` (both set, or the file
 *   unreadable), `ERR_BULWARK_RBAC_SECRET_MISSING`, `ERR_BULWARK_RBAC_SECRET_WEAK` (production only).
 * @example
 * const pepper = readSecret('API_KEY_PEPPER', { required: true });
 */
export function readSecret(name: string, options: ReadSecretOptions & { required: true }): string;
export function readSecret(name: string, options?: ReadSecretOptions): string | undefined;
export function readSecret(name: string, options?: ReadSecretOptions): string | undefined {
  if (!isSecretName(name)) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_SECRET_NAME',
      `readSecret: ${show(name)} is not a variable name. Pass the base name, such as 'API_KEY_PEPPER'; readSecret reads API_KEY_PEPPER_FILE itself.`,
    );
  }
  const variables = environmentKeys(name, options);
  if (variables)
    throw new RbacConfigError('ERR_BULWARK_RBAC_OPTIONS', environmentMessage(name, variables));
  if (
    options !== undefined &&
    (options === null || typeof options !== 'object' || Array.isArray(options))
  ) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `readSecret: the second argument must be options such as { required: true, minLength: 32 }, received ${show(options)}. Options: ${READ_SECRET_OPTIONS.join(', ')}.`,
    );
  }
  const opts = defined(options ?? {});
  checkOptionNames('readSecret', opts, READ_SECRET_OPTIONS);
  for (const key of ['required', 'production'] as const) {
    if (opts[key] !== undefined && typeof opts[key] !== 'boolean') {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_OPTIONS',
        `readSecret: ${key} ${show(opts[key])} is not a boolean. Pass true or false.`,
      );
    }
  }
  if (opts.env !== undefined && (opts.env === null || typeof opts.env !== 'object')) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `readSecret: env ${show(opts.env)} is not a map of variables. Pass an object such as process.env.`,
    );
  }
  const minLength = opts.minLength ?? 32;
  if (
    typeof minLength !== 'number' ||
    !Number.isInteger(minLength) ||
    minLength < 1 ||
    minLength > 4096
  ) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `readSecret: minLength ${show(minLength)} is not valid. Use an integer from 1 to 4096; 32 is the default.`,
    );
  }
  if (opts.appName !== undefined && typeof opts.appName !== 'string') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `readSecret: appName ${show(opts.appName)} is not a name. Pass the app's name as a string, such as 'iot-api'.`,
    );
  }
  if (opts.logger !== undefined && typeof opts.logger?.warn !== 'function') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `readSecret: logger ${show(opts.logger)} has no warn(message, meta) method. Pass a winston logger.`,
    );
  }
  const env = opts.env ?? process.env;
  const production = opts.production ?? env.NODE_ENV === 'production';
  const required = opts.required ?? production;

  const direct = env[name];
  const file = env[`${name}_FILE`];
  const hasDirect = direct !== undefined && direct !== '';
  const hasFile = file !== undefined && file !== '';
  if (hasDirect && hasFile) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_SECRET_SOURCE',
      `readSecret: both ${name} and ${name}_FILE are set. Set only one: prefer ${name}_FILE with a file readable only by the app, and unset ${name}.`,
    );
  }
  const value = hasFile ? readSecretFile(name, file, opts.logger) : hasDirect ? direct : undefined;
  if (value === undefined || value === '') {
    if (required) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_SECRET_MISSING',
        `readSecret: ${hasFile ? `the file named by ${name}_FILE is empty` : `neither ${name}_FILE nor ${name} is set`}. Mount the secret as a file and set ${name}_FILE to its path. ${SECRET_FIX}`,
      );
    }
    return undefined;
  }
  const verdict = judgeSecret(value, minLength, {
    name,
    ...(opts.appName !== undefined ? { appName: opts.appName } : {}),
  });
  if (verdict) {
    const message = `readSecret: ${describeWeakness(name, verdict.weakness, value.length, minLength, verdict.estimate)}`;
    if (production) throw new RbacConfigError('ERR_BULWARK_RBAC_SECRET_WEAK', message);
    warn(
      opts.logger as Logger | undefined,
      'ERR_BULWARK_RBAC_SECRET_WEAK',
      `${message} (refused when NODE_ENV=production)`,
      { variable: name, weakness: verdict.weakness },
    );
  }
  return value;
}
