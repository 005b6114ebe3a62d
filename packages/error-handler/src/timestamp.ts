// The timestamp of log lines: the text of `new Date().toISOString()`, made without a Date per line.

// `new Date(t).toISOString()` costs far more than the lines of a busy server can afford, one per
// millisecond. Every ISO text ends in `.sssZ`, and what comes before the milliseconds changes
// once a second: that part is made by toISOString() once per second, the milliseconds come from
// a table. Lines written within one millisecond share one string. Two numbers and three strings
// are kept, plus the table of 1000 suffixes.
const SUFFIXES: readonly string[] = Array.from(
  { length: 1000 },
  (_, ms) => `${String(ms).padStart(3, '0')}Z`,
);

// The largest distance from the epoch a Date can hold, in milliseconds.
const MAX_TIME = 8.64e15;

let stampAt = Number.NaN;
let stamp = '';
let secondAt = Number.NaN;
// `2026-01-01T12:00:00.`: the ISO text of the second, up to and with the dot.
let secondPrefix = '';

/**
 * The ISO 8601 text of the time `now` (milliseconds since the epoch), always the same string as
 * `new Date(now).toISOString()`.
 */
export function isoText(now: number): string {
  if (now === stampAt) return stamp;
  // Fractions and times outside the range of Date take Date's own path (and its RangeError).
  if (!Number.isInteger(now) || now > MAX_TIME || now < -MAX_TIME) {
    return new Date(now).toISOString();
  }
  // Floor, not truncation: before 1970 the second still starts at or before `now`.
  const second = Math.floor(now / 1000) * 1000;
  if (second !== secondAt) {
    const iso = new Date(second).toISOString();
    secondPrefix = iso.slice(0, -4);
    secondAt = second;
  }
  stampAt = now;
  stamp = secondPrefix + SUFFIXES[now - second]!;
  return stamp;
}

/** The current time in ISO 8601, the same text as `new Date().toISOString()`. */
export function isoNow(): string {
  return isoText(Date.now());
}
