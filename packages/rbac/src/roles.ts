// Roles and their permissions declared in code (defineRoles) and synced to PostgreSQL in one audited transaction (syncRoles).
import { checkOptionNames, checkOptionsObject, defined, RbacConfigError, show } from './errors.js';
import { RBAC_SCHEMA } from './migrate.js';
import { isGrant } from './permissions.js';
import type { Queryable } from './types.js';

/** One role: its permissions (`orders:read`, `orders:*`, `*`) and an optional description. */
export interface RoleDefinition {
  permissions: readonly string[];
  /** Shown wherever roles are listed. Default: the description already stored, or `''`. */
  description?: string;
}

/** Roles by name: a list of permissions, or a {@link RoleDefinition}. */
export type RoleDefinitions = Readonly<Record<string, readonly string[] | RoleDefinition>>;

/** A checked, frozen set of roles, made by {@link defineRoles}. */
export type DefinedRoles<Name extends string = string> = Readonly<
  Record<Name, Readonly<{ permissions: readonly string[]; description?: string }>>
>;

export interface SyncRolesOptions {
  /**
   * What happens to roles in the database that the definitions do not name. Default `false`:
   * they stay as they are. `'unused'`: those nobody holds are deleted; those with grants stay
   * and are listed in `kept`. `'all'`: they are deleted with every grant of them.
   */
  prune?: false | 'unused' | 'all';
  /** Who made the change, for the audit log's `actor`. Default `null`. */
  actor?: string;
  /** Work out and return the changes, then roll them back. Default `false`. */
  dryRun?: boolean;
}

/** One role's change, as recorded in the audit log. */
export interface RoleChange {
  role: string;
  /** Permissions the role gained. */
  added: string[];
  /** Permissions the role lost. */
  removed: string[];
  /** Set when the description changed. */
  description?: { from: string; to: string };
}

export interface SyncRolesResult {
  /** Roles that did not exist, with the permissions they got. */
  created: RoleChange[];
  /** Roles whose permissions or description changed. */
  updated: RoleChange[];
  /** Roles already exactly as defined. */
  unchanged: string[];
  /** Roles not in the definitions that were deleted, with how many grants went with them. */
  deleted: { role: string; grants: number }[];
  /** Roles not in the definitions that were left in place, with how many grants they have. */
  kept: { role: string; grants: number }[];
  /** True when `dryRun` rolled everything back. */
  dryRun: boolean;
}

const ROLE = /^[a-z][a-z0-9_-]{0,63}$/;
const ROLE_KEYS = ['permissions', 'description'] as const;
const NAMES = ['prune', 'actor', 'dryRun'] as const;
const MAX_DESCRIPTION = 1000;
// Any constant works; it only has to differ from other advisory locks the app takes.
const LOCK_KEY = 7_305_194_312;
const S = RBAC_SCHEMA;
const EXAMPLE = "defineRoles({ viewer: ['orders:read'], admin: ['orders:*'] })";

function checkRole(where: string, name: string, value: unknown) {
  if (!ROLE.test(name)) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_ROLES',
      `${where}: ${show(name)} is not a role name. Use 1 to 64 lowercase letters, digits, '_' or '-', starting with a letter, such as 'viewer' or 'order-clerk'.`,
    );
  }
  let permissions: unknown;
  let description: unknown;
  if (Array.isArray(value)) permissions = value;
  else if (value !== null && typeof value === 'object') {
    checkOptionNames(`${where}: role '${name}'`, value, ROLE_KEYS);
    ({ permissions, description } = value as Record<string, unknown>);
  }
  if (!Array.isArray(permissions)) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_ROLES',
      `${where}: role '${name}' is ${show(value)}. Give its permissions as a list, such as ${name}: ['orders:read'], or { permissions: ['orders:read'], description: '...' }.`,
    );
  }
  for (const permission of permissions) {
    if (!isGrant(permission)) {
      throw new RbacConfigError(
        'ERR_BULWARK_RBAC_ROLES',
        `${where}: role '${name}' has the permission ${show(permission)}, which is not one. Use 'resource:action' in lowercase ('orders:read', 'orders:line-items:write'), 'resource:*' for every action on a resource, or '*' for everything.`,
      );
    }
  }
  if (
    description !== undefined &&
    (typeof description !== 'string' || description.length > MAX_DESCRIPTION)
  ) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_ROLES',
      `${where}: role '${name}' has the description ${show(description)}. Use a string of at most ${MAX_DESCRIPTION} characters.`,
    );
  }
  return Object.freeze({
    permissions: Object.freeze([...new Set(permissions as string[])].sort()),
    ...(description === undefined ? {} : { description: description as string }),
  });
}

