// Tests for the log timestamp: always the text of Date#toISOString, whatever order times come in.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isoNow, isoText } from './timestamp.js';

const iso = (time: number) => new Date(time).toISOString();

afterEach(() => {
  vi.useRealTimers();
});

describe('isoText', () => {
  it('is the text of toISOString across millisecond, second, minute, day, month and year boundaries', () => {
    const boundaries = [
      Date.UTC(2026, 0, 1, 12, 0, 0), // a second
      Date.UTC(2026, 0, 1, 12, 1, 0), // a minute
      Date.UTC(2026, 0, 1, 13, 0, 0), // an hour
      Date.UTC(2026, 0, 2), // a day
      Date.UTC(2026, 1, 1), // a month
      Date.UTC(2027, 0, 1), // a year
      Date.UTC(2024, 1, 29), // a leap day
      Date.UTC(2024, 2, 1), // the day after it
      0, // the epoch
    ];
    for (const boundary of boundaries) {
      for (let time = boundary - 1_005; time <= boundary + 1_005; time++) {
        expect(isoText(time), String(time)).toBe(iso(time));
      }
    }
  });

  it('is right when time goes back (a clock set back) and when it jumps between seconds', () => {
    const base = Date.UTC(2026, 5, 30, 23, 59, 59, 998);
    const times = [base, base + 1, base + 2, base + 3, base - 1, base + 2, base, base + 1_000];
    for (let i = 0; i < 2_000; i++) times.push(base + ((i * 7_919) % 5_000) - 2_500);
    for (const time of times) expect(isoText(time), String(time)).toBe(iso(time));
  });

  it('gives the same string within a millisecond, and the next one after it', () => {
    const time = Date.UTC(2026, 3, 4, 5, 6, 7, 8);
    const first = isoText(time);
    expect(isoText(time)).toBe(first);
    expect(first).toBe('2026-04-04T05:06:07.008Z');
    expect(isoText(time + 1)).toBe('2026-04-04T05:06:07.009Z');
    expect(isoText(time + 992)).toBe('2026-04-04T05:06:08.000Z');
  });

  it('is right before 1970, where a second starts before its milliseconds count down', () => {
    for (let time = -2_005; time <= 5; time++) expect(isoText(time), String(time)).toBe(iso(time));
    const old = Date.UTC(1912, 5, 23, 0, 0, 0, 0);
    for (let time = old - 1_001; time <= old + 1_001; time++) expect(isoText(time)).toBe(iso(time));
  });

  it('writes years past 9999 and before 0 as toISOString does, and refuses what it refuses', () => {
    const max = 8.64e15;
    for (const time of [
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
      Date.UTC(9999, 11, 31, 23, 59, 59, 999) + 1,
      -62_167_219_200_001, // the last millisecond of year -1
      -62_167_219_200_000, // year 0
      max,
      max - 1,
      -max,
      -max + 1,
    ]) {
      expect(isoText(time), String(time)).toBe(iso(time));
    }
    for (const time of [max + 1, -max - 1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => isoText(time), String(time)).toThrow(RangeError);
    }
  });

  it('takes a fractional time as Date does', () => {
    for (const time of [1_700_000_000_000.4, 1_700_000_000_000.9, -0.5, -1.5]) {
      expect(isoText(time), String(time)).toBe(iso(time));
    }
    expect(isoText(-0)).toBe(iso(-0));
  });
});

describe('isoNow', () => {
  it('is the current time as toISOString writes it, also across a second boundary', () => {
    vi.useFakeTimers();
    const start = Date.UTC(2026, 11, 31, 23, 59, 59, 997);
    vi.setSystemTime(start);
    for (let step = 0; step < 6; step++) {
      expect(isoNow()).toBe(new Date().toISOString());
      vi.setSystemTime(start + step + 1);
    }
    expect(isoNow()).toBe('2027-01-01T00:00:00.003Z');
  });
});
