// Tests for the exponential-backtracking check on schema patterns.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { regexRisk } from './regex-risk.js';
import { validate } from './validate.js';

describe('regexRisk', () => {
  it('refuses the shapes that backtrack exponentially', () => {
    for (const pattern of [
      '^(a+)+$',
      '^(a*)*$',
      '^(?:a+)+$',
      '^(\\w+\\s?)*$',
      '^(.+\\.)+$',
      '^(a+a)+$',
      '^(a|a)*$',
      '^(\\w|_)+$',
      '^([a-z]|[0-9])+$',
      '^((ab)*c*)+$',
      '^(a+){2,}$',
      '^(x)\\1$',
    ]) {
      expect(regexRisk(pattern), pattern).toBeDefined();
    }
  });

  it('accepts common linear patterns', () => {
    for (const pattern of [
      '^[a-zA-Z0-9_]{3,50}$',
      '^(\\d+\\.){3}\\d+$',
      '^(foo|bar)+$',
      '^[a-z]+(-[a-z]+)*$',
      '^(?:[0-9a-f]{2}:){5}[0-9a-f]{2}$',
      '^a*b*c*$',
      '^(ab)?c$',
      '^\\p{L}+$',
      '^[\\]\\\\]+$',
    ]) {
      expect(regexRisk(pattern), pattern).toBeUndefined();
    }
  });

  it('refuses an optional part followed by one that can match the same character (regression: `?` was not counted as repetition)', () => {
    for (const pattern of [
      '^(a?a)+$',
      '^(?:(?:a?)a)+$',
      '^(ab?b?)+$',
      '^(?:[ab]?[a-z])+$',
      '^(?:a{0,2}a){20}$',
      '^(?:x(?:a|a))+$',
    ]) {
      expect(regexRisk(pattern), pattern).toMatch(/repeated group/);
    }
  });

  it('refuses a counted or open repetition of something that can match nothing', () => {
    for (const pattern of ['^(?:a?){30}a{30}$', '^(a?)+$', '^(?:a*b?){2,5}$', '^(?:\\d?){8}$']) {
      expect(regexRisk(pattern), pattern).toMatch(/can match the empty string/);
    }
  });

  it('compares characters with the pattern’s own flags (regression: `i` was ignored)', () => {
    expect(regexRisk('^(?:[a-z]+A)+$', 'i')).toBeDefined();
    expect(regexRisk('^(?:[a-z]+A)+$', '')).toBeUndefined();
    expect(regexRisk('^(?:a|A)+[a-z]?$', 'iu')).toBeDefined();
    expect(regexRisk('^(?:-?.)+A$', 'iu')).toBeDefined();
    expect(regexRisk('^(?:[ab]{2,}[a-z]A)+$', 'iu')).toBeDefined();
    // Under `iu`, the long s and the Kelvin sign fold to s and k.
    expect(regexRisk('^(?:s|\u017f)+$', 'iu')).toBeDefined();
    expect(regexRisk('^(?:k|\u212a)+$', 'iu')).toBeDefined();
    // `.` matches a line break only with `s`.
    expect(regexRisk('^(?:.?\n)+$', 'u')).toBeUndefined();
    expect(regexRisk('^(?:.?\n)+$', 'su')).toBeDefined();
  });

  it('accepts the patterns the README and the example app use', () => {
    for (const pattern of [
      '^[A-Z_]{1,32}$',
      '^[a-z_]{1,32}$',
      '^[a-z][a-z0-9_-]*(:[a-z][a-z0-9_.-]*)+$',
      '^[a-z0-9]+(-[a-z0-9]+)*$',
      '^[a-zA-Z0-9_]+$',
      '^(?:[a-z0-9]+(?:-[a-z0-9]+)*\\.)+[a-z]{2,}$',
      '^(?:\\d{1,3}\\.){3}\\d{1,3}$',
      '^(?:\\w+ )*\\w+$',
      '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$',
      '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$',
    ]) {
      expect(regexRisk(pattern), pattern).toBeUndefined();
      expect(regexRisk(pattern, 'iu'), pattern).toBeUndefined();
    }
  });
});

