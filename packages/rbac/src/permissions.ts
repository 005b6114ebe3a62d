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

const grantSets = new WeakMap<readonly string[], ReadonlySet<string>>();

function asSet(grants: readonly string[]): ReadonlySet<string> {
  let set = grantSets.get(grants);
  if (!set) {
    set = new Set(grants);
    grantSets.set(grants, set);
  }
  return set;
}

/**
 * True when `grants` allow `permission`: an exact grant, `*`, or a wildcard on any prefix
 * (`devices:*` allows `devices:write` and `devices:firmware:write`).
 */
export function permits(grants: readonly string[], permission: string): boolean {
  const set = asSet(grants);
  if (set.has(permission) || set.has('*')) return true;
  let end = permission.lastIndexOf(':');
  while (end > 0) {
    if (set.has(`${permission.slice(0, end)}:*`)) return true;
    end = permission.lastIndexOf(':', end - 1);
  }
  return false;
}

/** True when the authenticated caller holds `permission` (false when permissions are unknown). */
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
  auth.permissions = loaded;
  return loaded;
}

function permissionGuard(name: string, perms: string[], mode: 'all' | 'any'): RequestHandler {
  const guard = (req: Request, _res: Response, next: NextFunction) => {
    const auth = req.auth;
    const state = getState(req) ?? NO_STATE;
    if (!auth) return next(unauthorized(BEARER_CHALLENGE));
    grantsOf(auth, state).then(
      (grants) => {
        if (!grants) {
          warnThrottled(
            state.logger,
            'ERR_BULWARK_RBAC_NO_PERMISSIONS',
            `${name}: the caller has no known permissions, so the request was denied. Give authenticate() a permission store, or put permissions on the token or key.`,
            { subject: auth.subject },
          );
        }
        const missing = grants ? perms.filter((p) => !permits(grants, p)) : perms;
        const ok = mode === 'all' ? missing.length === 0 : missing.length < perms.length;
        next(ok ? undefined : deny(req, state, auth, 'permission', perms, missing));
      },
      (err: unknown) => {
        warnThrottled(
          state.logger,
          'ERR_BULWARK_RBAC_STORE',
          'permissions could not be loaded; answering 503',
          {
            error: err instanceof Error ? err.message : String(err),
            subject: auth.subject,
          },
        );
        next(permissionsUnavailable());
      },
    );
  };
  Object.defineProperty(guard, 'name', { value: name });
  return guard;
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
  return guard;
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
