// Finds whether SQL text holds more than one statement, skipping strings, identifiers and comments.

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
    const c = text[i]!;
    const next = text[i + 1];
    if (c === '-' && next === '-') {
      const end = text.indexOf('\n', i + 2);
      i = end === -1 ? n : end + 1;
      continue;
    }
    if (c === '/' && next === '*') {
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
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
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