function checkRoles(where: string, roles: unknown): DefinedRoles {
  if (roles === null || typeof roles !== 'object' || Array.isArray(roles)) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_ROLES',
      `${where}: the roles are ${show(roles)}. Pass an object of role names to permissions, such as ${EXAMPLE}.`,
    );
  }
  const names = Object.keys(roles);
  if (names.length === 0) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_ROLES',
      `${where}: no roles are defined. Name at least one, such as ${EXAMPLE}.`,
    );
  }
  const checked: Record<string, ReturnType<typeof checkRole>> = {};
  for (const name of names) {
    checked[name] = checkRole(where, name, (roles as Record<string, unknown>)[name]);
  }
  return Object.freeze(checked);
}

/**
 * Declares an app's roles and the permissions each holds, checked when the module loads:
 * role names as the database takes them, permissions as `resource:action`, `resource:*` or `*`.
 * Pass the result to {@link syncRoles} at startup or write it to a JSON file for
 * `bulwark-rbac sync-roles --file`. Duplicate permissions are dropped and each list is sorted.
 *
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_ROLES` for a malformed role name, permission or
 *   description, `ERR_BULWARK_RBAC_UNKNOWN_OPTION` for an unknown key in a role object.
 * @example
 * export const roles = defineRoles({
 *   viewer: ['orders:read'],
 *   clerk: { permissions: ['orders:read', 'orders:write'], description: 'Takes orders' },
 *   admin: ['orders:*', 'users:*'],
 * });
 */
export function defineRoles<const T extends RoleDefinitions>(
  roles: T,
): DefinedRoles<keyof T & string> {
  return checkRoles('defineRoles', roles) as DefinedRoles<keyof T & string>;
}

/** True for a `pg.Pool` (also of another copy of `pg`): its `connect()` hands out a client. */
function isPool(db: object): db is Queryable & {
  connect(): Promise<Queryable & { release(err?: Error | boolean): void }>;
} {
  return (
    typeof (db as { connect?: unknown }).connect === 'function' &&
    typeof (db as { totalCount?: unknown }).totalCount === 'number' &&
    !('release' in db)
  );
}

function difference(a: readonly string[], b: ReadonlySet<string>): string[] {
  return a.filter((x) => !b.has(x));
}

/**
 * Makes the roles in PostgreSQL match `roles`, in one transaction: creates missing roles, sets
 * each role's permissions to exactly those defined (adding new permission names to
 * `bulwark_rbac.permissions`), and updates descriptions that are given. Roles not defined are
 * left alone unless `prune` says otherwise; a role somebody holds is deleted only with
 * `prune: 'all'`. Each change is written to the audit log (`CREATE`, `UPDATE` or `DELETE` on
 * `role`) in the same transaction, and the grant triggers tell every permission store to reload.
 * Running it again with the same roles changes nothing and records nothing; instances starting
 * together take turns. Run `migrate(db)` first.
 *
 * @param db A `pg.Pool` (a connection is taken for the transaction), or a connected client.
 * @param roles What {@link defineRoles} returned, or the same shape as a plain object.
 * @throws {RbacConfigError} `ERR_BULWARK_RBAC_ROLES` for malformed roles, `ERR_BULWARK_RBAC_DB`
 *   when `db` cannot query, `ERR_BULWARK_RBAC_NOT_MIGRATED` when the tables do not exist,
 *   `ERR_BULWARK_RBAC_OPTIONS` for a bad option.
 * @example
 * await migrate(pool);
 * await syncRoles(pool, roles, { actor: 'deploy' });
 */
export async function syncRoles(
  db: Queryable,
  roles: RoleDefinitions,
  options: SyncRolesOptions = {},
): Promise<SyncRolesResult> {
  if (!db || typeof db !== 'object' || typeof db.query !== 'function') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_DB',
      `syncRoles: db ${show(db)} has no query(text, values) method. Pass a pg Pool or a connected client.`,
    );
  }
  const checked = checkRoles('syncRoles', roles);
  checkOptionsObject('syncRoles', options);
  checkOptionNames('syncRoles', options, NAMES);
  const o = defined(options);
  const prune = o.prune ?? false;
  if (prune !== false && prune !== 'unused' && prune !== 'all') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `syncRoles: prune ${show(prune)} is not valid. Use false (keep roles not defined), 'unused' (delete those nobody holds) or 'all' (delete them with their grants).`,
    );
  }
  if (o.actor !== undefined && (typeof o.actor !== 'string' || o.actor.length > 256)) {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `syncRoles: actor ${show(o.actor)} is not valid. Use a string of at most 256 characters, such as 'deploy'.`,
    );
  }
  if (o.dryRun !== undefined && typeof o.dryRun !== 'boolean') {
    throw new RbacConfigError(
      'ERR_BULWARK_RBAC_OPTIONS',
      `syncRoles: dryRun ${show(o.dryRun)} must be true or false.`,
    );
  }
  const dryRun = o.dryRun === true;
  const client = isPool(db) ? await db.connect() : undefined;
  const conn: Queryable = client ?? db;
  // A connection whose BEGIN or ROLLBACK failed may still be inside the transaction: it is
  // closed rather than given back to the pool.
  let broken: Error | undefined;
  const asError = (err: unknown) => (err instanceof Error ? err : new Error(String(err)));
  try {
    await conn.query('BEGIN').catch((err: unknown) => {
      broken = asError(err);
      throw err;
    });
    try {
      const result = await apply(conn, checked, prune, o.actor ?? null);
      await conn.query(dryRun ? 'ROLLBACK' : 'COMMIT');
      return { ...result, dryRun };
    } catch (err) {
      await conn.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = asError(rollbackError);
      });
      if ((err as { code?: unknown } | null)?.code === '42P01') {
        throw new RbacConfigError(
          'ERR_BULWARK_RBAC_NOT_MIGRATED',
          `syncRoles: the ${S} tables do not exist in this database. Run await migrate(pool) before syncRoles().`,
        );
      }
      throw err;
    }
  } finally {
    client?.release(broken);
  }
}

