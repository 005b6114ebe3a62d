// Walks an Express 4 or 5 router: every route with the self-descriptions of what it runs.
import { DESCRIPTION_VERSION, type MiddlewareDescription } from './contract.js';
import { describe, isPlainObject, OpenApiConfigError } from './errors.js';
import {
  covers,
  joinVariants,
  mountFromRegExp,
  type PathVariant,
  pathVariants,
  ROOT,
  type Syntax,
} from './paths.js';

/** The parts of an Express 4 or 5 layer this walk reads. */
interface Layer {
  handle?: unknown;
  route?: RouteLike;
  name?: string;
  method?: string;
  /** Express 4. */
  regexp?: RegExp & { fast_slash?: boolean; fast_star?: boolean };
  keys?: { name: string | number; optional?: boolean }[];
  /** Express 5 (router 2.x). */
  matchers?: unknown[];
  slash?: boolean;
  /** Express 5 with router 2.3 or later. */
  rawPath?: unknown;
}

/** An Express route: `req.route` at request time, `layer.route` in a stack. */
export interface RouteLike {
  path: unknown;
  methods: Record<string, boolean | undefined>;
  stack: Layer[];
}

/** One operation found: a method on one path, and what runs before its handler. */
export interface FoundOperation {
  method: string;
  path: PathVariant;
  /** Descriptions of the middleware that runs for it, in order. */
  descriptions: MiddlewareDescription[];
}

export interface WalkResult {
  operations: FoundOperation[];
  /** Descriptions of error handlers: they apply to every operation. */
  errorHandlers: MiddlewareDescription[];
}

interface Applied {
  description: MiddlewareDescription;
  at: PathVariant[];
  exact: boolean;
}

const ROUTER_FIELDS = new Set(['version', 'kind', 'tags']);

/** `describeRoute()` before several routes may only tag them: the rest belongs to one route. */
function checkShared(description: MiddlewareDescription, at: PathVariant[]): void {
  if (description.kind !== 'route') return;
  const extra = Object.keys(description).find((key) => !ROUTER_FIELDS.has(key));
  if (extra === undefined) return;
  throw new OpenApiConfigError(
    'ERR_BULWARK_OPENAPI_ROUTER_DESCRIPTION',
    `openApiDocument: describeRoute() with ${describe(extra)} is mounted with use() or all() at ${describe(at[0]?.template ?? '/')}, where it would describe every route below it. Put it in the route itself (app.get(path, describeRoute({...}), handler)); use() takes describeRoute({ tags }) only.`,
  );
}

/** The description on a middleware, or undefined; a version this package does not know throws. */
export function descriptionOf(handle: unknown): MiddlewareDescription | undefined {
  if (typeof handle !== 'function') return undefined;
  const value = (handle as { openapi?: unknown }).openapi;
  if (!isPlainObject(value) || typeof value.kind !== 'string' || !('version' in value)) {
    return undefined;
  }
  if (value.version !== DESCRIPTION_VERSION) {
    throw new OpenApiConfigError(
      'ERR_BULWARK_OPENAPI_DESCRIPTION_VERSION',
      `openApiDocument: the middleware ${describe(handle)} describes itself with version ${describe(value.version)} of the contract, and this @bulwark/openapi reads version ${DESCRIPTION_VERSION}. Update @bulwark/openapi to the release that matches your other @bulwark packages.`,
    );
  }
  return value as unknown as MiddlewareDescription;
}

/** The layer stack of an app or a router, and the path syntax it uses. */
export function stackOf(target: unknown): { stack: Layer[]; syntax: Syntax } {
  const app = target as {
    _router?: { stack?: unknown };
    lazyrouter?: unknown;
    router?: { stack?: unknown };
    stack?: unknown;
  } | null;
  let stack: unknown;
  if (typeof app === 'function' || (typeof app === 'object' && app !== null)) {
    if (Array.isArray(app.stack)) stack = app.stack;
    else if (typeof app.lazyrouter === 'function') stack = app._router?.stack ?? [];
    else if (typeof app.router === 'function' || typeof app.router === 'object') {
      stack = app.router?.stack;
    }
  }
  if (!Array.isArray(stack)) {
    throw new OpenApiConfigError(
      'ERR_BULWARK_OPENAPI_NOT_AN_APP',
      `openApiDocument: ${describe(target)} is not an Express app or router. Pass the app returned by express() after its routes are added, or an express.Router().`,
    );
  }
  const layers = stack as Layer[];
  const syntax = syntaxOf(layers) ?? (typeof app?.lazyrouter === 'function' ? 4 : 5);
  return { stack: layers, syntax };
}