// Every code point outside the surrogates, in order; surrogates are tried one by one, since with
// `u` a high surrogate followed by a low one would read as a single character.
let everyCharacter: string | undefined;
function allCharacters(): string {
  if (everyCharacter === undefined) {
    const parts: string[] = [];
    for (let start = 0; start < 0x110000; start += 0x1000) {
      const codes: number[] = [];
      for (let code = start; code < start + 0x1000; code++) {
        if (code < 0xd800 || code > 0xdfff) codes.push(code);
      }
      parts.push(String.fromCodePoint(...codes));
    }
    everyCharacter = parts.join('');
  }
  return everyCharacter;
}

/** Whether some character matches both atoms, asked of the engine one whole alphabet at a time. */
function shareACharacter(a: string, b: string, flags: string): boolean {
  if (new RegExp(`(?=(?:${a}))(?:${b})`, flags).test(allCharacters())) return true;
  const left = new RegExp(`^(?:${a})$`, flags);
  const right = new RegExp(`^(?:${b})$`, flags);
  for (let code = 0xd800; code <= 0xdfff; code++) {
    const char = String.fromCharCode(code);
    if (left.test(char) && right.test(char)) return true;
  }
  return false;
}

// Atoms from many scripts and planes, with pairs that meet only under case folding (ẞ and ß,
// the Kelvin sign and k, Armenian, Adlam and Deseret capitals and small letters).
const ATOMS = [
  'a',
  'k',
  'ß',
  '\u1e9e',
  '\u212a',
  '\u{1f600}',
  '-',
  '\\d',
  '\\w',
  '\\W',
  '\\s',
  '.',
  '[^a-z]',
  '[\\u0531-\\u0556]',
  '[\\u0561-\\u0586]',
  '\\p{Script=Armenian}',
  '\\p{Script=Georgian}',
  '\\p{Script=Adlam}',
  '\\p{L}',
  '\\p{Lu}',
  '\\p{Ll}',
  '\\p{N}',
  '\\p{Nd}',
  '\\p{Sc}',
  '\\P{L}',
  '\\p{Emoji}',
  '[\\u{1e900}-\\u{1e91f}]',
  '[\\u{1e922}-\\u{1e943}]',
  '\\u{10400}',
  '\\u{10428}',
];

