// Public API of @bulwark/db-safety.
export { createDb, type Db, type QueryOptions } from './db.js';
export type {
  DbLogger,
  LeakEvent,
  PoolErrorEvent,
  RetryEvent,
  SlowQueryEvent,
} from './diagnostics.js';
export {
  DbAbortError,
  DbConfigError,
  type DbErrorCode,
  DbSafetyError,
  sqlState,
} from './errors.js';
export {
  checkHealth,
  type HealthOptions,
  type HealthResponse,
  type HealthResult,
  type HealthRouteOptions,
  healthRoute,
} from './health.js';
export { type DbHttpError, dbErrors, httpErrorFromDb } from './http-errors.js';
export {
  type CreatePoolOptions,
  createPool,
  type PoolSafety,
  SafePool,
  type VerifiedSettings,
} from './pool.js';
export { isSql, type SqlQuery, sql } from './sql.js';
export {
  inTransaction,
  type Queryable,
  type TenantOptions,
  type TransactionOptions,
  withTenant,
  withTransaction,
} from './transaction.js';
