// readSecret() with real files: NAME_FILE, permissions, both set, short, placeholder and guessable values.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSecret, secretWeakness } from './read-secret.js';

const dir = mkdtempSync(join(tmpdir(), 'bulwark-secret-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const strong = randomBytes(32).toString('base64url');

function secretFile(name: string, content: string, mode = 0o600): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  chmodSync(file, mode);
  return file;
}

function collect() {
  const warnings: { message: string; meta?: Record<string, unknown> }[] = [];
  return {
    warnings,
    logger: {
      warn: (message: string, meta?: Record<string, unknown>) =>
        warnings.push({ message, ...(meta ? { meta } : {}) }),
    },
  };
}

describe('readSecret', () => {
  it('reads NAME_FILE and trims the trailing newline, without warnings for a 0600 file', () => {
    const { warnings, logger } = collect();
    const file = secretFile('key-600', `${strong}\n`);
    const value = readSecret('SECRET_KEY', {
      env: { SECRET_KEY_FILE: file, NODE_ENV: 'production' },
      logger,
    });
    expect(value).toBe(strong);
    expect(warnings).toEqual([]);
  });

  it('reads NAME when no file is given', () => {
    expect(readSecret('SECRET_KEY', { env: { SECRET_KEY: strong } })).toBe(strong);
  });

  it('warns when the file is readable by group or others (0644), without the path or value', () => {
    const { warnings, logger } = collect();
    const file = secretFile('key-644', strong, 0o644);
    expect(readSecret('SECRET_KEY', { env: { SECRET_KEY_FILE: file }, logger })).toBe(strong);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(/mode 0644.*chmod 600/);
    expect(warnings[0]?.message).not.toContain(file);
    expect(warnings[0]?.message).not.toContain(strong);
    expect(warnings[0]?.meta).toMatchObject({ code: 'ERR_BULWARK_PERIMETER_SECRET_PERMISSIONS' });
  });

  it('refuses both NAME and NAME_FILE being set', () => {
    const file = secretFile('key-both', strong);
    expect(() =>
      readSecret('SECRET_KEY', { env: { SECRET_KEY: strong, SECRET_KEY_FILE: file } }),
    ).toThrow(expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_SECRET_AMBIGUOUS' }));
  });

  it('refuses a short secret in production, naming its length but never its value', () => {
    const short = 'k3y-0f-twelve';
    let thrown: unknown;
    try {
      readSecret('SECRET_KEY', { env: { SECRET_KEY: short, NODE_ENV: 'production' } });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: 'ERR_BULWARK_PERIMETER_SECRET_WEAK' });
    expect((thrown as Error).message).toContain('13 characters; at least 32');
    expect((thrown as Error).message).not.toContain(short);
  });

  it('refuses known placeholders in production, whatever their length or spelling', () => {
    for (const placeholder of [
      'changeme',
      'CHANGE_ME',
      'password',
      'secret',
      'your-secret-key-here-please-replace-it',
      'django-insecure-0123456789abcdefghijklmnopqrstuvwxyz',
      `${'$'}{SECRET_KEY}`,
    ]) {
      expect(
        () => readSecret('SECRET_KEY', { env: { SECRET_KEY: placeholder }, production: true }),
        placeholder,
      ).toThrow(expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_SECRET_WEAK' }));
    }
    expect(() =>
      readSecret('SECRET_KEY', { env: { SECRET_KEY: 'a'.repeat(40) }, production: true }),
    ).toThrow(/too few distinct/);
  });

  it('refuses guessable secrets of 32 or more characters in production (runs, repeats, sequences, keyboard walks, words, the app name, years)', () => {
    for (const guessable of [
      '12345678901234567890123456789012',
      'abcdefghabcdefghabcdefghabcdefgh',
      'passwordpasswordpassword12345678',
      'iot-app-jwt-secret-for-production-2024',
      'IotApp_JwtSecret_Production_2024!',
      'qwertyuiopasdfghjklzxcvbnm123456',
      '1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,',
      'Summer2024!Summer2024!Summer2024!',
      'P@ssw0rdP@ssw0rdP@ssw0rd!2024xyz',
      'ThisIsMyVeryLongAndSecureSecretKey2024',
      'zyxwvutsrqponmlkjihgfedcba987654',
    ]) {
      let thrown: unknown;
      try {
        readSecret('JWT_SECRET', {
          env: { JWT_SECRET: guessable, NODE_ENV: 'production' },
          appName: 'iot-app',
        });
      } catch (err) {
        thrown = err;
      }
      expect(thrown, guessable).toMatchObject({ code: 'ERR_BULWARK_PERIMETER_SECRET_WEAK' });
      const message = (thrown as Error).message;
      expect(message, guessable).toContain('JWT_SECRET is built from guessable parts');
      expect(message, guessable).toContain(
        "node -e \"console.log(require('node:crypto').randomBytes(32).toString('base64url'))\"",
      );
      expect(message, guessable).not.toContain(guessable);
      expect(secretWeakness(guessable, 32, { name: 'JWT_SECRET', appName: 'iot-app' })).toBe(
        'guessable',
      );
    }
  });

  it('says which kinds of parts made a secret guessable, never the parts themselves', () => {
    expect(() =>
      readSecret('JWT_SECRET', {
        env: { JWT_SECRET: 'iot-app-jwt-secret-for-production-2024' },
        production: true,
        appName: 'iot-app',
      }),
    ).toThrow(
      /\(common words, the app's or the variable's own name, a year, separators between words\): a guesser would need about 2\^\d+ tries, and at least 2\^100 are required/,
    );
  });

  it("counts the app's name from package.json in the working directory, or from appName, as a guess", () => {
    const secret = 'fleet-portal-jwt-secret-for-production-2024';
    const env = { JWT_SECRET: secret };
    expect(readSecret('JWT_SECRET', { env, production: true, appName: 'billing' })).toBe(secret);
    expect(() =>
      readSecret('JWT_SECRET', { env, production: true, appName: '@acme/fleet-portal' }),
    ).toThrow(/guessable/);
    const app = join(dir, 'fleet-portal-app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: '@acme/fleet-portal' }));
    const cwd = process.cwd();
    process.chdir(app);
    try {
      expect(() => readSecret('JWT_SECRET', { env, production: true })).toThrow(
        expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_SECRET_WEAK' }),
      );
      expect(secretWeakness(secret)).toBe('guessable');
    } finally {
      process.chdir(cwd);
    }
  });

  it('accepts base64, base64url and hex of 32 random bytes every time, in production', () => {
    const encodings = ['base64', 'base64url', 'hex'] as const;
    for (let i = 0; i < 600; i++) {
      const value = randomBytes(32).toString(encodings[i % 3]!);
      expect(
        readSecret('JWT_SECRET', { env: { JWT_SECRET: value }, production: true }),
        value,
      ).toBe(value);
    }
    for (let i = 0; i < 400; i++) {
      const value = randomBytes(24).toString('base64');
      expect(secretWeakness(value, 32, { name: 'JWT_SECRET', appName: 'iot-app' }), value).toBe(
        undefined,
      );
    }
  });

  it('warns about a guessable secret in development, naming the variable but not the value', () => {
    const { warnings, logger } = collect();
    const guessable = 'passwordpasswordpassword12345678';
    expect(
      readSecret('SECRET_KEY', { env: { SECRET_KEY: guessable, NODE_ENV: 'development' }, logger }),
    ).toBe(guessable);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(/SECRET_KEY is built from guessable parts/);
    expect(warnings[0]?.message).not.toContain(guessable);
    expect(warnings[0]?.meta).toMatchObject({
      code: 'ERR_BULWARK_PERIMETER_SECRET_WEAK',
      variable: 'SECRET_KEY',
      weakness: 'guessable',
    });
  });

  it('asks 4 bits a character of a minLength under 25, so short random values pass and short guessable ones do not', () => {
    for (let i = 0; i < 200; i++) {
      const value = randomBytes(12).toString('base64url');
      expect(
        readSecret('API_TOKEN', { env: { API_TOKEN: value }, minLength: 16, production: true }),
      ).toBe(value);
    }
    expect(() =>
      readSecret('API_TOKEN', {
        env: { API_TOKEN: 'password12345678' },
        minLength: 16,
        production: true,
      }),
    ).toThrow(/at least 2\^64 are required/);
  });

  it('refuses an appName that is not a string', () => {
    expect(() => readSecret('JWT_SECRET', { env: {}, appName: 42 as never })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_OPTION' }),
    );
  });

  it('only warns about weak values in development', () => {
    const { warnings, logger } = collect();
    expect(
      readSecret('SECRET_KEY', {
        env: { SECRET_KEY: 'changeme', NODE_ENV: 'development' },
        logger,
      }),
    ).toBe('changeme');
    expect(warnings[0]?.message).toMatch(/placeholder/);
    expect(warnings[0]?.message).not.toMatch(/changeme/);
  });

  it('requires the secret in production and returns undefined when optional elsewhere', () => {
    expect(() => readSecret('SECRET_KEY', { env: { NODE_ENV: 'production' } })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_SECRET_MISSING' }),
    );
    expect(readSecret('SECRET_KEY', { env: {} })).toBeUndefined();
    const empty = secretFile('key-empty', '\n');
    expect(() =>
      readSecret('SECRET_KEY', { env: { SECRET_KEY_FILE: empty }, required: true }),
    ).toThrow(/is empty/);
  });

  it('reports an unreadable file without its path', () => {
    const missing = join(dir, 'nope', 'key');
    let thrown: unknown;
    try {
      readSecret('SECRET_KEY', { env: { SECRET_KEY_FILE: missing } });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: 'ERR_BULWARK_PERIMETER_SECRET_FILE' });
    expect((thrown as Error).message).toContain('ENOENT');
    expect((thrown as Error).message).not.toContain(missing);
    const folder = join(dir, 'folder');
    mkdirSync(folder);
    expect(() => readSecret('SECRET_KEY', { env: { SECRET_KEY_FILE: folder } })).toThrow(/EISDIR/);
  });

  it('honours a custom minimum length and refuses a bad variable name', () => {
    expect(() =>
      readSecret('API_TOKEN', { env: { API_TOKEN: strong }, minLength: 64, production: true }),
    ).toThrow(/at least 64/);
    expect(() => readSecret('SECRET_KEY_FILE')).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_NAME' }),
    );
  });

  it('refuses a map of variables passed where the options belong, as a JavaScript caller of the old rbac form would, naming the options shape', () => {
    // As JavaScript calls it: no types to stop the wrong shape.
    const fromJs = readSecret as (...args: unknown[]) => unknown;
    const file = secretFile('old-shape', strong);
    for (const env of [
      { PEPPER_FILE: file },
      { PEPPER: strong },
      { OTHER: 'x', NODE_ENV: 'dev' },
    ]) {
      expect(() => fromJs('PEPPER', env), JSON.stringify(Object.keys(env))).toThrow(
        expect.objectContaining({
          code: 'ERR_BULWARK_PERIMETER_INVALID_OPTIONS',
          message: expect.stringContaining("readSecret('PEPPER', { env: variables })"),
        }),
      );
    }
    expect(() => fromJs('PEPPER', process.env)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_OPTIONS' }),
    );
    let thrown: unknown;
    try {
      fromJs('PEPPER', { PEPPER: strong });
    } catch (err) {
      thrown = err;
    }
    expect((thrown as Error).message).not.toContain(strong);
    expect(fromJs('PEPPER', { env: { PEPPER: strong } })).toBe(strong);
  });

  it('refuses required, production or env of the wrong type instead of reading them as truthy', () => {
    const fromJs = readSecret as (...args: unknown[]) => unknown;
    for (const options of [{ required: 'yes' }, { production: 1 }, { env: 'production' }]) {
      expect(() => fromJs('PEPPER', options), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_OPTION' }),
      );
    }
    expect(() => fromJs('PEPPER', { minlength: 40 })).toThrow(/Did you mean `minLength`/);
  });

  it('tells a random value from weak ones', () => {
    expect(secretWeakness(strong)).toBeUndefined();
    expect(secretWeakness(undefined)).toBe('missing');
    expect(secretWeakness('short')).toBe('short');
  });
});
