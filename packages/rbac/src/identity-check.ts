// Checks what mapClaims or an API key verifier returned, and names the field that is wrong and the values it takes.

/** The one field of an identity that made authentication fail, for logs, events and the audit log. */
export interface IdentityProblem {
  /**
   * The field, as the code that produced it calls it: `scope`, `tenantId` or `permissions` from
   * a custom `mapClaims`; the claim (`scope_type`, `tenant_id`, `permissions`) under the default
   * mapping; `id`, `scope`, `tenantId` or `scopes` from an API key verifier; `mapClaims` itself
   * when it threw or returned no object.
   */
  field: string;
  /** `missing` (absent, `undefined` or `null`), `invalid` (present, not a value it takes) or `threw`. */
  problem: 'missing' | 'invalid' | 'threw';
  /** The values the field takes, in words. */
  expected: string;
  /** What it was: a short, safe description (a type, or a short identifier-like string). */
  received: string;
  /** Where the value came from: `token` (default mapping), `mapClaims` or `apiKeys.verify`. */
  source: 'token' | 'mapClaims' | 'apiKeys.verify';
}

const SAFE_WORD = /^[A-Za-z0-9_.:-]{1,32}$/;

/** A value as a log may show it: short identifier-like strings quoted, anything else by type. */
export function received(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    if (value === '') return 'an empty string';
    return SAFE_WORD.test(value) ? `'${value}'` : `a string of ${value.length} characters`;
  }
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function') return 'a function';
  return `a ${typeof value}`;
}

const SCOPES = "'customer' or 'operator'";
const TENANT = "a non-empty string (null only when scope is 'operator')";
const GRANTS = "an array of permission strings, such as ['orders:read', 'orders:*']";

function problem(
  field: string,
  value: unknown,
  expected: string,
  source: IdentityProblem['source'],
): IdentityProblem {
  return {
    field,
    problem: value === undefined || value === null ? 'missing' : 'invalid',
    expected,
    received: received(value),
    source,
  };
}

/**
 * The first problem with the identity `mapClaims` returned for verified `claims`, or `undefined`.
 * Under the default mapping the problem names the claim the token lacks, since the token is what
 * must change; under a custom one it names the field `mapClaims` returned.
 */
export function claimsIdentityProblem(
  identity: unknown,
  claims: Readonly<Record<string, unknown>>,
  { defaultMapping, checkPermissions }: { defaultMapping: boolean; checkPermissions: boolean },
): IdentityProblem | undefined {
  if (identity === null || typeof identity !== 'object' || Array.isArray(identity)) {
    return {
      field: 'mapClaims',
      problem: 'invalid',
      expected: "an object such as { scope: 'customer', tenantId, permissions }",
      received: received(identity),
      source: 'mapClaims',
    };
  }
  const { scope, tenantId, permissions } = identity as Record<string, unknown>;
  if (defaultMapping) {
    if (scope !== 'customer' && scope !== 'operator') {
      return problem(
        'scope_type',
        claims.scope_type,
        "'customer' or 'operator' (absent means 'customer')",
        'token',
      );
    }
    if (scope === 'customer' && (typeof tenantId !== 'string' || tenantId === '')) {
      return problem(
        'tenant_id',
        claims.tenant_id,
        "a non-empty string in a customer's token",
        'token',
      );
    }
    if (checkPermissions && permissions !== undefined && !Array.isArray(permissions)) {
      return problem('permissions', claims.permissions, GRANTS, 'token');
    }
    return undefined;
  }
  if (scope !== 'customer' && scope !== 'operator') {
    return problem('scope', scope, SCOPES, 'mapClaims');
  }
  const tenant = tenantId ?? null;
  if (
    (scope === 'customer' && tenant === null) ||
    (tenant !== null && (typeof tenant !== 'string' || tenant === ''))
  ) {
    return problem('tenantId', tenantId, TENANT, 'mapClaims');
  }
  if (checkPermissions && permissions !== undefined && !Array.isArray(permissions)) {
    return problem('permissions', permissions, GRANTS, 'mapClaims');
  }
  return undefined;
}

/** The first problem with what an API key verifier returned for a valid key, or `undefined`. */
export function keyIdentityProblem(identity: Record<string, unknown>): IdentityProblem | undefined {
  const source = 'apiKeys.verify';
  if (typeof identity.id !== 'string' || identity.id === '') {
    return problem('id', identity.id, 'a non-empty string', source);
  }
  const scope = identity.scope ?? 'customer';
  if (scope !== 'customer' && scope !== 'operator') {
    return problem('scope', identity.scope, `${SCOPES} (absent means 'customer')`, source);
  }
  const tenant = identity.tenantId ?? null;
  if (
    (scope === 'customer' && tenant === null) ||
    (tenant !== null && (typeof tenant !== 'string' || tenant === ''))
  ) {
    return problem('tenantId', identity.tenantId, TENANT, source);
  }
  if (!Array.isArray(identity.scopes)) {
    return problem('scopes', identity.scopes, GRANTS, source);
  }
  return undefined;
}

/** What went wrong, as the start of a sentence: `mapClaims returned no scope`. */
export function identityProblemText(found: IdentityProblem): string {
  const what =
    found.source === 'token'
      ? `a verified token's ${found.field} claim`
      : found.source === 'mapClaims'
        ? 'mapClaims'
        : 'the API key verifier';
  if (found.problem === 'threw') return `mapClaims threw ${found.received}`;
  if (found.field === 'mapClaims' || found.field === 'verify')
    return `${what} returned ${found.received}, not ${found.expected}`;
  if (found.source === 'token') {
    const value = found.problem === 'missing' ? 'missing' : found.received;
    return `${what} is ${value}; it takes ${found.expected}`;
  }
  const value =
    found.problem === 'missing'
      ? `no ${found.field} (${found.received})`
      : `${found.field} ${found.received}`;
  return `${what} returned ${value}; ${found.field} takes ${found.expected}`;
}

/** The fix for a problem, in one sentence, for the one-time warning. */
export function identityFix(found: IdentityProblem): string {
  switch (found.source) {
    case 'token':
      return found.field === 'permissions'
        ? 'Have the issuer put the grants in a permissions array, or map them with mapClaims.'
        : `If your issuer names the ${found.field === 'tenant_id' ? 'tenant' : 'scope'} differently, pass a mapClaims that reads it, such as mapClaims: (claims) => ({ scope: 'customer', tenantId: claims.org_id, permissions: claims.permissions }).`;
    case 'mapClaims':
      return found.field === 'mapClaims'
        ? "Return an object from mapClaims, such as (claims) => ({ scope: 'customer', tenantId: claims.org_id, permissions: claims.permissions }), and make it handle every token the issuer signs."
        : `Return ${found.field} as ${found.expected} from mapClaims, such as (claims) => ({ scope: 'customer', tenantId: claims.org_id, permissions: claims.permissions }).`;
    default:
      return `Return ${found.field} as ${found.expected} from the key verifier's verify(key).`;
  }
}
