// A route described once: mounted on a router with its guards and used for the OpenAPI document.

import { requirePermission } from '@bulwark/rbac';
import { paginate, type RequestSchemas, validate } from '@bulwark/validators';
import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** Formats the app adds to `@bulwark/validators`: `timestamp` is an ISO 8601 date-time with a zone. */
export const APP_FORMATS = {
  timestamp: (value: string) => TIMESTAMP.test(value) && !Number.isNaN(Date.parse(value)),
};

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteSpec {
  method: Method;
  /** Express path, relative to the router (`/devices/:id`). */
  path: string;
  summary: string;
  /** The permission the caller must hold. */
  permission: string;
  schemas: RequestSchemas;
  /** Read `limit`/`offset` through `paginate` with this cap. */
  page?: { maxLimit: number; defaultLimit?: number };
  /** Middleware between the permission check and validation (e.g. a rate limit). */
  before?: RequestHandler[];
  /** Status and media type of a successful answer. */
  success: { status: number; description: string; type?: string };
  /** Error statuses this route adds to the common ones. */
  errors?: number[];
  handler: (req: Request, res: Response) => Promise<void>;
}

/** Mounts each route as: permission, extra middleware, validate, paginate, handler. */
export function mountRoutes(router: Router, routes: RouteSpec[]): void {
  for (const route of routes) {
    const chain: RequestHandler[] = [requirePermission(route.permission), ...(route.before ?? [])];
    chain.push(validate(route.schemas, { formats: APP_FORMATS }));
    if (route.page) chain.push(paginate({ ...route.page, overLimit: 'cap' }));
    chain.push(function handle(req: Request, res: Response, next: NextFunction) {
      route.handler(req, res).catch(next);
    });
    router[route.method](route.path, ...chain);
  }
}

/** The validated part of a request, typed by the caller. */
export function valid<T>(req: Request, location: 'body' | 'query' | 'params'): T {
  return (req.valid?.[location] ?? {}) as T;
}
