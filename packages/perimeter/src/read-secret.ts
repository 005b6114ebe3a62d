// readSecret(): load a secret from NAME_FILE (Docker/Kubernetes secrets) or NAME, and refuse weak ones.
import { readFileSync, statSync } from 'node:fs';
import {
  checkOptions,
  describe,
  PerimeterConfigError,
  type PerimeterLogger,
  positiveInt,
  warn,
} from './errors.js';

export interface ReadSecretOptions {
  /** Shortest acceptable value, in characters. Default `32`. */
  minLength?: number;
  /** Throw when neither `NAME_FILE` nor `NAME` is set. Default: `true` in production, else `false`. */
  required?: boolean;
  /**
   * Refuse short, placeholder and low-variety values (throw) instead of warning. Default:
   * `NODE_ENV === 'production'`.
   */
  production?: boolean;
  /** Where to read `NAME` and `NAME_FILE` from. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Winston-shaped logger for warnings. Default: `process.emitWarning`. */
  logger?: PerimeterLogger;
}

const KNOWN = ['minLength', 'required', 'production', 'env', 'logger'] as const;

const PLACEHOLDERS = new Set([
  'changeme',
  'changeit',
  'changethis',
  'secret',
  'secretkey',
  'mysecret',
  'supersecret',
  'topsecret',
  'password',
  'passw0rd',
  'pass',
  'default',
  'example',
  'test',
  'testing',
  'dev',
  'development',
  'local',
  'admin',
  'root',
  'token',
  'key',
  'apikey',
  'jwtsecret',
  'sessionsecret',
  'qwerty',
  'letmein',
  'todo',
  'fixme',
  'xxx',
  'null',
  'undefined',
  'none',
  'empty',
  'foo',
  'foobar',
  'abc',
  'abc123',
  '123456',
  '12345678',
  '123456789',
  '1234567890',
  'yoursecret',
  'yoursecretkey',
  'yourkey',
  'yourpassword',
  'replaceme',
  'notsecret',
]);
const PLACEHOLDER_PARTS = [
  'changeme',
  'changethis',
  'replaceme',
  'replacethis',
  'yoursecret',
  'yourkey',
  'yourpassword',
  'placeholder',
  'insecure',
  'notsecret',
  'dummy',
  'example',
  'sample',
  'fixme',
];

export type SecretWeakness = 'missing' | 'placeholder' | 'short' | 'low-variety';

/** Why `value` is not fit to be a secret, or `undefined` when it is. Never echoes the value. */
export function secretWeakness(
  value: string | undefined,
  minLength = 32,
): SecretWeakness | undefined {
  if (value === undefined || value.trim() === '') return 'missing';
  const normalized = value.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (
    PLACEHOLDERS.has(normalized) ||
    PLACEHOLDER_PARTS.some((part) => normalized.includes(part)) ||
    /^<.*>$|^\$\{.*\}$|^\{\{.*\}\}$/.test(value.trim())
  ) {
    return 'placeholder';
  }
  if (value.length < minLength) return 'short';
  if (new Set(value).size < 8) return 'low-variety';
  return undefined;
}

const FIX =
  "Generate one with: node -e \"console.log(require('node:crypto').randomBytes(32).toString('base64url'))\"";

function describeWeakness(
  name: string,
  weakness: SecretWeakness,
  length: number,
  minLength: number,
): string {
  switch (weakness) {
    case 'placeholder':
      return `${name} is a known placeholder or default value. ${FIX}`;
    case 'short':
      return `${name} is ${length} characters; at least ${minLength} are required. ${FIX}`;
    case 'low-variety':
      return `${name} repeats too few distinct characters to be random. ${FIX}`;
    default:
      return `${name} is empty. Set ${name}_FILE to a file holding the secret, or ${name}. ${FIX}`;
  }
}

