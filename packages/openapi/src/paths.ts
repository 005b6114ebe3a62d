// Express route and mount paths (Express 4 and 5 syntax) as OpenAPI path templates.
import { describe, OpenApiConfigError } from './errors.js';

/** A path parameter of a template. */
export interface PathParam {
  name: string;
  /** A regular expression the value must match (Express 4 `:id(\\d+)`). */
  pattern?: string;
  /** Matches several segments (`*splat`, Express 4 `*`). */
  wildcard: boolean;
}

/** One concrete path an Express path stands for: an optional part gives two. */
export interface PathVariant {
  /** The OpenAPI template, e.g. `/devices/{id}`. */
  template: string;
  params: PathParam[];
}

type Token =
  | { type: 'text'; value: string }
  | { type: 'param'; name: string; pattern?: string; wildcard: boolean }
  | { type: 'optional'; tokens: Token[] };

/** Which path syntax an app uses: Express 4's path-to-regexp 0.1 or Express 5's 8.x. */
export type Syntax = 4 | 5;

function unsupported(path: string, why: string): OpenApiConfigError {
  return new OpenApiConfigError(
    'ERR_BULWARK_OPENAPI_ROUTE_PATH',
    `openApiDocument: the path ${describe(path)} ${why}, which an OpenAPI path template cannot say. Write the route with literal segments and named parameters (/devices/:id), or list its prefix in the exclude option.`,
  );
}

// An identifier as path-to-regexp 8 reads one; U+200C and U+200D may continue it.
const NAME_5 = /^[$_\p{ID_Start}](?:[$\p{ID_Continue}]|\u200c|\u200d)*/u;

/** Express 5 (path-to-regexp 8): `:name`, `*name`, `{optional}` groups and `\` escapes. */
function parse5(path: string): Token[] {
  let i = 0;
  const name = (): string => {
    if (path[i] === '"') {
      let out = '';
      i++;
      while (i < path.length && path[i] !== '"') {
        if (path[i] === '\\') i++;
        out += path[i] ?? '';
        i++;
      }
      if (path[i] !== '"') throw unsupported(path, 'has an unclosed quoted parameter name');
      i++;
      return out;
    }
    const match = NAME_5.exec(path.slice(i));
    if (!match) throw unsupported(path, `has a parameter without a name at index ${i}`);
    i += match[0].length;
    return match[0];
  };
  const sequence = (inGroup: boolean): Token[] => {
    const tokens: Token[] = [];
    let text = '';
    const flush = () => {
      if (text !== '') tokens.push({ type: 'text', value: text });
      text = '';
    };
    while (i < path.length) {
      const c = path[i] as string;
      if (c === '\\') {
        text += path[i + 1] ?? '';
        i += 2;
      } else if (c === '{') {
        flush();
        i++;
        tokens.push({ type: 'optional', tokens: sequence(true) });
      } else if (c === '}') {
        if (!inGroup) throw unsupported(path, 'closes a group it never opened');
        i++;
        flush();
        return tokens;
      } else if (c === ':' || c === '*') {
        flush();
        i++;
        tokens.push({ type: 'param', name: name(), wildcard: c === '*' });
      } else {
        text += c;
        i++;
      }
    }
    if (inGroup) throw unsupported(path, 'leaves a group open');
    flush();
    return tokens;
  };
  return sequence(false);
}

const WORD = /\w/;
const META_4 = new Set(['(', ')', '[', ']', '?', '+', '|', '^', '$', '{', '}']);

/** Express 4 (path-to-regexp 0.1): `:name`, `:name?`, `:name(regex)`, `*` and `\` escapes. */
function parse4(path: string): Token[] {
  const tokens: Token[] = [];
  let text = '';
  let unnamed = 0;
  const flush = () => {
    if (text !== '') tokens.push({ type: 'text', value: text });
    text = '';
  };
  let i = 0;
  while (i < path.length) {
    const c = path[i] as string;
    if (c === '\\') {
      text += path[i + 1] ?? '';
      i += 2;
    } else if (c === ':' && WORD.test(path[i + 1] ?? '')) {
      i++;
      let name = '';
      while (i < path.length && WORD.test(path[i] as string)) name += path[i++];
      let pattern: string | undefined;
      if (path[i] === '(') {
        const close = path.indexOf(')', i);
        if (close === -1) throw unsupported(path, 'leaves a parameter pattern open');
        pattern = path.slice(i + 1, close);
        i = close + 1;
      }
      if (path[i] === '*') throw unsupported(path, `repeats the parameter :${name} with *`);
      const optional = path[i] === '?';
      if (optional) i++;
      // The slash or dot before an optional parameter is optional with it.
      let prefix = '';
      if (optional && (text.endsWith('/') || text.endsWith('.'))) {
        prefix = text.slice(-1);
        text = text.slice(0, -1);
      }
      flush();
      const param: Token = {
        type: 'param',
        name,
        wildcard: false,
        ...(pattern ? { pattern } : {}),
      };
      if (optional) {
        tokens.push({
          type: 'optional',
          tokens: prefix ? [{ type: 'text', value: prefix }, param] : [param],
        });
      } else {
        tokens.push(param);
      }
    } else if (c === '*') {
      flush();
      tokens.push({ type: 'param', name: String(unnamed++), wildcard: true });
      i++;
    } else if (META_4.has(c)) {
      throw unsupported(path, `uses the regular-expression character ${describe(c)}`);
    } else {
      text += c;
      i++;
    }
  }
  flush();
  return tokens;
}

function expand(tokens: Token[]): Token[][] {
  let variants: Token[][] = [[]];
  for (const token of tokens) {
    if (token.type === 'optional') {
      const inner = expand(token.tokens);
      variants = variants.flatMap((v) => [v, ...inner.map((i) => [...v, ...i])]);
    } else {
      variants = variants.map((v) => [...v, token]);
    }
  }
  return variants;
}

