// hashSecret, readSecret and the bulwark-hash-secret command.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
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
  it('reads NAME_FILE, trimming the trailing newline, or else NAME', () => {
    const file = join(dir, 'pepper');
    writeFileSync(file, 'from-a-file\n');
    expect(readSecret('PEPPER', { PEPPER_FILE: file })).toBe('from-a-file');
    expect(readSecret('PEPPER', { PEPPER: 'from-env' })).toBe('from-env');
    expect(readSecret('PEPPER', {})).toBeUndefined();
  });

  it('refuses both sources at once, and an unreadable file without naming its path', () => {
    expect(() => readSecret('PEPPER', { PEPPER: 'a', PEPPER_FILE: 'b' })).toThrow(/Set only one/);
    const missing = join(dir, 'missing-file');
    try {
      readSecret('PEPPER', { PEPPER_FILE: missing });
      expect.unreachable();
    } catch (err) {
      expect((err as RbacConfigError).code).toBe('ERR_BULWARK_RBAC_SECRET_SOURCE');
      expect((err as Error).message).not.toContain(missing);
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