function syntaxOf(stack: Layer[]): Syntax | undefined {
  for (const layer of stack) {
    if (layer.regexp instanceof RegExp) return 4;
    if (Array.isArray(layer.matchers)) return 5;
  }
  return undefined;
}

function isRouter(handle: unknown): handle is { stack: Layer[] } {
  return typeof handle === 'function' && Array.isArray((handle as { stack?: unknown }).stack);
}

/** The paths a `use` layer is mounted at, relative to its stack. */
function mountOf(layer: Layer, syntax: Syntax): PathVariant[] {
  if (syntax === 4) {
    if (!(layer.regexp instanceof RegExp)) return [ROOT];
    return mountFromRegExp(layer.regexp, layer.keys ?? []);
  }
  if (layer.rawPath !== undefined) return pathVariants(layer.rawPath, 5);
  if (layer.slash === true) return [ROOT];
  throw new OpenApiConfigError(
    'ERR_BULWARK_OPENAPI_MOUNT_PATH',
    'openApiDocument: a router or described middleware is mounted at a path this version of the router package does not keep (it keeps it from router 2.3.0, which Express 5 installs). Update it with `npm update router`, or mount the router without a path.',
  );
}

function excluded(path: PathVariant, exclude: readonly PathVariant[]): boolean {
  return exclude.some((prefix) => covers(prefix, path));
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * Every operation of an app or router, with the descriptions of the middleware that runs before
 * its handler: `use` layers earlier in the same or an enclosing stack whose path covers the route,
 * `app.all()` routes on the same path, and the route's own stack for that method.
 */
export function walk(target: unknown, exclude: readonly PathVariant[] = []): WalkResult {
  const { stack, syntax } = stackOf(target);
  const operations: FoundOperation[] = [];
  const errorHandlers: MiddlewareDescription[] = [];

  const visit = (layers: Layer[], bases: PathVariant[], inherited: Applied[]) => {
    const local: Applied[] = [];
    for (const layer of layers) {
      const route = layer.route;
      if (route && Array.isArray(route.stack)) {
        const paths = pathVariants(route.path, syntax).flatMap((path) =>
          bases.map((base) => joinVariants(base, path)),
        );
        const methods = Object.keys(route.methods).filter(
          (m) => route.methods[m] === true && m !== '_all',
        );
        const shared = route.stack.filter((l) => l.method === undefined || l.method === '_all');
        if (methods.length === 0) {
          // `app.all(path, ...)`: its middleware runs before later routes on the same path.
          for (const l of shared) {
            const description = descriptionOf(l.handle);
            if (!description) continue;
            checkShared(description, paths);
            local.push({ description, at: paths, exact: true });
          }
          continue;
        }
        for (const method of methods) {
          if (method === 'head' && methods.includes('get')) continue;
          if (!METHODS.includes(method)) continue;
          const own = route.stack
            .filter((l) => l.method === method || l.method === undefined || l.method === '_all')
            .map((l) => descriptionOf(l.handle))
            .filter((d): d is MiddlewareDescription => d !== undefined);
          for (const path of paths) {
            if (excluded(path, exclude)) continue;
            const before = [...inherited, ...local]
              .filter((a) => a.at.some((at) => covers(at, path, a.exact)))
              .map((a) => a.description);
            operations.push({ method, path, descriptions: [...before, ...own] });
          }
        }
        continue;
      }
      const handle = layer.handle;
      if (isRouter(handle)) {
        const mounts = mountOf(layer, syntax).flatMap((mount) =>
          bases.map((base) => joinVariants(base, mount)),
        );
        const inside = mounts.filter((m) => !excluded(m, exclude));
        if (inside.length > 0) visit(handle.stack, inside, [...inherited, ...local]);
        continue;
      }
      if (typeof handle === 'function' && handle.name === 'mounted_app') {
        const mounts = mountOf(layer, syntax).flatMap((mount) =>
          bases.map((base) => joinVariants(base, mount)),
        );
        const open = mounts.find((m) => !excluded(m, exclude));
        if (open) {
          throw new OpenApiConfigError(
            'ERR_BULWARK_OPENAPI_SUB_APP',
            `openApiDocument: an Express app is mounted at ${describe(open.template)}, and a mounted app's routes cannot be read from its parent. Mount an express.Router() there instead, or list ${describe(open.template)} in the exclude option.`,
          );
        }
        continue;
      }
      const description = descriptionOf(handle);
      if (!description) continue;
      if (description.kind === 'error-handler') {
        errorHandlers.push(description);
        continue;
      }
      const at = mountOf(layer, syntax).flatMap((mount) =>
        bases.map((base) => joinVariants(base, mount)),
      );
      checkShared(description, at);
      local.push({ description, at, exact: false });
    }
  };
  visit(stack, [ROOT], []);
  return { operations, errorHandlers };
}

export { METHODS };
