// hashSecret, readSecret and the bulwark-hash-secret command.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { readSecret as perimeterReadSecret } from '../../perimeter/src/read-secret.js';
import { RbacConfigError } from './errors.js';
import { hashSecretCli } from './hash-secret-cli.js';
import {
  generateSecret,
  hashSecret,
  parseSecretHash,
  readSecret,
  verifySecret,
} from './secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'bulwark-rbac-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('hashSecret', () => {
  it('makes salted scrypt hashes that verify only the right secret', async () => {
    const a = await hashSecret('hunter2-but-longer', { log2Cost: 14 });
    const b = await hashSecret('hunter2-but-longer', { log2Cost: 14 });
    expect(a).toMatch(/^\$scrypt\$ln=14,r=8,p=1\$/);
    expect(a).not.toBe(b);
    expect(await verifySecret('hunter2-but-longer', parseSecretHash(a)!)).toBe(true);
    expect(await verifySecret('hunter3-but-longer', parseSecretHash(a)!)).toBe(false);
  });

  it('makes SHA-256 hashes only for long random keys', async () => {
    const key = generateSecret();
    const hash = await hashSecret(key, { algorithm: 'sha256' });
    expect(await verifySecret(key, parseSecretHash(hash)!)).toBe(true);
    await expect(hashSecret('short', { algorithm: 'sha256' })).rejects.toThrow(RbacConfigError);
    await expect(hashSecret('')).rejects.toThrow(RbacConfigError);
    await expect(hashSecret('x', { log2Cost: 10 })).rejects.toThrow(/log2Cost/);
  });

  it('parses only well-formed hashes with safe parameters', () => {
    expect(
      parseSecretHash(
        '$scrypt$ln=4,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      ),
    ).toBeNull();
    expect(parseSecretHash('plaintext')).toBeNull();
    expect(parseSecretHash(undefined)).toBeNull();
  });
});

describe('readSecret', () => {
  const strong = generateSecret();
  const secretFile = (name: string, content: string, mode = 0o600) => {
    const file = join(dir, name);
    writeFileSync(file, content);
    chmodSync(file, mode);
    return file;
  };

  it('reads NAME_FILE, trimming the trailing newline, or else NAME, from the env option', () => {
    const file = secretFile('pepper', `${strong}\n`);
    expect(readSecret('PEPPER', { env: { PEPPER_FILE: file } })).toBe(strong);
    expect(readSecret('PEPPER', { env: { PEPPER: strong } })).toBe(strong);
    expect(readSecret('PEPPER', { env: {} })).toBeUndefined();
  });

  it('refuses both sources at once, and an unreadable file without naming its path', () => {
    expect(() => readSecret('PEPPER', { env: { PEPPER: 'a', PEPPER_FILE: 'b' } })).toThrow(
      /Set only one/,
    );
    const missing = join(dir, 'missing-file');
    try {
      readSecret('PEPPER', { env: { PEPPER_FILE: missing } });
      expect.unreachable();
    } catch (err) {
      expect((err as RbacConfigError).code).toBe('ERR_BULWARK_RBAC_SECRET_SOURCE');
      expect((err as Error).message).toContain('(ENOENT)');
      expect((err as Error).message).not.toContain(missing);
    }
  });

  it('refuses the old readSecret(name, env) call from JavaScript with the options shape, never returning undefined', () => {
    // As JavaScript calls it: no types to stop the old shape.
    const fromJs = readSecret as (...args: unknown[]) => unknown;
    const file = secretFile('old-shape', strong);
    for (const env of [{ PEPPER_FILE: file }, { PEPPER: strong }, { OTHER: 'x' }, process.env]) {
      let thrown: unknown;
      try {
        fromJs('PEPPER', env);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(RbacConfigError);
      expect(thrown).toMatchObject({
        code: 'ERR_BULWARK_RBAC_OPTIONS',
        message: expect.stringContaining("readSecret('PEPPER', { env: variables })"),
      });
      expect((thrown as Error).message).toContain(
        'Options: minLength, required, production, env, logger, appName.',
      );
      expect((thrown as Error).message).not.toContain(strong);
    }
    for (const wrong of ['production', 42, ['PEPPER'], null]) {
      expect(() => fromJs('PEPPER', wrong), String(wrong)).toThrow(
        expect.objectContaining({
          code: 'ERR_BULWARK_RBAC_OPTIONS',
          message: expect.stringContaining('{ required: true, minLength: 32 }'),
        }),
      );
    }
    expect(() => fromJs('PEPPER', { requried: true })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_RBAC_UNKNOWN_OPTION',
        message: expect.stringContaining('Did you mean `required`?'),
      }),
    );
    expect(() => fromJs('PEPPER', { required: 'yes' })).toThrow(/not a boolean/);
    expect(() => fromJs({ name: 'PEPPER' })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RBAC_SECRET_NAME' }),
    );
    expect(() => fromJs('PEPPER_FILE')).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RBAC_SECRET_NAME' }),
    );
  });

  it("takes @bulwark/perimeter's options: required, production, minLength, appName and logger", () => {
    const warnings: { message: string; meta?: Record<string, unknown> }[] = [];
    const logger = {
      warn: (message: string, meta?: Record<string, unknown>) =>
        warnings.push({ message, ...(meta ? { meta } : {}) }),
    };
    expect(() => readSecret('PEPPER', { env: {}, required: true })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_RBAC_SECRET_MISSING',
        message: expect.stringContaining('neither PEPPER_FILE nor PEPPER is set'),
      }),
    );
    // Required by default in production, read from the env option's NODE_ENV.
    expect(() => readSecret('PEPPER', { env: { NODE_ENV: 'production' } })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_RBAC_SECRET_MISSING' }),
    );
    const weak = 'orders-api-pepper-for-production-2024';
    expect(() =>
      readSecret('PEPPER', { env: { PEPPER: weak }, production: true, appName: 'orders-api' }),
    ).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_RBAC_SECRET_WEAK',
        message: expect.not.stringContaining(weak),
      }),
    );
    expect(() =>
      readSecret('PEPPER', { env: { PEPPER: strong }, production: true, minLength: 64 }),
    ).toThrow(/at least 64 are required/);
    expect(readSecret('PEPPER', { env: { PEPPER: 'changeme' }, logger })).toBe('changeme');
    expect(warnings).toEqual([
      {
        message: expect.stringContaining('(refused when NODE_ENV=production)'),
        meta: { code: 'ERR_BULWARK_RBAC_SECRET_WEAK', variable: 'PEPPER', weakness: 'placeholder' },
      },
    ]);
    const open = secretFile('open-pepper', strong, 0o644);
    expect(readSecret('PEPPER', { env: { PEPPER_FILE: open }, logger })).toBe(strong);
    expect(warnings.at(-1)).toMatchObject({
      message: expect.stringContaining('chmod 600'),
      meta: { code: 'ERR_BULWARK_RBAC_SECRET_PERMISSIONS', mode: '0644' },
    });
    expect(warnings.at(-1)?.message).not.toContain(open);
  });

  it('gives the same verdict as the perimeter readSecret for the same value', () => {
    for (const value of [
      strong,
      'changeme',
      'short',
      'a'.repeat(40),
      'iot-api-jwt-secret-for-production-2024',
    ]) {
      const env = { JWT_SECRET: value };
      const outcome = (read: () => unknown) => {
        try {
          read();
          return 'accepted';
        } catch (err) {
          return String((err as { code?: unknown }).code).replace(/^ERR_BULWARK_[A-Z]+_/, '');
        }
      };
      const ours = outcome(() =>
        readSecret('JWT_SECRET', { env, production: true, appName: 'iot-api' }),
      );
      expect(ours, value.slice(0, 6)).toBe(value === strong ? 'accepted' : 'SECRET_WEAK');
      expect(
        outcome(() =>
          perimeterReadSecret('JWT_SECRET', { env, production: true, appName: 'iot-api' }),
        ),
      ).toBe(ours);
    }
  });
});

describe('bulwark-hash-secret', () => {
  const run = async (args: string[], input: string) => {
    let out = '';
    let err = '';
    const code = await hashSecretCli(args, {
      stdin: Readable.from([Buffer.from(input)]),
      stdout: { write: (t: string) => (out += t) },
      stderr: { write: (t: string) => (err += t) },
    });
    return { code, out, err };
  };

  it('prints the scrypt hash of a secret read from stdin', async () => {
    const { code, out } = await run([], 'a password from stdin\n');
    expect(code).toBe(0);
    expect(await verifySecret('a password from stdin', parseSecretHash(out.trim())!)).toBe(true);
  });

  it('generates a key and prints it with its SHA-256 hash', async () => {
    const { out } = await run(['--generate', '--sha256'], '');
    const [, key] = /key: +(\S+)/.exec(out)!;
    const [, hash] = /hash: +(\S+)/.exec(out)!;
    expect(await verifySecret(key!, parseSecretHash(hash!)!)).toBe(true);
  });

  it('refuses unknown arguments, so a secret is never taken from the command line', async () => {
    const { code, out, err } = await run(['my-secret'], '');
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain('Unknown argument');
  });
});
