// Permission matching with wildcard grants, and the guards that enforce permissions and scope.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import {
  forbidden,
  permissionsUnavailable,
  RbacConfigError,
  show,
  unauthorized,
} from './errors.js';
import {
  channels,
  getState,
  pathOf,
  type RequestState,
  traceIdOf,
  warnThrottled,
} from './events.js';
import { permissionDescription, scopeDescription, withOpenApi } from './openapi.js';
import type { AuthContext } from './types.js';

const PERMISSION = /^[a-z][a-z0-9_-]*(?::[a-z][a-z0-9_.-]*)+$/;
const GRANT = /^(?:\*|[a-z][a-z0-9_-]*(?::[a-z][a-z0-9_.-]*)*(?::\*)?)$/;

/** True when `name` is a valid permission to require, such as `devices:write`. */
export function isPermission(name: unknown): name is string {
  return typeof name === 'string' && name.length <= 200 && PERMISSION.test(name);
}

/** True when `name` is a valid grant: a permission, `resource:*` or `*`. */
export function isGrant(name: unknown): name is string {
  return typeof name === 'string' && name.length <= 200 && GRANT.test(name);
}

/** A frozen grant list, indexed: exact grants to look up, `*`, and the `prefix:*` wildcards. */
interface GrantIndex {
  exact: ReadonlySet<string>;
  any: boolean;
  wildcards: readonly string[];
}

// Only frozen lists are memoised: a mutable list can change after it was seen (a revoke done in
// place), and an index built from it then would keep answering for grants it no longer holds.
const indexes = new WeakMap<readonly string[], GrantIndex>();
// The list indexed last, and its index: the requests of one client, and every client whose grants
// the permission store hands out as the same frozen list, check the same list again and again.
let lastGrants: readonly string[] | undefined;
let lastIndex: GrantIndex | undefined;

function indexOf(grants: readonly string[]): GrantIndex {
  let index = indexes.get(grants);
  if (!index) {
    index = {
      exact: new Set(grants),
      any: grants.includes('*'),
      wildcards: grants.filter((grant) => typeof grant === 'string' && grant.endsWith(':*')),
    };
    indexes.set(grants, index);
  }
  lastGrants = grants;
  lastIndex = index;
  return index;
}

/** `grant` is `<prefix>:*` and `permission` starts with `<prefix>:`, compared without slicing. */
function wildcardCovers(grant: string, permission: string): boolean {
  // A list handed to permits() directly may hold anything; only strings can grant.
  if (typeof grant !== 'string') return false;
  const n = grant.length - 1;
  if (n < 2 || grant.charCodeAt(n) !== 42 || grant.charCodeAt(n - 1) !== 58) return false;
  if (permission.length < n) return false;
  for (let i = 0; i < n; i++) if (grant.charCodeAt(i) !== permission.charCodeAt(i)) return false;
  return true;
}

/** The index of a frozen list; `undefined` for a list that may still change. */
function frozenIndex(grants: readonly string[]): GrantIndex | undefined {
  return Object.isFrozen(grants) ? indexOf(grants) : undefined;
}

/**
 * True when `grants` allow `permission`: an exact grant, `*`, or a wildcard on any prefix
 * (`devices:*` allows `devices:write` and `devices:firmware:write`). A frozen list is indexed
 * once and remembered; any other list is read as it is now, on every call.
 */
export function permits(grants: readonly string[], permission: string): boolean {
  // A list indexed before was frozen then, and a frozen list stays frozen and unchanged.
  const index = grants === lastGrants ? lastIndex! : frozenIndex(grants);
  if (index === undefined) {
    for (const grant of grants) {
      if (grant === permission || grant === '*' || wildcardCovers(grant, permission)) return true;
    }
    return false;
  }
  if (index.any || index.exact.has(permission)) return true;
  for (const grant of index.wildcards) if (wildcardCovers(grant, permission)) return true;
  return false;
}

/**
 * True when the authenticated caller holds `permission`; false when permissions are unknown.
 * With `authenticate({ permissions: store })`, grants are loaded by the first permission guard
 * of the request, so before one has run this answers false (fail closed): call
 * `await loadPermissions(req)` first in a handler that has no guard.
 *
 * @example
 * app.get('/devices/:id', requirePermission('devices:read'), (req, res) => {
 *   const canEdit = hasPermission(req.auth, 'devices:write');
 * });
 */
