// A route described once: mounted on a router with its guards, its description first, so the
// OpenAPI document and the response checks come from the route itself.

import { describeRoute, type JsonSchema, type RouteResponse } from '@bulwark/openapi';
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
  /**
   * Status, description, media type (default `application/json`) and body schema of a successful
   * answer; a JSON answer always has a schema, checked by `validateResponses()` in development and tests.
   */
  success: { status: number; description: string; type?: string; schema?: JsonSchema };
  /** Errors the handler itself answers; its middleware documents the others (401, 403, 422, 429, ...). */
  errors?: (404 | 409)[];
  handler: (req: Request, res: Response) => Promise<void>;
}

const ERROR_TEXT = {
  404: 'Not found in your tenant',
  409: 'Conflicts with an existing resource or state',
} as const;

/** The responses `describeRoute()` declares for a route: its success and the errors its handler answers. */
export function routeResponses(route: RouteSpec): Record<number, RouteResponse> {
  const { status, description, type, schema } = route.success;
  const responses: Record<number, RouteResponse> = {
    [status]: {
      description,
      ...(schema === undefined ? {} : { schema }),
      ...(type === undefined ? {} : { contentType: type }),
    },
  };
  for (const error of route.errors ?? []) {
    responses[error] = { description: ERROR_TEXT[error] };
  }
  return responses;
}

/** Mounts each route as: description, permission, extra middleware, validate, paginate, handler. */
export function mountRoutes(router: Router, routes: RouteSpec[]): void {
  for (const route of routes) {
    const chain: RequestHandler[] = [
      describeRoute({ summary: route.summary, responses: routeResponses(route) }),
      requirePermission(route.permission),
      ...(route.before ?? []),
    ];
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