function readSecretFile(name: string, file: string, logger: PerimeterLogger | undefined): string {
  const variable = `${name}_FILE`;
  let mode: number;
  let text: string;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    mode = stat.mode;
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_SECRET_FILE',
      `readSecret: the file named by ${variable} could not be read (${code}). Check that ${variable} points at a readable regular file mounted into the container.`,
    );
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(4, '0');
    warn(
      logger,
      'ERR_BULWARK_PERIMETER_SECRET_PERMISSIONS',
      `readSecret: the file named by ${variable} has mode ${octal}, so other users ${(mode & 0o044) !== 0 ? 'can read' : 'can change'} it. Run chmod 600 on it (owner only).`,
      { secret: name, mode: octal },
    );
  }
  return text.trim();
}

/**
 * Reads a secret the way containers deliver them: from the file named by `NAME_FILE` (Docker
 * and Kubernetes secrets, trimmed of its trailing newline) or from `NAME`. Setting both is an
 * error, so a stale variable cannot silently win. Warns when the file is readable by group or
 * others. In production, refuses values shorter than `minLength`, known placeholders
 * (`changeme`, `secret`, `password`, ...) and values with too few distinct characters; in
 * development it warns about them instead. The value never appears in a message.
 *
 * @param name The variable name, such as `SECRET_KEY` (reads `SECRET_KEY_FILE` or `SECRET_KEY`).
 * @param options See {@link ReadSecretOptions}.
 * @returns The secret, or `undefined` when it is not set and not required.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_SECRET_AMBIGUOUS` (both set),
 *   `ERR_BULWARK_PERIMETER_SECRET_MISSING`, `ERR_BULWARK_PERIMETER_SECRET_FILE` (unreadable),
 *   `ERR_BULWARK_PERIMETER_SECRET_WEAK` (production only), `ERR_BULWARK_PERIMETER_INVALID_NAME`.
 * @example
 * const jwtSecret = readSecret('JWT_SECRET', { required: true });
 */
export function readSecret(name: string, options: ReadSecretOptions & { required: true }): string;
export function readSecret(name: string, options?: ReadSecretOptions): string | undefined;
export function readSecret(name: string, options?: ReadSecretOptions): string | undefined {
  if (
    typeof name !== 'string' ||
    !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ||
    name.endsWith('_FILE')
  ) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_NAME',
      `readSecret: ${describe(name)} is not a variable name. Pass the base name, such as 'SECRET_KEY'; readSecret reads SECRET_KEY_FILE itself.`,
    );
  }
  const opts = checkOptions('readSecret', options, KNOWN) as ReadSecretOptions;
  const env = opts.env ?? process.env;
  const production = opts.production ?? env.NODE_ENV === 'production';
  const required = opts.required ?? production;
  const minLength = positiveInt('readSecret', 'minLength', opts.minLength ?? 32, { max: 4096 });

  const direct = env[name];
  const file = env[`${name}_FILE`];
  const hasDirect = direct !== undefined && direct !== '';
  const hasFile = file !== undefined && file !== '';
  if (hasDirect && hasFile) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_SECRET_AMBIGUOUS',
      `readSecret: both ${name} and ${name}_FILE are set. Keep one: prefer ${name}_FILE with a file readable only by the app, and unset ${name}.`,
    );
  }
  const value = hasFile ? readSecretFile(name, file, opts.logger) : hasDirect ? direct : undefined;

  if (value === undefined || value === '') {
    if (required) {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_SECRET_MISSING',
        `readSecret: ${hasFile ? `the file named by ${name}_FILE is empty` : `neither ${name}_FILE nor ${name} is set`}. Mount the secret as a file and set ${name}_FILE to its path. ${FIX}`,
      );
    }
    return undefined;
  }
  const weakness = secretWeakness(value, minLength);
  if (weakness) {
    const message = `readSecret: ${describeWeakness(name, weakness, value.length, minLength)}`;
    if (production) throw new PerimeterConfigError('ERR_BULWARK_PERIMETER_SECRET_WEAK', message);
    warn(
      opts.logger,
      'ERR_BULWARK_PERIMETER_SECRET_WEAK',
      `${message} (refused when NODE_ENV=production)`,
      {
        secret: name,
        weakness,
      },
    );
  }
  return value;
}
