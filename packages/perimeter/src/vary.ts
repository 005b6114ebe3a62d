// Vary merging with a bounded memo: a response's Vary is one of a few values the app's own
// middleware sets, so each merge is worked out once per distinct value and then looked up.
import type { OutgoingHttpHeader } from 'node:http';
import { BoundedMemo } from './memo.js';

/** Distinct Vary values kept per merge: apps set a handful; more only costs a recomputation. */
export const VARY_MEMO_LIMIT = 64;
/** Longer Vary values are merged without being kept. */
export const VARY_MEMO_KEY_LENGTH = 1024;

/**
 * The field names of a Vary value split on commas, with spaces (only spaces, not tabs) trimmed at
 * both ends of each: the reading of the `vary` package that Express's `res.vary()` uses.
 */
function varyTokens(value: string): string[] {
  const tokens: string[] = [];
  let start = 0;
  let end = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2c) {
      tokens.push(value.slice(start, end));
      start = end = i + 1;
    } else if (c === 0x20) {
      if (start === end) start = end = i + 1;
    } else {
      end = i + 1;
    }
  }
  tokens.push(value.slice(start, end));
  return tokens;
}

/**
 * What `res.vary(field)` sets for a response whose Vary reads `header` (`''` when there is none):
 * `*` stays `*`, a value naming `*` becomes `*`, a field already named in any case is not added
 * again, else it is appended after `, `. `field` is one valid header name.
 */
export function appendVaryField(header: string, field: string): string {
  if (header === '*') return header;
  const present = varyTokens(header.toLowerCase());
  if (present.includes('*')) return '*';
  if (present.includes(field.toLowerCase())) return header;
  return header ? `${header}, ${field}` : field;
}

/**
 * The text `res.vary()` reads from the Vary header as `getHeader` returns it: arrays joined with
 * `, `, and any falsy value (none, `''`, `0`) read as no value.
 */
export function varyText(existing: OutgoingHttpHeader | undefined): string {
  if (!existing) return '';
  return Array.isArray(existing) ? existing.join(', ') : String(existing);
}

/**
 * A memoized `res.vary(field)` for one field: `(current Vary text) => new Vary value`, equal to
 * what Express's `res.vary(field)` computes, bounded by {@link VARY_MEMO_LIMIT}.
 */
export function varyAppender(field: string): BoundedMemo<string> {
  return new BoundedMemo(VARY_MEMO_LIMIT, VARY_MEMO_KEY_LENGTH, (header) =>
    appendVaryField(header, field),
  );
}
