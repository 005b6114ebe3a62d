// The `sql` tagged template: values become bound parameters, never text spliced into SQL.
import { DbSafetyError } from './errors.js';

const SQL = Symbol.for('bulwark.db.sql');

/**
 * A parameterised query: `text` with `$1`, `$2`, ... placeholders and the `values` bound to them.
 * Pass it to `db.query()`, or straight to `pg` (`pool.query(q)`), which reads `text` and `values`.
 */
export interface SqlQuery {
  readonly text: string;
  readonly values: unknown[];
  /** @internal The text around each value, so a query can be embedded in another. */
  readonly [SQL]: readonly string[];
}

/** PostgreSQL cuts longer identifiers (NAMEDATALEN - 1) without an error. */
const MAX_IDENTIFIER_BYTES = 63;

const textCache = new WeakMap<TemplateStringsArray, string>();

function render(strings: readonly string[]): string {
  let text = strings[0]!;
  for (let i = 1; i < strings.length; i++) text += `$${i}${strings[i]}`;
  return text;
}

class Query implements SqlQuery {
  readonly text: string;
  readonly values: unknown[];
  readonly [SQL]: readonly string[];

  constructor(text: string, values: unknown[], strings: readonly string[]) {
    this.text = text;
    this.values = values;
    this[SQL] = strings;
  }
}

function make(strings: readonly string[], values: unknown[], text?: string): SqlQuery {
  return new Query(text ?? render(strings), values, strings);
}

/** True for a query made by `sql`, `sql.identifier`, `sql.join` or `sql.raw`. */
export function isSql(value: unknown): value is SqlQuery {
  return typeof value === 'object' && value !== null && SQL in value;
}

function checkValue(value: unknown, index: number): void {
  if (value === undefined) {
    throw new DbSafetyError(
      'ERR_BULWARK_DB_UNDEFINED_VALUE',
      `Value ${index + 1} in the sql template is undefined. Pass null for SQL NULL; undefined is usually a missing property.`,
    );
  }
}

/**
 * Builds a parameterised query. Every `${value}` becomes a bound parameter (`$n`); a nested
 * `sql` fragment is embedded as SQL and its own values are renumbered.
 *
 * @throws {DbSafetyError} `ERR_BULWARK_DB_UNSAFE_QUERY` when called as a function instead of a
 * tag, `ERR_BULWARK_DB_UNDEFINED_VALUE` when a value is `undefined`.
 * @example
 * const q = sql`SELECT * FROM device WHERE lower(mac) = lower(${mac}) AND port = ${port}`;
 * // q.text: 'SELECT * FROM device WHERE lower(mac) = lower($1) AND port = $2'
 */
function sqlTag(strings: TemplateStringsArray, ...args: unknown[]): SqlQuery {
  if (!Array.isArray(strings) || !Array.isArray((strings as { raw?: unknown }).raw)) {
    throw new DbSafetyError(
      'ERR_BULWARK_DB_UNSAFE_QUERY',
      'sql must be used as a tagged template (sql`SELECT ...`), not called with a string. Interpolate values into the template so they are bound as parameters.',
    );
  }
  let nested = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (isSql(arg)) nested = true;
    else checkValue(arg, i);
  }
  if (!nested) {
    let text = textCache.get(strings);
    if (text === undefined) {
      text = render(strings);
      textCache.set(strings, text);
    }
    return make(strings, args, text);
  }
  const parts: string[] = [strings[0]!];
  const values: unknown[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (isSql(arg)) {
      appendFragment(parts, values, arg);
      parts[parts.length - 1] += strings[i + 1]!;
    } else {
      values.push(arg);
      parts.push(strings[i + 1]!);
    }
  }
  return make(parts, values);
}

function appendFragment(parts: string[], values: unknown[], fragment: SqlQuery): void {
  const inner = fragment[SQL];
  parts[parts.length - 1] += inner[0]!;
  for (let j = 1; j < inner.length; j++) {
    values.push(fragment.values[j - 1]);
    parts.push(inner[j]!);
  }
}

/**
 * A quoted identifier (table, column, schema), for names chosen at run time from a list you
 * trust. `sql.identifier(['app', 'device'])` gives `"app"."device"`.
 *
 * @throws {DbSafetyError} `ERR_BULWARK_DB_INVALID_IDENTIFIER` for an empty name, a NUL byte, or
 * a name longer than PostgreSQL's 63 bytes (which it would silently cut).
 */
function identifier(name: string | readonly string[]): SqlQuery {
  const names = typeof name === 'string' ? [name] : name;
  if (!Array.isArray(names) || names.length === 0) {
    throw new DbSafetyError(
      'ERR_BULWARK_DB_INVALID_IDENTIFIER',
      'sql.identifier needs a name or a non-empty array of names, such as sql.identifier(["app", "device"]).',
    );
  }
  const quoted = names.map((part: unknown) => {
    if (typeof part !== 'string' || part.length === 0 || part.includes('\0')) {
      throw new DbSafetyError(
        'ERR_BULWARK_DB_INVALID_IDENTIFIER',
        'sql.identifier: each name must be a non-empty string without NUL bytes.',
      );
    }
    if (Buffer.byteLength(part) > MAX_IDENTIFIER_BYTES) {
      throw new DbSafetyError(
        'ERR_BULWARK_DB_INVALID_IDENTIFIER',
        `sql.identifier: a name of ${Buffer.byteLength(part)} bytes is longer than PostgreSQL's ${MAX_IDENTIFIER_BYTES}; it would be cut silently. Use a shorter name.`,
      );
    }
    return `"${part.replace(/"/g, '""')}"`;
  });
  return make([quoted.join('.')], []);
}

/**
 * Joins values and fragments with a separator fragment (`, ` by default): values become
 * parameters, fragments are embedded. `sql.join([1, 2, 3])` gives `$1, $2, $3`.
 *
 * @example
 * sql`SELECT * FROM device WHERE id IN (${sql.join(ids)})`
 */
function join(items: readonly unknown[], separator: SqlQuery = sqlTag`, `): SqlQuery {
  if (!Array.isArray(items)) {
    throw new DbSafetyError(
      'ERR_BULWARK_DB_UNSAFE_QUERY',
      'sql.join needs an array of values or fragments.',
    );
  }
  if (!isSql(separator)) {
    throw new DbSafetyError(
      'ERR_BULWARK_DB_UNSAFE_QUERY',
      'sql.join: the separator must be an sql fragment, such as sql` AND `, not a string.',
    );
  }
  const parts: string[] = [''];
  const values: unknown[] = [];
  items.forEach((item: unknown, index: number) => {
    if (index > 0) appendFragment(parts, values, separator);
    if (isSql(item)) appendFragment(parts, values, item);
    else {
      checkValue(item, index);
      values.push(item);
      parts.push('');
    }
  });
  return make(parts, values);
}

/**
 * Embeds `text` as SQL, unescaped. Only for constants written in your code (a sort direction
 * picked from a fixed map, a fixed operator), never for anything that came from a request.
 *
 * @throws {DbSafetyError} `ERR_BULWARK_DB_UNSAFE_QUERY` when `text` is not a string.
 */
function raw(text: string): SqlQuery {
  if (typeof text !== 'string') {
    throw new DbSafetyError('ERR_BULWARK_DB_UNSAFE_QUERY', 'sql.raw needs a string constant.');
  }
  return make([text], []);
}

/** The `sql` tag, with `sql.identifier`, `sql.join` and `sql.raw`. */
export const sql: typeof sqlTag & {
  identifier: typeof identifier;
  join: typeof join;
  raw: typeof raw;
} = Object.assign(sqlTag, { identifier, join, raw });
