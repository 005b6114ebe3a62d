// Option checking: unknown names with a hint, readable files, shared secret files.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MqttConfigError } from './errors.js';
import { assertKnownOptions, isSharedSecretFile, readOptionFile } from './options.js';

describe('assertKnownOptions', () => {
  const known = ['caFile', 'certFile', 'keyFile', 'timeoutMs'];

  it('suggests the closest known name for a typo and the mapped name for an alias', () => {
    expect(() => assertKnownOptions('f', { certFlie: 1 }, known)).toThrow(
      /Did you mean "certFile"\?/,
    );
    expect(() => assertKnownOptions('f', { keyPath: 1 }, known, { keyPath: 'keyFile' })).toThrow(
      /Did you mean "keyFile"\?/,
    );
  });

  it('gives no hint for a name unlike any known one, and lists the known names', () => {
    expect(() => assertKnownOptions('f', { zzzzzzzzzz: 1 }, known)).toThrow(
      /unknown option "zzzzzzzzzz"\. Known options: caFile/,
    );
  });

  it('takes no inherited property of the alias map for an alias, so toString is not answered with a function', () => {
    expect(() => assertKnownOptions('f', { toString: 1 }, known)).toThrow(
      'f: unknown option "toString". Known options: caFile, certFile, keyFile, timeoutMs.',
    );
    expect(() =>
      assertKnownOptions('f', { constructor: 1 }, known, { keyPath: 'keyFile' }),
    ).toThrow('f: unknown option "constructor". Known options:');
  });

  it('throws ERR_BULWARK_MQTT_UNKNOWN_OPTION and accepts known names', () => {
    expect(() => assertKnownOptions('f', { nope: 1 }, known)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_MQTT_UNKNOWN_OPTION' }),
    );
    expect(() => assertKnownOptions('f', { caFile: 'x', timeoutMs: 1 }, known)).not.toThrow();
  });
});

describe('readOptionFile and isSharedSecretFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-options-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file, or names the option, path and errno when it cannot', () => {
    const file = join(dir, 'secret');
    writeFileSync(file, 'pw\n', { mode: 0o600 });
    expect(readOptionFile('passwordFile', file).toString()).toBe('pw\n');
    const missing = join(dir, 'missing');
    expect(() => readOptionFile('caFile', missing)).toThrow(MqttConfigError);
    expect(() => readOptionFile('caFile', missing)).toThrow(
      `caFile: cannot read "${missing}" (ENOENT)`,
    );
    expect(() => readOptionFile('caFile', 42)).toThrow(/must be a file path/);
  });

  it('flags a secret file readable by group or others', () => {
    const file = join(dir, 'key');
    writeFileSync(file, 'k', { mode: 0o600 });
    chmodSync(file, 0o600);
    expect(isSharedSecretFile(file)).toBe(false);
    chmodSync(file, 0o640);
    expect(isSharedSecretFile(file)).toBe(true);
    expect(isSharedSecretFile(join(dir, 'missing'))).toBe(false);
  });
});
