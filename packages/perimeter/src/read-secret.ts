// readSecret(): load a secret from NAME_FILE (Docker/Kubernetes secrets) or NAME; refuse guessable ones.
import {
  describeWeakness,
  environmentKeys,
  environmentMessage,
  isSecretName,
  judgeSecret,
  READ_SECRET_OPTIONS,
  readSecretFile as readSharedSecretFile,
  SECRET_FIX,
  type SecretContext,
  type SecretWeakness,
  secretWeakness,
} from '../../../internal/read-secret-core.js';
import {
  checkOptions,
  describe,
  PerimeterConfigError,
  type PerimeterLogger,
  positiveInt,
  warn,
} from './errors.js';

export { type SecretContext, type SecretWeakness, secretWeakness };

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
  /**
   * The app's name, whose parts a guesser tries first (`iot-api` makes `iot-api-jwt-secret-2024`
   * guessable). Default: the `name` in the `package.json` of the working directory.
   */
  appName?: string;
}

function readSecretFile(name: string, file: string, logger: PerimeterLogger | undefined): string {
  const read = readSharedSecretFile(name, file, (variable, code) => {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_SECRET_FILE',
      `readSecret: the file named by ${variable} could not be read (${code}). Check that ${variable} points at a readable regular file mounted into the container.`,
    );
  });
  if (read.looseMessage) {
    warn(logger, 'ERR_BULWARK_PERIMETER_SECRET_PERMISSIONS', read.looseMessage, {
      variable: name,
      mode: read.looseMode,
    });
  }
  return read.text;
}

/**
 * Reads a secret the way containers deliver them: from the file named by `NAME_FILE` (Docker
 * and Kubernetes secrets, trimmed of its trailing newline) or from `NAME`. Setting both is an
 * error, so a stale variable cannot silently win. Warns when the file is readable by group or
 * others. In production, refuses values shorter than `minLength`, known placeholders
 * (`changeme`, `secret`, `password`, ...), values with too few distinct characters, and values a
 * guesser would find in fewer than 2^100 tries because they are built from words, the app's or
 * the variable's name, sequences, keyboard walks, repeats or years; in development it warns about
 * them instead. The value never appears in a message.
 *
 * @param name The variable name, such as `SECRET_KEY` (reads `SECRET_KEY_FILE` or `SECRET_KEY`).
 * @param options See {@link ReadSecretOptions}.
 * @returns The secret, or `undefined` when it is not set and not required.
 * @throws {PerimeterConfigError} `ERR_BULWARK_PERIMETER_SECRET_AMBIGUOUS` (both set),
 *   `ERR_BULWARK_PERIMETER_SECRET_MISSING`, `ERR_BULWARK_PERIMETER_SECRET_FILE` (unreadable),
 *   `ERR_BULWARK_PERIMETER_SECRET_WEAK` (production only), `ERR_BULWARK_PERIMETER_INVALID_NAME`,
 *   `ERR_BULWARK_PERIMETER_INVALID_OPTION` (an `appName` that is not a string).
 * @example
 * const jwtSecret = readSecret('JWT_SECRET', { required: true });
 */
export function readSecret(name: string, options: ReadSecretOptions & { required: true }): string;
export function readSecret(name: string, options?: ReadSecretOptions): string | undefined;
export function readSecret(name: string, options?: ReadSecretOptions): string | undefined {
  if (!isSecretName(name)) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_NAME',
      `readSecret: ${describe(name)} is not a variable name. Pass the base name, such as 'SECRET_KEY'; readSecret reads SECRET_KEY_FILE itself.`,
    );
  }
  const variables = environmentKeys(name, options);
  if (variables) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTIONS',
      environmentMessage(name, variables),
    );
  }
  const opts = checkOptions('readSecret', options, READ_SECRET_OPTIONS) as ReadSecretOptions;
  for (const key of ['required', 'production'] as const) {
    if (opts[key] !== undefined && typeof opts[key] !== 'boolean') {
      throw new PerimeterConfigError(
        'ERR_BULWARK_PERIMETER_INVALID_OPTION',
        `readSecret: ${key}: ${describe(opts[key])} is not a boolean. Pass true or false.`,
      );
    }
  }
  if (opts.env !== undefined && (opts.env === null || typeof opts.env !== 'object')) {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTION',
      `readSecret: env: ${describe(opts.env)} is not a map of variables. Pass an object such as process.env.`,
    );
  }
  const env = opts.env ?? process.env;
  const production = opts.production ?? env.NODE_ENV === 'production';
  const required = opts.required ?? production;
  const minLength = positiveInt('readSecret', 'minLength', opts.minLength ?? 32, { max: 4096 });
  if (opts.appName !== undefined && typeof opts.appName !== 'string') {
    throw new PerimeterConfigError(
      'ERR_BULWARK_PERIMETER_INVALID_OPTION',
      `readSecret: appName: ${describe(opts.appName)} is not a name. Pass the app's name as a string, such as 'iot-api'.`,
    );
  }

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
    const { weakness } = verdict;
    const message = `readSecret: ${describeWeakness(name, weakness, value.length, minLength, verdict.estimate)}`;
    if (production) throw new PerimeterConfigError('ERR_BULWARK_PERIMETER_SECRET_WEAK', message);
    warn(
      opts.logger,
      'ERR_BULWARK_PERIMETER_SECRET_WEAK',
      `${message} (refused when NODE_ENV=production)`,
      {
        variable: name,
        weakness,
      },
    );
  }
  return value;
}
