// What every customer route shares: the caller's tenant and its transaction, the audit record, a 404 and a page.
import { type Db, type SqlQuery, sql } from '@bulwark/db-safety';
import { HttpProblem } from '@bulwark/error-handler';
import type { AuditLog } from '@bulwark/rbac';
import type { Request, Response } from 'express';
import type { Database } from '../database.js';

/** The caller's tenant; `requireCustomer()` has made sure there is one. */
export function tenantOf(req: Request): string {
  return req.auth?.tenantId as string;
}

/** The answer for a row that does not exist in the caller's tenant (another tenant's looks the same). */
export const notFound = (what: string) => HttpProblem.notFound(`${what} was not found.`);

/** A 422 for a body field that passed the schema but not a rule across fields, shaped as `validate()` answers. */
export const invalidField = (detail: string, pointer: string, message: string) =>
  HttpProblem.unprocessableEntity(detail, {
    code: 'validation_failed',
    errors: [{ location: 'body', pointer, message }],
  });

/**
 * Throws the 404 unless the caller's tenant has the device. Foreign keys are checked without
 * row-level security, so a row that names a device looks it up first.
 */
export async function requireDevice(tx: Db, id: string): Promise<void> {
  const found = await tx.maybeOne(sql`SELECT 1 AS found FROM iot.devices WHERE id = ${id}`);
  if (!found) throw notFound('The device');
}

/** Answers a page of rows with the `limit`, `offset` and `capped` that `paginate()` set. */
export function sendPage(req: Request, res: Response, items: unknown[]): void {
  const { limit, offset, capped } = req.page!;
  res.json({ items, limit, offset, capped });
}

/** The caller's tenant, as the routes use it. */
export interface Tenant {
  /** Runs `fn` in the caller's tenant transaction, as the app role: row-level security applies. */
  transaction<T>(req: Request, fn: (tx: Db) => Promise<T>): Promise<T>;
  /** Answers a page of the rows `query` selects with the page's `limit` and `offset`. */
  list(
    req: Request,
    res: Response,
    query: (page: { limit: number; offset: number }) => SqlQuery,
  ): Promise<void>;
  /** The one row `query` returns, or the 404 for `what`. */
  one<R extends Record<string, unknown>>(req: Request, query: SqlQuery, what: string): Promise<R>;
  /** Runs a `DELETE`; the 404 for `what` when it removed nothing. */
  remove(req: Request, query: SqlQuery, what: string): Promise<void>;
  /** Records a successful write with the caller, the tenant and the trace id. */
  audit(
    req: Request,
    action: string,
    resourceType: string,
    resourceId: string,
    details?: Record<string, unknown>,
  ): void;
}

/** The tenant helpers over the app's database and audit log. */
export function tenantScope(database: Database, log: AuditLog): Tenant {
  const transaction = <T>(req: Request, fn: (tx: Db) => Promise<T>) =>
    database.tenant(tenantOf(req), fn, req.signal);
  return {
    transaction,
    async list(req, res, query) {
      const { limit, offset } = req.page!;
      sendPage(req, res, await transaction(req, (tx) => tx.many(query({ limit, offset }))));
    },
    async one<R extends Record<string, unknown>>(req: Request, query: SqlQuery, what: string) {
      const row = await transaction(req, (tx) => tx.maybeOne<R>(query));
      if (!row) throw notFound(what);
      return row;
    },
    async remove(req, query, what) {
      const gone = await transaction(req, (tx) => tx.query(query));
      if (!gone.rowCount) throw notFound(what);
    },
    audit(req, action, resourceType, resourceId, details = {}) {
      log.record({
        action,
        resourceType,
        resourceId,
        actor: req.auth?.subject ?? null,
        tenantId: tenantOf(req),
        status: 'success',
        details,
        traceId: req.id ?? null,
      });
    },
  };
}
