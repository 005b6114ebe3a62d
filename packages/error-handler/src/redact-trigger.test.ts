// Tests for the pre-test in front of SHAPE_TRIGGER: it never passes over a string the pattern matches.
import { describe, expect, it } from 'vitest';
import { mayTrigger, redact, SHAPE_TRIGGER } from './redact.js';

/** Every string an alternative of SHAPE_TRIGGER stands for, character classes spelled out. */
function alternatives(): string[] {
  const out: string[] = [];
  for (const alternative of SHAPE_TRIGGER.source.split('|')) {
    const text = alternative.replace(/\\\//g, '/');
    const klass = /\[([^\]]+)\]/.exec(text);
    if (klass === null) out.push(text);
    else for (const char of klass[1]!) out.push(text.replace(klass[0], char));
  }
  return out;
}

/** A small deterministic random source, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

function mixedCase(text: string, next: () => number): string {
  return [...text].map((char) => (next() < 0.5 ? char.toUpperCase() : char.toLowerCase())).join('');
}

// Characters near the trigger's own, and ones whose case mapping reaches ASCII letters: the
// Kelvin sign (k), the long s (S), dotless i and dotted capital I.
const ALPHABET = [
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  ...'-:/_.= @?&#"\'\\\n\t\0',
  '\u212a',
  '\u017f',
  '\u0131',
  '\u0130',
  'é',
  'ß',
  '\u{1f600}',
];

/** The property the pre-test must have: false only where SHAPE_TRIGGER finds nothing. */
function expectSound(text: string): void {
  if (!mayTrigger(text)) expect(SHAPE_TRIGGER.test(text), JSON.stringify(text)).toBe(false);
}

describe('mayTrigger', () => {
  const all = alternatives();

  it('knows every alternative of the pattern, in any case', () => {
    expect(all.length).toBeGreaterThanOrEqual(32);
    const next = random(1);
    for (const alternative of all) {
      for (const text of [
        alternative,
        alternative.toLowerCase(),
        alternative.toUpperCase(),
        mixedCase(alternative, next),
        mixedCase(alternative, next),
      ]) {
        expect(SHAPE_TRIGGER.test(text), text).toBe(true);
        expect(mayTrigger(text), text).toBe(true);
      }
    }
  });

  it('finds an alternative wherever it sits, between any characters', () => {
    const next = random(2);
    const filler = (length: number) =>
      Array.from({ length }, () => ALPHABET[Math.floor(next() * ALPHABET.length)]).join('');
    for (const alternative of all) {
      for (const [before, after] of [
        ['', ''],
        ['/devices/', '/x'],
        ['\u212a\u0130', '\u017f'],
        [filler(7), filler(3)],
        [filler(300), filler(300)],
      ]) {
        const text = `${before}${mixedCase(alternative, next)}${after}`;
        expect(mayTrigger(text), text).toBe(true);
      }
    }
  });

  it('passes over the ids, times, addresses, numbers and paths of an access line', () => {
    for (const text of [
      'info',
      'warn',
      'error',
      'request',
      '2026-12-06T18:27:35.123Z',
      '4bc3e127-07d4-4846-a441-1d7ea9571ab1',
      '127.0.0.1',
      '::ffff:127.0.0.1',
      'fe80::1',
      '0.012345',
      'GET',
      'POST',
      '/devices/:id',
      '/devices/acme-sensor-1',
      'user-1',
      'acme',
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    ]) {
      expect(mayTrigger(text), text).toBe(false);
      expect(SHAPE_TRIGGER.test(text), text).toBe(false);
    }
  });

  it('never passes over a string the pattern matches (random strings)', () => {
    const next = random(3);
    for (let i = 0; i < 20_000; i++) {
      const length = Math.floor(next() * 40);
      let text = '';
      for (let j = 0; j < length; j++) text += ALPHABET[Math.floor(next() * ALPHABET.length)];
      expectSound(text);
    }
  });

  it('never passes over a string the pattern matches (alternatives cut, spliced and case-folded)', () => {
    const next = random(4);
    for (let i = 0; i < 20_000; i++) {
      const alternative = all[Math.floor(next() * all.length)]!;
      const a = Math.floor(next() * (alternative.length + 1));
      const b = Math.floor(next() * (alternative.length + 1));
      // A piece of one alternative, a character of the alphabet, a piece of another.
      const other = all[Math.floor(next() * all.length)]!;
      const text = mixedCase(
        `${alternative.slice(0, a)}${ALPHABET[Math.floor(next() * ALPHABET.length)]}${other.slice(b)}`,
        next,
      );
      expectSound(text);
    }
  });

  it('stays sound and linear on long hostile strings', () => {
    const hostile = [
      'a'.repeat(100_000),
      '-'.repeat(100_000),
      '----'.repeat(25_000),
      `${':'.repeat(50_000)}/`,
      `${'b'.repeat(50_000)}e`,
      'Bearer '.repeat(10_000),
      'eyJ'.repeat(30_000),
      `${'\u212a'.repeat(50_000)}ey`,
      '\u0130'.repeat(50_000),
      `${'0123456789abcdef-'.repeat(5_000)}xox`,
      `${'x'.repeat(99_999)}_`,
      'p\u0000w'.repeat(30_000),
    ];
    const started = performance.now();
    for (const text of hostile) expectSound(text);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(mayTrigger(`${'0'.repeat(100_000)}PW`)).toBe(true);
    expect(mayTrigger('0'.repeat(100_000))).toBe(false);
  });

  it('leaves redaction as it was: what is hidden is still hidden, what is kept is kept', () => {
    const cases: Array<[string, string]> = [
      ['Bearer abc.def', 'Bearer [REDACTED]'],
      ['BEARER abc', 'Bearer [REDACTED]'],
      ['password=hunter2', 'password=[REDACTED]'],
      ['PaSsWoRd=hunter2', 'PaSsWoRd=[REDACTED]'],
      ['postgres://app:s3cret@db/app', 'postgres://app:[REDACTED]@db/app'],
      ['token:abc123', 'token:[REDACTED]'],
      ['?code=xyz&state=1', '?code=[REDACTED]&state=1'],
      ['AKIAABCDEFGHIJKLMNOP', '[REDACTED]'],
      ['/devices/acme-sensor-1', '/devices/acme-sensor-1'],
      ['4bc3e127-07d4-4846-a441-1d7ea9571ab1', '4bc3e127-07d4-4846-a441-1d7ea9571ab1'],
      ['x-api-key: abc', 'x-api-key: [REDACTED]'],
      ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln', '[REDACTED]'],
      // The Kelvin sign is not a k to the pattern's i flag, before as after the pre-test.
      ['to\u212aen=abc', 'to\u212aen=abc'],
    ];
    for (const [input, output] of cases) expect(redact(input), input).toBe(output);
  });
});