function toVariant(path: string, tokens: Token[]): PathVariant {
  let template = '';
  const params: PathParam[] = [];
  for (const token of tokens) {
    if (token.type === 'text') {
      if (/[{}?#]/.test(token.value)) {
        throw unsupported(path, `has ${describe(token.value)} with {, }, ? or # in a literal part`);
      }
      template += token.value;
    } else if (token.type === 'param') {
      if (/[{}/]/.test(token.name) || token.name === '') {
        throw unsupported(path, `names a parameter ${describe(token.name)}`);
      }
      if (params.some((p) => p.name === token.name)) {
        throw unsupported(path, `names the parameter ${describe(token.name)} twice`);
      }
      template += `{${token.name}}`;
      params.push({
        name: token.name,
        wildcard: token.wildcard,
        ...(token.pattern ? { pattern: token.pattern } : {}),
      });
    }
  }
  return { template, params };
}

/** Every OpenAPI template an Express route path stands for. */
export function pathVariants(path: unknown, syntax: Syntax): PathVariant[] {
  if (Array.isArray(path)) return path.flatMap((p) => pathVariants(p, syntax));
  if (typeof path !== 'string') {
    throw new OpenApiConfigError(
      'ERR_BULWARK_OPENAPI_ROUTE_PATH',
      `openApiDocument: a route's path is ${describe(path)}, not a string, so it has no OpenAPI path template. Give the route a string path such as '/devices/:id', or list its prefix in the exclude option.`,
    );
  }
  const tokens = syntax === 5 ? parse5(path) : parse4(path);
  return expand(tokens).map((variant) => toVariant(path, variant));
}

/** `base` + `path` as Express joins a mount path and a route path. */
export function joinVariants(base: PathVariant, path: PathVariant): PathVariant {
  const head = base.template.replace(/\/+$/, '');
  let tail = path.template;
  if (tail === '' || tail === '/') tail = head === '' ? '/' : '';
  else if (!tail.startsWith('/')) tail = `/${tail}`;
  const template = `${head}${tail}` || '/';
  const params = [...base.params];
  for (const param of path.params) {
    if (params.some((p) => p.name === param.name)) {
      throw unsupported(
        template.replace(/\{([^}]+)\}/g, ':$1'),
        `names the parameter ${describe(param.name)} in both the mount path and the route`,
      );
    }
    params.push(param);
  }
  return { template, params };
}

export const ROOT: PathVariant = { template: '/', params: [] };

function segments(template: string): string[] {
  return template.split('/').filter((s) => s !== '');
}

/**
 * Whether middleware mounted at `mount` runs for a request to `route`: every segment of the mount
 * path matches the route's (a parameter matches anything). `exact` for `app.all()` routes.
 */
export function covers(mount: PathVariant, route: PathVariant, exact = false): boolean {
  const m = segments(mount.template);
  const r = segments(route.template);
  if (m.length > r.length || (exact && m.length !== r.length)) return false;
  if (m.length > 0 && mount.params.some((p) => p.wildcard)) return true;
  return m.every((s, i) => s === r[i] || s.includes('{') || (r[i] as string).includes('{'));
}

/** Express 4 keeps a mount path only as a regular expression: read it back into tokens. */
export function mountFromRegExp(
  regexp: RegExp & { fast_slash?: boolean },
  keys: readonly { name: string | number; optional?: boolean }[],
): PathVariant[] {
  if (regexp.fast_slash) return [ROOT];
  const source = regexp.source;
  const bad = () =>
    new OpenApiConfigError(
      'ERR_BULWARK_OPENAPI_MOUNT_PATH',
      `openApiDocument: a router is mounted at ${String(regexp)}, which cannot be read back as a path. Mount it at a string path with literal segments and named parameters, such as app.use('/devices/:id', router).`,
    );
  let body = source;
  if (!body.startsWith('^')) throw bad();
  body = body.slice(1);
  const end = /(?:\\\/\?)?\(\?=\\\/\|\$\)$/.exec(body);
  if (!end) throw bad();
  body = body.slice(0, end.index);
  const tokens: Token[] = [];
  let text = '';
  let key = 0;
  const flush = () => {
    if (text !== '') tokens.push({ type: 'text', value: text });
    text = '';
  };
  const params = /^\(\?:(\\\/|\\\.)\((\[\^\\?\/(?:\\\.)?\]\+\?)\)\)(\?)?/;
  let i = 0;
  while (i < body.length) {
    const rest = body.slice(i);
    const param = params.exec(rest);
    if (param) {
      const k = keys[key++];
      if (!k) throw bad();
      flush();
      const inner: Token[] = [
        { type: 'text', value: param[1] === '\\/' ? '/' : '.' },
        { type: 'param', name: String(k.name), wildcard: false },
      ];
      if (param[3] === '?') tokens.push({ type: 'optional', tokens: inner });
      else tokens.push(...inner);
      i += param[0].length;
    } else if (rest.startsWith('(.*)')) {
      const k = keys[key++];
      if (!k) throw bad();
      flush();
      tokens.push({ type: 'param', name: String(k.name), wildcard: true });
      i += 4;
    } else if (rest[0] === '\\') {
      text += rest[1] ?? '';
      i += 2;
    } else if (/[A-Za-z0-9\-_~%@!,;=:'&]/.test(rest[0] as string)) {
      text += rest[0];
      i++;
    } else {
      throw bad();
    }
  }
  flush();
  const path = String(regexp);
  return expand(tokens).map((variant) => toVariant(path, variant));
}