describe('regexRisk compares characters exactly', () => {
  it('refuses a repeated Armenian letter followed by any letters (regression: classes were compared on sample characters, none of them Armenian)', () => {
    const risk = regexRisk('^(?:\\p{Script=Armenian}\\p{L}*)+$');
    expect(risk).toContain('\\p{Script=Armenian}');
    expect(risk).toContain('\\p{L}');
    // The character the message names is one both parts match.
    expect(risk).toContain('U+0531 "Ա"');
    expect(/^\p{Script=Armenian}$/u.test('Ա') && /^\p{L}$/u.test('Ա')).toBe(true);
    for (const pattern of [
      '^(?:\\p{Script=Georgian}\\p{L}*)+$',
      '^(?:\\p{Script=Adlam}+\\p{Lu})+$',
      '^(?:[\\u{1e922}-\\u{1e943}]\\p{Lu}*)+$',
      '^(?:\\p{Sc}|\\p{S})+$',
      '^(?:\\u{10428}|\\u{10400})+$',
    ]) {
      expect(regexRisk(pattern, 'iu'), pattern).toBeDefined();
    }
  });

  it('accepts safe real-world patterns: slugs, emails, UUIDs, ISO dates and Unicode names', () => {
    for (const pattern of [
      '^[a-z0-9]+(?:-[a-z0-9]+)*$',
      '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$',
      '^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)+$',
      '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$',
      '^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$',
      '^\\d{4}-\\d{2}-\\d{2}$',
      '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,9})?(?:Z|[+-]\\d{2}:\\d{2})$',
      '^\\p{L}[\\p{L}\\p{N} ]*$',
      '^\\p{Lu}\\p{Ll}*(?:[ -]\\p{Lu}\\p{Ll}*)*$',
      '^(?:\\p{Script=Armenian}+ )*\\p{Script=Armenian}+$',
      '^(?:\\p{Script=Adlam}+-)*\\p{Script=Adlam}+$',
      '^\\+?[1-9]\\d{1,14}$',
    ]) {
      expect(regexRisk(pattern), pattern).toBeUndefined();
      expect(regexRisk(pattern, 'iu'), pattern).toBeUndefined();
    }
  });

  it('refuses (?:A B*)+ and (?:A+ B)+ exactly when A and B share a character, the case that backtracks exponentially (property)', () => {
    // With a shared character c, c repeated n times splits into passes in 2^(n-1) ways; with
    // none, each character says where a pass starts and matching is linear. Refusing a linear
    // pattern here, or accepting an exponential one, fails this test.
    fc.assert(
      fc.property(
        fc.constantFrom(...ATOMS),
        fc.constantFrom(...ATOMS),
        fc.constantFrom('u', 'iu'),
        (a, b, flags) => {
          const shared = shareACharacter(a, b, flags);
          for (const pattern of [`^(?:${a}${b}*)+$`, `^(?:${a}+${b})+$`]) {
            expect(regexRisk(pattern, flags) !== undefined, `${pattern} /${flags}`).toBe(shared);
          }
        },
      ),
      { numRuns: 60 },
    );
    // The pairs that meet only under case folding, every time.
    for (const [a, b] of [
      ['ß', '\u1e9e'],
      ['k', '\u212a'],
      ['[\\u0531-\\u0556]', '[\\u0561-\\u0586]'],
      ['[\\u{1e900}-\\u{1e91f}]', '[\\u{1e922}-\\u{1e943}]'],
      ['\\u{10400}', '\\u{10428}'],
    ] as const) {
      expect(regexRisk(`^(?:${a}${b}*)+$`, 'u'), `${a} ${b}`).toBeUndefined();
      expect(regexRisk(`^(?:${a}${b}*)+$`, 'iu'), `${a} ${b}`).toBeDefined();
    }
  });

  it('reads the characters of an escape as the engine does (regression: `\\01` was read as NUL then 1, and an escaped surrogate pair as two characters)', () => {
    // Without `u`, \01 is U+0001, the character \x01 matches.
    expect(regexRisk('^(?:\\01\\x01*)+$', '')).toContain('U+0001');
    // With `u`, \uD83D\uDE00 is U+1F600; a literal emoji is one character too.
    expect(regexRisk('^(?:\\uD83D\\uDE00\\u{1f600}*)+$', 'u')).toContain('U+1F600');
    expect(regexRisk('^(?:\u{1f600}\\p{Emoji}*)+$', 'u')).toContain('U+1F600');
    expect(regexRisk('^(?:\u{1f600}-)+$', 'u')).toBeUndefined();
  });

  it('counts a class of strings it cannot list as matching any character, and says so', () => {
    const risk = regexRisk('^(?:[\\q{ab}]x*)+$', 'v');
    expect(risk).toContain('[\\q{ab}]');
    expect(risk).toContain('cannot list the characters');
  });
});

describe('validate and the exact comparison', () => {
  it('refuses an Armenian pattern at construction, naming both parts and the fix (regression: it passed as safe)', () => {
    const untyped = validate as (schemas: object) => unknown;
    const body = (pattern: string) => ({
      body: { type: 'object', properties: { name: { type: 'string', pattern, maxLength: 64 } } },
    });
    expect(() => untyped(body('^(?:\\p{Script=Armenian}\\p{L}*)+$'))).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_VALIDATORS_INSECURE_SCHEMA',
        message: expect.stringMatching(
          /#\/properties\/name\/pattern .*\\p\{Script=Armenian\} is also matched by \\p\{L\}, for example U\+0531 .*pass a linear-time engine/,
        ),
      }),
    );
    expect(() => untyped(body('^\\p{L}[\\p{L}\\p{N} ]*$'))).not.toThrow();
  });
});
