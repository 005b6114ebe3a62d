export {
  type ApiKeyCaller,
  type ApiKeyInfo,
  type ApiKeys,
  type ApiKeysOptions,
  createApiKeys,
  type IssuedApiKey,
  type IssueOptions,
  type RevokeOptions,
  type RotateOptions,
} from './api-keys.js';
export {
  type AuditEntry,
  type AuditLog,
  type AuditLogOptions,
  type AuditStats,
  createAuditLog,
} from './audit-log.js';
export {
  type AuthenticateOptions,
  authenticate,
  type ClaimsIdentity,
  defaultMapClaims,
  type PermissionSource,
} from './authenticate.js';
export { RbacConfigError } from './errors.js';
export type { AuditSink, AuthFailureReason } from './events.js';
export { type JwksKeyResolver, type JwksOptions, jwksKeyResolver } from './jwks.js';
export {
  JWT_ALGORITHMS,
  type JwtAlgorithm,
  type JwtHeader,
  type JwtOptions,
  KeyNotFoundError,
  type KeyResolver,
} from './jwt.js';
export {
  type MigrateResult,
  type Migration,
  migrate,
  RBAC_SCHEMA,
  rbacMigrations,
} from './migrate.js';
export {
  createPermissionStore,
  GRANTS_CHANNEL,
  type GrantOptions,
  type PermissionStore,
  type PermissionStoreOptions,
} from './permission-store.js';
export {
  hasPermission,
  isGrant,
  isPermission,
  loadPermissions,
  permits,
  requireAnyPermission,
  requireCustomer,
  requireOperator,
  requirePermission,
} from './permissions.js';
export {
  type DefinedRoles,
  defineRoles,
  type RoleChange,
  type RoleDefinition,
  type RoleDefinitions,
  type SyncRolesOptions,
  type SyncRolesResult,
  syncRoles,
} from './roles.js';
export {
  generateSecret,
  type HashSecretOptions,
  hashSecret,
  type ReadSecretOptions,
  readSecret,
} from './secrets.js';
export {
  type BasicAuthOptions,
  type BasicUser,
  basicAuth,
  type StaticApiKey,
  type StaticApiKeysOptions,
  staticApiKeys,
} from './static-keys.js';
export type {
  ApiKeyIdentity,
  ApiKeyVerifier,
  AuthContext,
  ListeningClient,
  Logger,
  PoolLike,
  Queryable,
} from './types.js';
