// One pass over JSON text that measures depth, keys and array lengths and finds dangerous keys.

/** Limits for `scanJson`. */
export interface ScanLimits {
  maxDepth: number;
  maxKeys: number;
  maxArrayLength: number;
}

/** Why the text was refused, or `undefined` when it is within the limits. */
export type ScanProblem =
  | 'too_deep'
  | 'too_many_keys'
  | 'array_too_long'
  | 'forbidden_key'
  | 'duplicate_key'
  | 'number_too_large'
  | 'invalid';

interface Frame {
  array: boolean;
  /** Object: the next string is a key. */
  expectKey: boolean;
  keys: Set<string> | undefined;
  lastKey: string | undefined;
  /** This object is the value of a `constructor` key. */
  constructorValue: boolean;
  /** Array: elements so far, and whether the current one has started. */
  count: number;
  started: boolean;
}

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * Scans JSON text before it is parsed, so nesting that would exhaust the stack and documents
 * that would allocate too much are refused first. Keys `__proto__` and `constructor.prototype`
 * are refused because code that merges the parsed object into another one can be steered into
 * changing `Object.prototype`. Duplicate keys are refused because parsers disagree on which
 * value wins, and a check in one layer can then be bypassed in another. Numbers too large for
 * a double (`1e400`) are refused because `JSON.parse` turns them into `Infinity`.
 */
export function scanJson(text: string, limits: ScanLimits): ScanProblem | undefined {
  const stack: Frame[] = [];
  let keys = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (WHITESPACE.has(c)) continue;
    const top = stack[stack.length - 1];
    if (top?.array && !top.started && c !== 0x2c && c !== 0x5d) {
      top.started = true;
      top.count++;
      if (top.count > limits.maxArrayLength) return 'array_too_long';
    }
    switch (c) {
      case 0x7b: // {
      case 0x5b: {
        // [
        if (stack.length >= limits.maxDepth) return 'too_deep';
        const array = c === 0x5b;
        stack.push({
          array,
          expectKey: !array,
          keys: array ? undefined : new Set(),
          lastKey: undefined,
          constructorValue: top !== undefined && !top.array && top.lastKey === 'constructor',
          count: 0,
          started: false,
        });
        break;
      }
      case 0x7d: // }
      case 0x5d: // ]
        stack.pop();
        break;
      case 0x2c: // ,
        if (top?.array) top.started = false;
        else if (top) top.expectKey = true;
        break;
      case 0x22: {
        // "
        let end = i + 1;
        while (end < text.length) {
          const d = text.charCodeAt(end);
          if (d === 0x5c) end += 2;
          else if (d === 0x22) break;
          else end++;
        }
        if (end >= text.length) return 'invalid';
        if (top && !top.array && top.expectKey) {
          let key: unknown;
          try {
            key = JSON.parse(text.slice(i, end + 1));
          } catch {
            return 'invalid';
          }
          if (typeof key !== 'string') return 'invalid';
          if (key === '__proto__' || (top.constructorValue && key === 'prototype'))
            return 'forbidden_key';
          if (top.keys?.has(key)) return 'duplicate_key';
          top.keys?.add(key);
          top.lastKey = key;
          top.expectKey = false;
          keys++;
          if (keys > limits.maxKeys) return 'too_many_keys';
        }
        i = end;
        break;
      }
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
          // - or a digit: a number. One beyond the range of a double parses as Infinity, which a
          // schema only refuses where it says number or integer.
          let end = i + 1;
          let long = false;
          while (end < text.length) {
            const d = text.charCodeAt(end);
            if (d === 0x65 || d === 0x45) long = true;
            else if (!((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x2b || d === 0x2d)) break;
            end++;
          }
          if (long || end - i > 308) {
            const value = Number(text.slice(i, end));
            if (value === Number.POSITIVE_INFINITY || value === Number.NEGATIVE_INFINITY)
              return 'number_too_large';
          }
          i = end - 1;
        }
        break;
    }
  }
  return undefined;
}
