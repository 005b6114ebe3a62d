// Finds routes and middleware mounted after errorHandler(), whose errors would bypass it.
import { ErrorHandlerConfigError } from './config.js';

// Shared by the ESM and CommonJS builds, so either build's errorHandler() is recognised.
const ERROR_HANDLER = Symbol.for('@bulwark/error-handler:error-handler');

interface Layer {
  handle?: unknown;
  name?: unknown;
  route?: { path?: unknown; methods?: Record<string, unknown> } | undefined;
  rawPath?: unknown;
}

type Stack = readonly Layer[];

/** Marks the function errorHandler() returns, so the mount check can find its layer. */
export function markErrorHandler<T extends object>(handler: T): T {
  Object.defineProperty(handler, ERROR_HANDLER, { value: true });
  return handler;
}

function isErrorHandler(handle: unknown): boolean {
  return (
    typeof handle === 'function' && (handle as { [ERROR_HANDLER]?: true })[ERROR_HANDLER] === true
  );
}

function stackOf(handle: unknown): Stack | undefined {
  const stack = (handle as { stack?: unknown } | null | undefined)?.stack;
  return Array.isArray(stack) ? (stack as Stack) : undefined;
}

/** The router stack of an Express 4 (`app._router`) or Express 5 (`app.router`) app. */
function appStack(app: unknown): Stack | undefined {
  if (typeof app !== 'function' && (typeof app !== 'object' || app === null)) return undefined;
  try {
    const legacy = (app as { _router?: unknown })._router;
    if (legacy !== undefined) return stackOf(legacy);
    // Express 4 throws on reading app.router; by the first request it always has _router.
    return stackOf((app as { router?: unknown }).router);
  } catch {
    return undefined;
  }
}

function containsErrorHandler(stack: Stack, depth: number): boolean {
  for (const layer of stack) {
    if (isErrorHandler(layer.handle)) return true;
    const inner = stackOf(layer.handle);
    if (inner !== undefined && depth < 8 && containsErrorHandler(inner, depth + 1)) return true;
  }
  return false;
}

const clip = (text: string) => (text.length > 80 ? `${text.slice(0, 80)}…` : text);

/** A layer as the app's author knows it: `the route GET /devices/:id`, `the middleware audit()`. */
function describeLayer(layer: Layer): string {
  const route = layer.route;
  if (route !== undefined && route !== null) {
    const methods = Object.keys(route.methods ?? {})
      .filter((method) => method !== '_all' && route.methods?.[method])
      .map((method) => method.toUpperCase());
    const path = typeof route.path === 'string' ? route.path : String(route.path);
    return `the route ${methods.length > 0 ? `${methods.join(', ')} ` : ''}${clip(path)}`;
  }
  const at =
    typeof layer.rawPath === 'string' && layer.rawPath !== '/'
      ? ` mounted at ${clip(layer.rawPath)}`
      : '';
  if (stackOf(layer.handle) !== undefined) return `a router${at}`;
  if (layer.name === 'mounted_app') return `a sub-app${at}`;
  const named = typeof layer.name === 'string' && layer.name !== '' && layer.name !== '<anonymous>';
  return `${named ? `the middleware ${clip(layer.name as string)}()` : 'a middleware'}${at}`;
}

interface Found {
  layer: Layer;
  /** The router the layer is in, when it is not the app's own stack. */
  router?: Layer;
}

// Error middleware known to pass every error on: it does not answer for the layers before it.
const PASS_THROUGH = new Set(['dbErrors']);

/** Whether errors leaving a point in a stack reach errorHandler(), or another error handler. */
interface Cover {
  errorHandler: boolean;
  /** An error middleware of the app's own follows, which may answer: the app is left alone. */
  other: boolean;
}

/**
 * The first layer, in mount order, whose errors reach neither errorHandler() nor another error
 * handler: they leave the stack and reach Express's own handler. A layer inside a router is
 * covered by what follows it in the router or after the router.
 */
function firstUncovered(stack: Stack, cover: Cover, depth: number): Found | undefined {
  let found: Found | undefined;
  let after = cover;
  for (let i = stack.length - 1; i >= 0; i--) {
    const layer = stack[i]!;
    const handle = layer.handle;
    if (isErrorHandler(handle)) {
      after = { errorHandler: true, other: after.other };
      continue;
    }
    // Express runs a four-parameter function only for errors.
    if (typeof handle === 'function' && handle.length === 4) {
      if (!PASS_THROUGH.has(handle.name)) after = { errorHandler: after.errorHandler, other: true };
      continue;
    }
    const inner = stackOf(handle);
    if (inner !== undefined && depth < 8) {
      const nested = firstUncovered(inner, after, depth + 1);
      if (nested !== undefined) found = { layer: nested.layer, router: nested.router ?? layer };
    } else if (!after.errorHandler && !after.other) {
      found = { layer };
    }
  }
  return found;
}

function describeFound({ layer, router }: Found): string {
  const what = describeLayer(layer);
  if (router === undefined || what.startsWith('a router')) return what;
  return `${what} in ${describeLayer(router)}`;
}

// Per router stack: the length it had when checked, and what was found then. A stack that
// grows (a route added after the first request) is checked again.
const checked = new WeakMap<
  Stack,
  { length: number; error: ErrorHandlerConfigError | undefined }
>();

/**
 * The configuration error for an app whose errorHandler() is followed by routes or middleware,
 * or `undefined` when every layer is covered (or the app does not use errorHandler()).
 * Cheap once a stack has been checked: a lookup and a length comparison.
 */
export function mountOrderError(app: unknown): ErrorHandlerConfigError | undefined {
  const stack = appStack(app);
  if (stack === undefined) return undefined;
  const known = checked.get(stack);
  if (known !== undefined && known.length === stack.length) return known.error;
  let error: ErrorHandlerConfigError | undefined;
  if (containsErrorHandler(stack, 0)) {
    const found = firstUncovered(stack, { errorHandler: false, other: false }, 0);
    if (found !== undefined) {
      error = new ErrorHandlerConfigError(
        'ERR_BULWARK_ERRORS_HANDLER_NOT_LAST',
        `errorHandler() is mounted before ${describeFound(found)}: errors from there would skip it and reach Express's default handler, which answers with an HTML page (showing the stack outside production) and prints the error unredacted. Every request is refused until the order is fixed. Mount the routes first, then notFound(), then errorHandler() last.`,
      );
    }
  }
  checked.set(stack, { length: stack.length, error });
  return error;
}
