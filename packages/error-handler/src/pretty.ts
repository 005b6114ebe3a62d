// The human-readable log line of createLogger({ format: 'pretty' }), rendered from a redacted entry.

// Characters that could move the cursor, fake a new line, recolour the terminal or reorder text
// on screen: C0 and C1 controls, DEL, the Unicode line and paragraph separators, bidi controls.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const PLAIN = /^[^\s"'=\\\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+$/;

const escapeChar = (char: string) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** `text` with every unsafe character written as a `\uXXXX` escape. */
function escapeUnsafe(text: string): string {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(text) ? text.replace(UNSAFE, escapeChar) : text;
}

const COLOURS: Readonly<Record<string, string>> = {
  error: '31',
  warn: '33',
  info: '32',
  http: '35',
  verbose: '36',
  debug: '34',
  silly: '90',
};

interface Paint {
  level(level: string, text: string): string;
  dim(text: string): string;
}

const PLAIN_PAINT: Paint = { level: (_level, text) => text, dim: (text) => text };
const ANSI_PAINT: Paint = {
  level: (level, text) => `\u001b[${COLOURS[level] ?? '0'}m${text}\u001b[0m`,
  dim: (text) => `\u001b[2m${text}\u001b[0m`,
};

/** One value after `key=`: bare when it has no space, quote or control character, else JSON. */
function valueText(value: unknown): string {
  if (typeof value === 'string')
    return PLAIN.test(value) ? value : escapeUnsafe(JSON.stringify(value));
  if (value === null || typeof value !== 'object') return String(value);
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    json = undefined;
  }
  return escapeUnsafe(json ?? String(value));
}

function isErrorRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    (typeof (value as { stack?: unknown }).stack === 'string' ||
      (typeof (value as { name?: unknown }).name === 'string' &&
        typeof (value as { message?: unknown }).message === 'string'))
  );
}

/** Lines of text, each escaped, for a block under the entry; never a line of its own. */
function textLines(text: string): string[] {
  return text.split(/\r?\n/).map(escapeUnsafe);
}

const ERROR_OWN = new Set(['name', 'message', 'stack', 'cause']);

/** An error record (as redaction writes it) as indented lines: its stack, fields, then causes. */
function errorBlock(
  label: string,
  record: Record<string, unknown>,
  indent: string,
  paint: Paint,
  depth: number,
): string[] {
  const head =
    typeof record.stack === 'string' && record.stack !== ''
      ? record.stack
      : `${String(record.name ?? 'Error')}: ${String(record.message ?? '')}`;
  const [first = '', ...rest] = textLines(head);
  const lines = [`${indent}${paint.dim(`${label}:`)} ${first}`];
  for (const line of rest) lines.push(`${indent}  ${line.trimStart()}`);
  const fields = Object.keys(record)
    .filter((key) => !ERROR_OWN.has(key))
    .map((key) => `${paint.dim(`${escapeUnsafe(key)}=`)}${valueText(record[key])}`);
  if (fields.length > 0) lines.push(`${indent}  ${fields.join(' ')}`);
  const cause = record.cause;
  if (cause !== undefined && depth < 5) {
    if (isErrorRecord(cause))
      lines.push(...errorBlock('caused by', cause, `${indent}  `, paint, depth + 1));
    else lines.push(`${indent}  ${paint.dim('caused by:')} ${valueText(cause)}`);
  }
  return lines;
}

/** A timestamp as its time of day (`12:04:31.123`) when it is ISO-8601, else as written. */
function timeOf(stamp: unknown): string | undefined {
  if (typeof stamp !== 'string') return undefined;
  const match = /^\d{4}-\d{2}-\d{2}T(\d{2}:\d{2}:\d{2}(?:\.\d+)?)/.exec(stamp);
  return match ? match[1] : escapeUnsafe(stamp);
}

// Shown last: long, and the same on every line of a request.
const TRAILING = ['trace_id', 'client_request_id'];

/**
 * Renders one redacted log entry for a terminal:
 * `12:04:31.123 WARN  request  method=GET route=/devices/:id status=404 code=not_found  trace_id=…`.
 * Errors (anything with a stack) follow on indented lines with their fields and causes. A message
 * of several lines continues on indented lines, and every control character is escaped, so no
 * value can forge an entry of its own or restyle the terminal.
 */
export function formatPretty(entry: Record<string, unknown>, colours: boolean): string {
  const paint = colours ? ANSI_PAINT : PLAIN_PAINT;
  const level = typeof entry.level === 'string' ? entry.level : 'info';
  const head: string[] = [];
  const time = timeOf(entry.timestamp);
  if (time !== undefined) head.push(paint.dim(time));
  head.push(paint.level(level, escapeUnsafe(level.toUpperCase()).padEnd(5)));
  const message = entry.message;
  const [first = '', ...more] =
    typeof message === 'string' ? textLines(message) : [valueText(message)];
  head.push(first);

  const fields: string[] = [];
  const trailing: string[] = [];
  const blocks: string[] = [];
  for (const key of Object.keys(entry)) {
    if (key === 'level' || key === 'timestamp' || key === 'message') continue;
    const value = entry[key];
    if (value === undefined) continue;
    if (isErrorRecord(value)) {
      blocks.push(...errorBlock(escapeUnsafe(key), value, '    ', paint, 0));
      continue;
    }
    const pair = `${paint.dim(`${escapeUnsafe(key)}=`)}${valueText(value)}`;
    (TRAILING.includes(key) ? trailing : fields).push(pair);
  }
  let line = head.join(' ');
  if (fields.length > 0) line += `  ${fields.join(' ')}`;
  if (trailing.length > 0) line += `  ${trailing.join(' ')}`;
  const out = [line];
  for (const text of more) out.push(`    ${text}`);
  out.push(...blocks);
  return out.join('\n');
}