async function apply(
  conn: Queryable,
  roles: DefinedRoles,
  prune: false | 'unused' | 'all',
  actor: string | null,
): Promise<Omit<SyncRolesResult, 'dryRun'>> {
  await conn.query(`SELECT pg_advisory_xact_lock(${LOCK_KEY})`);
  const stored = await conn.query(
    `SELECT r.name, r.description,
            coalesce(array_agg(rp.permission ORDER BY rp.permission) FILTER (WHERE rp.permission IS NOT NULL), '{}') AS permissions,
            (SELECT count(*)::int FROM ${S}.user_roles ur WHERE ur.role = r.name) AS grants
       FROM ${S}.roles r LEFT JOIN ${S}.role_permissions rp ON rp.role = r.name
      GROUP BY r.name, r.description ORDER BY r.name`,
  );
  const current = new Map(
    stored.rows.map((row) => [
      String(row.name),
      {
        description: String(row.description ?? ''),
        permissions: (row.permissions as string[]).map(String),
        grants: Number(row.grants),
      },
    ]),
  );
  const result: Omit<SyncRolesResult, 'dryRun'> = {
    created: [],
    updated: [],
    unchanged: [],
    deleted: [],
    kept: [],
  };
  const audit: unknown[][] = [];
  const wanted = [...new Set(Object.values(roles).flatMap((r) => r.permissions))].sort();
  if (wanted.length > 0) {
    await conn.query(
      `INSERT INTO ${S}.permissions (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING`,
      [wanted],
    );
  }
  for (const name of Object.keys(roles).sort()) {
    const role = roles[name]!;
    const before = current.get(name);
    const description = role.description ?? before?.description ?? '';
    const added = difference(role.permissions, new Set(before?.permissions ?? []));
    const removed = before ? difference(before.permissions, new Set(role.permissions)) : [];
    const change: RoleChange = { role: name, added, removed };
    if (before && before.description !== description) {
      change.description = { from: before.description, to: description };
    }
    if (!before) {
      await conn.query(`INSERT INTO ${S}.roles (name, description) VALUES ($1, $2)`, [
        name,
        description,
      ]);
    } else if (change.description) {
      await conn.query(`UPDATE ${S}.roles SET description = $2 WHERE name = $1`, [
        name,
        description,
      ]);
    }
    if (added.length > 0) {
      await conn.query(
        `INSERT INTO ${S}.role_permissions (role, permission) SELECT $1, unnest($2::text[])`,
        [name, added],
      );
    }
    if (removed.length > 0) {
      await conn.query(
        `DELETE FROM ${S}.role_permissions WHERE role = $1 AND permission = ANY($2::text[])`,
        [name, removed],
      );
    }
    if (!before) {
      result.created.push(change);
      audit.push(['CREATE', name, { permissions: added, description }]);
    } else if (added.length > 0 || removed.length > 0 || change.description) {
      result.updated.push(change);
      audit.push([
        'UPDATE',
        name,
        { added, removed, ...(change.description ? { description: change.description } : {}) },
      ]);
    } else {
      result.unchanged.push(name);
    }
  }
  for (const [name, { grants, permissions }] of current) {
    if (Object.hasOwn(roles, name)) continue;
    if (prune === 'all' || (prune === 'unused' && grants === 0)) {
      await conn.query(`DELETE FROM ${S}.roles WHERE name = $1`, [name]);
      result.deleted.push({ role: name, grants });
      audit.push(['DELETE', name, { permissions, grants }]);
    } else {
      result.kept.push({ role: name, grants });
    }
  }
  if (audit.length > 0) {
    await conn.query(
      `INSERT INTO ${S}.audit_log (action, resource_type, resource_id, actor, tenant_id, status, details)
       SELECT a.action, 'role', a.role, $4, NULL, 'success', a.details || jsonb_build_object('via', 'syncRoles')
         FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS a(action, role, details)`,
      [
        audit.map((a) => a[0]),
        audit.map((a) => a[1]),
        audit.map((a) => JSON.stringify(a[2])),
        actor,
      ],
    );
  }
  return result;
}
