// Reads SQL text for what the db helpers refuse: a second statement, or a SET/RESET that outlives the request.

const identifierChar = /[A-Za-z0-9_$\u0080-\uffff]/;
const dollarTag = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/**
 * True when `text` has a statement after a `;` that is outside string literals, quoted
 * identifiers, dollar-quoted bodies and comments. A single trailing `;` is allowed.
 */
export function hasMultipleStatements(text: string): boolean {
  let sawTerminator = false;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const blank = skipBlank(text, i);
    if (blank !== i) {
      i = blank;
      continue;
    }
    const c = text[i]!;
    if (c === ';') {
      sawTerminator = true;
      i++;
      continue;
    }
    if (sawTerminator) return true;
    if (c === "'") {
      const previous = text[i - 1];
      const escapes =
        (previous === 'E' || previous === 'e') && !identifierChar.test(text[i - 2] ?? ' ');
      i = skipQuoted(text, i + 1, "'", escapes);
      continue;
    }
    if (c === '"') {
      i = skipQuoted(text, i + 1, '"', false);
      continue;
    }
    if (c === '$' && !identifierChar.test(text[i - 1] ?? ' ')) {
      const tag = dollarTag.exec(text.slice(i, i + 64));
      if (tag) {
        const end = text.indexOf(tag[0], i + tag[0].length);
        i = end === -1 ? n : end + tag[0].length;
        continue;
      }
    }
    i++;
  }
  return false;
}

/** Index just past the closing quote; a doubled quote is an escaped quote. */
function skipQuoted(text: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start;
  while (i < text.length) {
    const c = text[i];
    if (backslashEscapes && c === '\\') {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (text[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return text.length;
}

/** Index of the first character from `start` that is neither whitespace nor inside a comment. */
function skipBlank(text: string, start: number): number {
  let i = start;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '-' && text[i + 1] === '-') {
      const end = text.indexOf('\n', i + 2);
      i = end === -1 ? n : end + 1;
    } else if (c === '/' && text[i + 1] === '*') {
      // Block comments nest in PostgreSQL.
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (text[i] === '/' && text[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (text[i] === '*' && text[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
    } else if (/\s/.test(c)) i++;
    else return i;
  }
  return n;
}

/** The unquoted word at `start`, lower-cased ('' when there is none), and the index after it. */
function wordAt(text: string, start: number): [string, number] {
  let i = start;
  if (!/[A-Za-z_]/.test(text[i] ?? '')) return ['', i];
  while (i < text.length && identifierChar.test(text[i]!)) i++;
  return [text.slice(start, i).toLowerCase(), i];
}

// SET LOCAL, SET TRANSACTION and SET CONSTRAINTS end with the transaction.
const TRANSACTION_SCOPED = new Set(['local', 'transaction', 'constraints']);

/**
 * `'SET'` or `'RESET'` when `text` is a statement that changes the session (a `SET` other than
 * `SET LOCAL`, `SET TRANSACTION` or `SET CONSTRAINTS`, or any `RESET`), undefined otherwise. Only
 * the leading keywords are read: `set_config(name, value, false)` or a function that sets a value
 * is not seen.
 */
export function sessionSetting(text: string): 'SET' | 'RESET' | undefined {
  const start = skipBlank(text, 0);
  const first = text[start];
  if (first !== 's' && first !== 'S' && first !== 'r' && first !== 'R') return undefined;
  const [command, end] = wordAt(text, start);
  if (command === 'reset') return 'RESET';
  if (command !== 'set') return undefined;
  const [scope] = wordAt(text, skipBlank(text, end));
  return TRANSACTION_SCOPED.has(scope) ? undefined : 'SET';
}
