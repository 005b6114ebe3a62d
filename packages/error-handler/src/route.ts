// The matched route pattern of a request, with its mount path, for logs and events.
import type { Request } from 'express';

const matchedRoutes = new WeakMap<Request, string>();

/**
 * Records the full route pattern (mount path included) when Express matches a route. Express
 * resets `req.baseUrl` when an error leaves a router, so reading it when the response finishes
 * would log `/fail` for `/customer/fail`. Express 4 and 5 both assign `req.route` on a match.
 */
export function trackRoute(req: Request): void {
  if (Object.getOwnPropertyDescriptor(req, 'route')?.set) return;
  let route: unknown = req.route;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set: (value: unknown) => {
      route = value;
      const path = (value as { path?: unknown } | undefined)?.path;
      if (typeof path === 'string') matchedRoutes.set(req, `${req.baseUrl ?? ''}${path}`);
    },
  });
}

/** The matched route pattern, never the raw path. */
export function routeOf(req: Request): string | undefined {
  const tracked = matchedRoutes.get(req);
  if (tracked !== undefined) return tracked;
  const path = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof path !== 'string') return undefined;
  return `${req.baseUrl ?? ''}${path}`;
}