export function hasPermission(auth: AuthContext | undefined, permission: string): boolean {
  return !!auth?.permissions && permits(auth.permissions, permission);
}

const NO_STATE: RequestState = { exposeMissing: false };
const BEARER_CHALLENGE = 'Bearer';

function checkPermissionList(where: string, perms: unknown[]): string[] {
  if (perms.length === 0) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_PERMISSION',
      `${where}: no permission given. Name at least one, such as ${where}('devices:write').`,
    );
  }
  for (const p of perms) {
    if (!isPermission(p)) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_PERMISSION',
        `${where}: ${show(p)} is not a valid permission. Use lowercase \`resource:action\`, such as 'devices:write'; wildcards are for grants, not requirements.`,
      );
    }
  }
  return perms as string[];
}

function deny(
  req: Request,
  state: RequestState,
  auth: AuthContext,
  reason: 'permission' | 'scope',
  required: readonly string[],
  missing: readonly string[],
): ReturnType<typeof forbidden> {
  const event = {
    reason,
    subject: auth.subject,
    tenantId: auth.tenantId,
    via: auth.via,
    required: [...required],
    missing: [...missing],
    method: req.method,
    path: pathOf(req),
    traceId: traceIdOf(req),
  };
  if (channels.denied.hasSubscribers) channels.denied.publish(event);
  state.logger?.info('permission denied', { code: 'forbidden', ...event });
  state.audit?.record({
    action: 'AUTHORIZE',
    resourceType: 'request',
    resourceId: `${req.method} ${event.path}`,
    actor: auth.subject,
    tenantId: auth.tenantId,
    status: 'denied',
    details: { reason, required: event.required, missing: event.missing, via: auth.via },
    traceId: event.traceId,
  });
  return forbidden(state.exposeMissing ? missing : undefined);
}

async function grantsOf(auth: AuthContext, state: RequestState): Promise<readonly string[] | null> {
  if (auth.permissions) return auth.permissions;
  if (!state.loadPermissions) return null;
  const loaded = await state.loadPermissions(auth);
  // The store hands out frozen lists it caches, which stay memoised; a custom source's list is
  // copied, so changing it later cannot change this request's answer, nor the next one's.
  auth.permissions = Object.isFrozen(loaded) ? loaded : Object.freeze([...loaded]);
  return auth.permissions;
}

/** Warns that the permission store failed and returns the 503 to answer with. */
function storeFailed(state: RequestState, auth: AuthContext, err: unknown) {
  warnThrottled(
    state.logger,
    'ERR_BULWARK_RBAC_STORE',
    'permissions could not be loaded; answering 503',
    {
      error: err instanceof Error ? err.message : String(err),
      subject: auth.subject,
    },
  );
  return permissionsUnavailable();
}

/**
 * Loads the caller's grants into `req.auth.permissions`, as a permission guard would, so
 * `hasPermission()` works in a handler no guard ran before. Resolves the grants, or `null` when
 * the request is not authenticated or no permissions are known (every check then answers false).
 *
 * @throws An HTTP 503 `permissions_unavailable` error (reject) when the permission store cannot
 * be reached; pass it to `next(err)`.
 * @example
 * app.get('/devices', async (req, res, next) => {
 *   try {
 *     await loadPermissions(req);
 *     res.json({ canEdit: hasPermission(req.auth, 'devices:write') });
 *   } catch (err) {
 *     next(err);
 *   }
 * });
 */
export async function loadPermissions(req: Request): Promise<readonly string[] | null> {
  const auth = req.auth;
  if (!auth) return null;
  const state = getState(req) ?? NO_STATE;
  try {
    return await grantsOf(auth, state);
  } catch (err) {
    throw storeFailed(state, auth, err);
  }
}

