// The matched route pattern of a request, with its mount path, for logs and events.
import { IncomingMessage } from 'node:http';
import type { Request } from 'express';
import { requestSlot } from '../../../internal/request-slot.js';

// Shared by every copy of this package in the process (ESM and CommonJS builds side by side):
// the keys, and the WeakMaps that hold the values where adding a property is slow.
const INSTALLED = Symbol.for('@bulwark/error-handler:route-tracking');
const ENTRIES = Symbol.for('@bulwark/error-handler:route-entries');
const registry = globalThis as { [ENTRIES]?: WeakMap<object, unknown>[] };
registry[ENTRIES] ??= [new WeakMap(), new WeakMap(), new WeakMap(), new WeakMap()];
const [routeEntries, baseEntries, previousEntries, ownEntries] = registry[ENTRIES];

/** The value Express assigned to `req.route`. */
const routeSlot = requestSlot<unknown>(
  Symbol.for('@bulwark/error-handler:route-value'),
  routeEntries,
);
/** The mount path (`req.baseUrl`) when the current route matched, kept only when not empty. */
const baseSlot = requestSlot<string>(
  Symbol.for('@bulwark/error-handler:route-base'),
  baseEntries as WeakMap<object, string>,
);
/** The full pattern of the last route with a string path, kept when a later match has none. */
const previousSlot = requestSlot<string>(
  Symbol.for('@bulwark/error-handler:route-previous'),
  previousEntries as WeakMap<object, string>,
);
/** On a request tracked through an accessor of its own (not built by Express). */
const ownSlot = requestSlot<true>(
  Symbol.for('@bulwark/error-handler:route-tracking-own'),
  ownEntries as WeakMap<object, true>,
);

type Tracked = Request & { [INSTALLED]?: true };

const pathOf = (route: unknown): unknown => (route as { path?: unknown } | undefined)?.path;

// One getter and one setter for every request: V8 then gives tracked requests a single shape,
// where a pair of closures per request would turn each request object into a slow dictionary.
// The setter adds as little as it can to the request: every property added to Express's
// request object costs, and in an app without routers or sub-apps the mount path stays empty.
function getRoute(this: Tracked): unknown {
  return routeSlot.get(this);
}

function setRoute(this: Tracked, value: unknown): void {
  const previous = routeSlot.get(this);
  routeSlot.set(this, value);
  if (typeof pathOf(value) === 'string') {
    const base = this.baseUrl;
    if (base || baseSlot.get(this) !== undefined) baseSlot.set(this, base);
  } else {
    const path = pathOf(previous);
    if (typeof path === 'string') previousSlot.set(this, `${baseSlot.get(this) ?? ''}${path}`);
  }
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
 * Records the mount path of the route Express matches. Express resets `req.baseUrl` when an
 * error leaves a router, so reading it when the response finishes would log `/fail` for
 * `/customer/fail`. Express 4 and 5 both assign `req.route` on a match.
 */
export function trackRoute(req: Request): void {
  const tracked = req as Tracked;
  if (!Object.hasOwn(req, 'route')) {
    if (tracked[INSTALLED] === true || installShared(req)) return;
  } else if (Object.getOwnPropertyDescriptor(req, 'route')?.set) {
    return;
  }
  // A route already matched (tracking mounted on a route), or a request Express did not build.
  const route = req.route;
  routeSlot.set(req, route);
  ownSlot.set(req, true);
  if (typeof pathOf(route) === 'string' && req.baseUrl) baseSlot.set(req, req.baseUrl);
  Object.defineProperty(req, 'route', accessor);
}

/** The matched route pattern with its mount path, never the raw path. */
export function routeOf(req: Request): string | undefined {
  const tracked = req as Tracked;
  const path = pathOf(req.route);
  if (typeof path !== 'string') return previousSlot.get(req);
  const base =
    tracked[INSTALLED] === true || ownSlot.get(req) === true ? baseSlot.get(req) : req.baseUrl;
  return `${base ?? ''}${path}`;
}
