// Hashing and constant-time checking of secrets (scrypt or SHA-256), and reading them from env or files.
import { createHash, randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { RbacConfigError, show } from './errors.js';

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

/**
 * Reads a secret from `<NAME>_FILE` (a path, as Docker and Kubernetes secrets provide) or
 * else from `<NAME>`; trailing newlines are removed. Returns `undefined` when neither is set.
 *
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_SECRET_SOURCE` when both are set or the file cannot be read.
 * @example
 * const pepper = readSecret('API_KEY_PEPPER');
 */
export function readSecret(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env[`${name}_FILE`];
  const value = env[name];
  if (file !== undefined && value !== undefined) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_SECRET_SOURCE',
      `readSecret: both ${name} and ${name}_FILE are set. Set only one, preferably ${name}_FILE.`,
    );
  }
  if (file === undefined) return value;
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n+$/, '');
  } catch {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_SECRET_SOURCE',
      `readSecret: the file named by ${name}_FILE could not be read. Check that it exists and this process may read it.`,
    );
  }
}