function permissionGuard(name: string, perms: string[], mode: 'all' | 'any'): RequestHandler {
  const allows =
    mode === 'all'
      ? (grants: readonly string[]) => {
          for (const p of perms) if (!permits(grants, p)) return false;
          return true;
        }
      : (grants: readonly string[]) => {
          for (const p of perms) if (permits(grants, p)) return true;
          return false;
        };
  const decide = (
    req: Request,
    state: RequestState,
    auth: AuthContext,
    grants: readonly string[] | null,
    next: NextFunction,
  ) => {
    if (!grants) {
      warnThrottled(
        state.logger,
        'ERR_BULWARK_RBAC_NO_PERMISSIONS',
        `${name}: the caller has no known permissions, so the request was denied. Give authenticate() a permission store, or put permissions on the token or key.`,
        { subject: auth.subject },
      );
    } else if (allows(grants)) {
      return next();
    }
    const missing = grants ? perms.filter((p) => !permits(grants, p)) : perms;
    next(deny(req, state, auth, 'permission', perms, missing));
  };
  const guard = (req: Request, _res: Response, next: NextFunction) => {
    const auth = req.auth;
    const state = getState(req) ?? NO_STATE;
    if (!auth) return next(unauthorized(BEARER_CHALLENGE));
    // Known already (the token's, the key's, an earlier guard's) or cached by the store: no wait.
    if (auth.permissions) return decide(req, state, auth, auth.permissions, next);
    const cached = state.cachedPermissions?.(auth);
    if (cached) {
      auth.permissions = cached;
      return decide(req, state, auth, cached, next);
    }
    if (!state.loadPermissions) return decide(req, state, auth, null, next);
    grantsOf(auth, state).then(
      (grants) => decide(req, state, auth, grants, next),
      (err: unknown) => {
        next(storeFailed(state, auth, err));
      },
    );
  };
  Object.defineProperty(guard, 'name', { value: name });
  return withOpenApi(permissionDescription(perms, mode), guard);
}

/**
 * Lets the request through only when the caller holds every listed permission.
 * Unauthenticated → 401 `unauthorized`; authenticated without the permission → 403 `forbidden`
 * with `WWW-Authenticate: Bearer error="insufficient_scope"`. The missing permission is named in
 * the log, the `bulwark:rbac:denied` event and the audit row; in the body only when
 * `authenticate({ exposeMissingPermissions: true })`.
 *
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_PERMISSION` when no or an invalid permission is named.
 * @example
 * app.post('/devices', authenticate({ jwt }), requirePermission('devices:write'), createDevice);
 */
export function requirePermission(...permissions: string[]): RequestHandler {
  return permissionGuard(
    'requirePermission',
    checkPermissionList('requirePermission', permissions),
    'all',
  );
}

/**
 * Lets the request through when the caller holds at least one of the listed permissions.
 *
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_PERMISSION` when no or an invalid permission is named.
 * @example
 * app.get('/reports', requireAnyPermission('reports:read', 'audit:read'), listReports);
 */
export function requireAnyPermission(...permissions: string[]): RequestHandler {
  return permissionGuard(
    'requireAnyPermission',
    checkPermissionList('requireAnyPermission', permissions),
    'any',
  );
}

function scopeGuard(
  name: string,
  accept: (auth: AuthContext) => boolean,
  required: string,
): RequestHandler {
  const guard = (req: Request, _res: Response, next: NextFunction) => {
    const auth = req.auth;
    if (!auth) return next(unauthorized(BEARER_CHALLENGE));
    if (accept(auth)) return next();
    next(deny(req, getState(req) ?? NO_STATE, auth, 'scope', [required], [required]));
  };
  Object.defineProperty(guard, 'name', { value: name });
  return withOpenApi(scopeDescription(required), guard);
}

function noArguments(where: string, args: unknown[]): void {
  if (args.length > 0) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `${where}() takes no arguments, received ${show(args[0])}. Call it as ${where}().`,
    );
  }
}

/**
 * Lets through only tenant users and keys (`req.auth.scope === 'customer'` with a tenant id).
 *
 * @example
 * app.use('/customer', authenticate({ jwt }), requireCustomer());
 */
export function requireCustomer(...args: never[]): RequestHandler {
  noArguments('requireCustomer', args);
  return scopeGuard(
    'requireCustomer',
    (auth) =>
      auth.scope === 'customer' && typeof auth.tenantId === 'string' && auth.tenantId !== '',
    'scope:customer',
  );
}

/**
 * Lets through only platform operators (`req.auth.scope === 'operator'`).
 *
 * @example
 * app.use('/operator', authenticate({ jwt }), requireOperator());
 */
export function requireOperator(...args: never[]): RequestHandler {
  noArguments('requireOperator', args);
  return scopeGuard('requireOperator', (auth) => auth.scope === 'operator', 'scope:operator');
}
