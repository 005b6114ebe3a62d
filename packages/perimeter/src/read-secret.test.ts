// readSecret() with real files: NAME_FILE, permissions, both set, short and placeholder values.
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

  it('tells a random value from weak ones', () => {
    expect(secretWeakness(strong)).toBeUndefined();
    expect(secretWeakness(undefined)).toBe('missing');
    expect(secretWeakness('short')).toBe('short');
  });
});
