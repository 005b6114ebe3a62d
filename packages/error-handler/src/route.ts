// The matched route pattern of a request, with its mount path, for logs and events.
import { IncomingMessage } from 'node:http';
import type { Request } from 'express';

// Shared by every copy of this package in the process (ESM and CommonJS builds side by side).
const ROUTE = Symbol.for('@bulwark/error-handler:route');
const MATCHED = Symbol.for('@bulwark/error-handler:matched-route');
const INSTALLED = Symbol.for('@bulwark/error-handler:route-accessor');

type Tracked = Request & { [ROUTE]?: unknown; [MATCHED]?: string | undefined; [INSTALLED]?: true };

// One getter and one setter for every request: V8 then gives tracked requests a single shape,
// where a pair of closures per request would turn each request object into a slow dictionary.
function getRoute(this: Tracked): unknown {
  return this[ROUTE];
}

function setRoute(this: Tracked, value: unknown): void {
  this[ROUTE] = value;
  const path = (value as { path?: unknown } | undefined)?.path;
  if (typeof path === 'string') this[MATCHED] = `${this.baseUrl ?? ''}${path}`;
}

const accessor: PropertyDescriptor = {
  configurable: true,
  enumerable: true,
  get: getRoute,
  set: setRoute,
};

/**
 * Puts the accessor on the request prototype Express shares between all its apps and sub-apps
 * (the one just above `http.IncomingMessage.prototype`), once, so tracking costs nothing per
 * request. Returns false when the request does not come from such a prototype chain.
 */
function installShared(req: Request): boolean {
  let proto: object | null = Object.getPrototypeOf(req);
  while (proto !== null && Object.getPrototypeOf(proto) !== IncomingMessage.prototype) {
    proto = Object.getPrototypeOf(proto);
  }
  if (proto === null || Object.hasOwn(proto, 'route')) return false;
  Object.defineProperty(proto, 'route', accessor);
  Object.defineProperty(proto, INSTALLED, { value: true });
  return true;
}

/**
 * Records the full route pattern (mount path included) when Express matches a route. Express
 * resets `req.baseUrl` when an error leaves a router, so reading it when the response finishes
 * would log `/fail` for `/customer/fail`. Express 4 and 5 both assign `req.route` on a match.
 */
export function trackRoute(req: Request): void {
  const tracked = req as Tracked;
  if (!Object.hasOwn(req, 'route')) {
    if (tracked[INSTALLED] === true || installShared(req)) return;
  } else if (Object.getOwnPropertyDescriptor(req, 'route')?.set) {
    return;
  }
  // A route already matched (tracking mounted on a route), or a request Express did not build.
  tracked[ROUTE] = req.route;
  tracked[MATCHED] = undefined;
  Object.defineProperty(req, 'route', accessor);
}

/** The matched route pattern, never the raw path. */
export function routeOf(req: Request): string | undefined {
  const matched = (req as Tracked)[MATCHED];
  if (matched !== undefined) return matched;
  const path = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof path !== 'string') return undefined;
  return `${req.baseUrl ?? ''}${path}`;
}
