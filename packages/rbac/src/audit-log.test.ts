// Audit rows in a real PostgreSQL for auth failures, denials, mutations and key rotations, with trace ids.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import {
  createTestDatabase,
  type Listening,
  requireService,
  type TestDatabase,
} from '@bulwark/test-utils';
import express from 'express';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiKeys } from './api-keys.js';
import { type AuditLog, createAuditLog } from './audit-log.js';
import { authenticate } from './authenticate.js';
import { migrate } from './migrate.js';
import { createPermissionStore, type PermissionStore } from './permission-store.js';
import { requirePermission } from './permissions.js';
import { appWith, renderErrors, serve } from './test-support.js';

const hasPg = await requireService('postgres');
const SECRET = Buffer.alloc(32, 5);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
function tokenFor(sub: string): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'HS256' })}.${b64({ sub, tenant_id: 'acme', iss: 'test', aud: 'api', exp: now + 300 })}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

describe.runIf(hasPg)('createAuditLog', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let audit: AuditLog;
  let store: PermissionStore;
  let server: Listening;
  let trace = 0;
  const warnings: string[] = [];
  const logger = { error: () => {}, warn: (m: string) => warnings.push(m), info: () => {} };

  beforeAll(async () => {
    db = await createTestDatabase('rbac_audit');
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    await migrate(pool);
    await pool.query(`INSERT INTO bulwark_rbac.tenants (id) VALUES ('acme')`);
    audit = createAuditLog({ db: pool, logger, flushIntervalMs: 50 });
    store = createPermissionStore({ db: pool });
    await store.ready();
    await store.grant('vera', 'viewer', { tenantId: 'acme' });
    await store.grant('ada', 'admin', { tenantId: 'acme' });
    const app = express();
    // Stands in for a request-context middleware that sets req.id.
    app.use((req, _res, next) => {
      (req as unknown as { id: string }).id = `trace-${++trace}`;
      next();
    });
    app.use(
      authenticate({
        jwt: { algorithms: ['HS256'], secret: SECRET, issuer: 'test', audience: 'api' },
        permissions: store,
        audit,
      }),
    );
    app.post(
      '/devices',
      requirePermission('devices:write'),
      audit.mutations({ resourceType: 'device', resourceId: () => 'dev-1' }),
      (_req, res) => {
        res.status(201).json({ id: 'dev-1' });
      },
    );
    app.use(renderErrors);
    server = await serve(app);
  });

  afterAll(async () => {
    await server?.close();
    await audit?.close();
    await store?.close();
    await pool?.end();
    await db?.drop();
  });

  /** A request sent byte for byte: fetch would turn a `\\` in the path into `/`. */
  const raw = (
    base: Listening,
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: string,
  ) =>
    new Promise<number>((resolve, reject) => {
      const { hostname, port } = new URL(base.url);
      const options = { hostname, port, path, method, headers };
      const request = http.request(options, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      });
      request.on('error', reject);
      request.end(body);
    });

  const rows = async (action: string) =>
    (
      await pool.query(`SELECT * FROM bulwark_rbac.audit_log WHERE action = $1 ORDER BY id`, [
        action,
      ])
    ).rows;
  const post = (token?: string) =>
    fetch(`${server.url}/devices`, {
      method: 'POST',
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });

  it('writes a row for an authentication failure, with the trace id and no token', async () => {
    const forged = `${tokenFor('ada').slice(0, -4)}AAAA`;
    expect((await post(forged)).status).toBe(401);
    await audit.flush();
    const [row] = await rows('AUTHENTICATE');
    expect(row).toMatchObject({
      resource_type: 'request',
      resource_id: 'POST /devices',
      status: 'failure',
      actor: null,
      trace_id: `trace-${trace}`,
    });
    expect(row.details).toMatchObject({ via: 'jwt', reason: 'signature' });
    expect(JSON.stringify(row)).not.toContain(forged.slice(0, 30));
  });

  it('writes a row for a denial naming the missing permission', async () => {
    expect((await post(tokenFor('vera'))).status).toBe(403);
    await audit.flush();
    const [row] = await rows('AUTHORIZE');
    expect(row).toMatchObject({
      actor: 'vera',
      tenant_id: 'acme',
      status: 'denied',
      trace_id: `trace-${trace}`,
    });
    expect(row.details).toMatchObject({ missing: ['devices:write'] });
  });

  it('writes a row for a mutation the app performs', async () => {
    expect((await post(tokenFor('ada'))).status).toBe(201);
    // The row is queued when the response finishes, just after the client has it.
    for (let i = 0; i < 50 && (await rows('CREATE')).length === 0; i++) {
      await audit.flush();
      if ((await rows('CREATE')).length === 0)
        await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const [row] = await rows('CREATE');
    expect(row).toMatchObject({
      resource_type: 'device',
      resource_id: 'dev-1',
      actor: 'ada',
      tenant_id: 'acme',
      status: 'success',
      trace_id: `trace-${trace}`,
    });
    expect(row.details).toMatchObject({ method: 'POST', statusCode: 201, via: 'jwt' });
  });

  it('writes a row for an API key rotation, never the key', async () => {
    const keys = createApiKeys({ db: pool, pepper: 'x'.repeat(40), audit });
    const first = await keys.issue('acme', {
      name: 'ci',
      scopes: ['devices:read'],
      createdBy: 'ada',
    });
    const { key } = await keys.rotate('acme', { graceSec: 60, createdBy: 'ada' });
    await audit.flush();
    const [row] = await rows('ROTATE');
    expect(row).toMatchObject({
      resource_type: 'api_key',
      resource_id: key.id,
      actor: 'ada',
      tenant_id: 'acme',
      status: 'success',
    });
    expect(row.details).toMatchObject({ replaced: [first.id], graceSec: 60 });
    const all = JSON.stringify((await pool.query('SELECT * FROM bulwark_rbac.audit_log')).rows);
    expect(all).not.toContain(first.key);
    expect(all).not.toContain(key.key);
  });

  it('batches many entries into few inserts', async () => {
    const batched = createAuditLog({ db: pool, batchSize: 100, flushIntervalMs: 60_000 });
    for (let i = 0; i < 250; i++)
      batched.record({
        action: 'EXECUTE',
        resourceType: 'job',
        resourceId: String(i),
        status: 'success',
      });
    await batched.close();
    expect(batched.stats()).toMatchObject({ written: 250, dropped: 0, queued: 0 });
    expect((await rows('EXECUTE')).length).toBe(250);
  });

  it('keeps the queue bounded while the database is down, counts the loss and records it later', async () => {
    const broken = new pg.Pool({
      connectionString: 'postgres://postgres@127.0.0.1:1/none',
      connectionTimeoutMillis: 200,
    });
    let target: pg.Pool = broken;
    const switching = { query: (text: string, values?: unknown[]) => target.query(text, values) };
    warnings.length = 0;
    const bounded = createAuditLog({
      db: switching,
      logger,
      maxQueue: 10,
      batchSize: 5,
      flushIntervalMs: 60_000,
    });
    for (let i = 0; i < 25; i++)
      bounded.record({ action: 'UPDATE', resourceType: 'thing', status: 'success' });
    await bounded.flush();
    expect(bounded.stats().queued).toBeLessThanOrEqual(10);
    expect(bounded.stats().dropped).toBe(15);
    expect(warnings.some((w) => w.includes('audit queue is full'))).toBe(true);
    target = pool;
    await bounded.close();
    expect(bounded.stats().queued).toBe(0);
    const [loss] = await rows('AUDIT_LOSS');
    expect(loss.details).toEqual({ dropped: 15 });
    expect((await rows('UPDATE')).length).toBe(10);
    await broken.end();
  });

  it('stores hostile values as data, truncated and without control characters', async () => {
    const log = createAuditLog({ db: pool, flushIntervalMs: 60_000 });
    log.record({
      action: "x'); DROP TABLE bulwark_rbac.audit_log; --",
      resourceType: 'thing\nFAKE LOG LINE',
      resourceId: 'r'.repeat(10_000),
      status: 'success',
      details: { big: 'y'.repeat(20_000) },
    });
    await log.close();
    const { rows: found } = await pool.query(
      `SELECT * FROM bulwark_rbac.audit_log WHERE action LIKE 'x''); DROP%'`,
    );
    expect(found).toHaveLength(1);
    expect(found[0].resource_type).toBe('thing FAKE LOG LINE');
    expect(found[0].resource_id).toHaveLength(256);
    expect(found[0].details).toMatchObject({ truncated: true });
  });

  it('keeps a whole batch when one request carries a literal \\u0000 or a lone surrogate', async () => {
    const poisoned = createAuditLog({ db: pool, logger, flushIntervalMs: 60_000 });
    const app = express();
    app.set('trust proxy', 1);
    app.use(express.json());
    app.use(
      authenticate({
        jwt: { algorithms: ['HS256'], secret: SECRET, issuer: 'test', audience: 'api' },
        audit: poisoned,
      }),
    );
    app.use(poisoned.mutations({ resourceType: 'poison' }));
    app.all('/{*path}', (req, res) => {
      // An app recording a field of the body, as audit details are meant to be used.
      if (req.body?.name) {
        poisoned.record({
          action: 'RENAME',
          resourceType: 'poison',
          status: 'success',
          details: { name: req.body.name, [req.body.name]: 'as a key' },
        });
      }
      res.status(201).json({ ok: true });
    });
    app.use(renderErrors);
    const local = await serve(app);
    try {
      warnings.length = 0;
      const bearer = { authorization: `Bearer ${tokenFor('ada')}` };
      for (let i = 0; i < 5; i++) await raw(local, 'POST', `/things/${i}`, bearer);
      // The path reaches details.path; X-Forwarded-For reaches details.ip (trust proxy is on).
      expect(await raw(local, 'POST', '/things/\\u0000', bearer)).toBe(201);
      expect(await raw(local, 'GET', '/login', { 'x-forwarded-for': '\\u0000' })).toBe(401);
      const lone = JSON.stringify({ name: 'cut in half: \ud83d' });
      expect(
        await raw(
          local,
          'POST',
          '/things/6',
          { ...bearer, 'content-type': 'application/json' },
          lone,
        ),
      ).toBe(201);
      await vi.waitFor(() => expect(poisoned.stats().queued).toBe(9));
      await poisoned.flush();
      expect(poisoned.stats()).toMatchObject({
        queued: 0,
        dropped: 0,
        written: 9,
        failedBatches: 0,
      });
      const { rows: found } = await pool.query(
        `SELECT action, details FROM bulwark_rbac.audit_log WHERE resource_type = 'poison' OR details->>'ip' IS NOT NULL ORDER BY id`,
      );
      const details = found.map((row) => row.details as Record<string, unknown>);
      expect(details.map((d) => d.path)).toContain('/things/\\u0000');
      expect(details.map((d) => d.ip)).toContain('\\u0000');
      expect(details.map((d) => d.name)).toContain('cut in half: \ufffd');
      expect(details.find((d) => d.name)).toHaveProperty(['cut in half: \ufffd'], 'as a key');
      expect(warnings).toEqual([]);
    } finally {
      await local.close();
      await poisoned.close();
    }
  });

  it('drops only the rows PostgreSQL refuses and counts them, and the earlier loss, exactly', async () => {
    // Stands in for any row PostgreSQL refuses with a data exception (class 22): the row marked
    // 'refused' gets details it cannot store, so the real server answers 22P05 for its batch.
    const refusing = {
      query: (text: string, values: unknown[] = []) =>
        pool.query(
          text,
          values.map((value, i) =>
            i % 8 === 6 && values[i - 4] === 'refused' ? '{"a":"\\u0000"}' : value,
          ),
        ),
    };
    const log = createAuditLog({ db: refusing, logger, maxQueue: 10, flushIntervalMs: 60_000 });
    await pool.query(`DELETE FROM bulwark_rbac.audit_log WHERE action IN ('AUDIT_LOSS', 'SYNC')`);
    for (let i = 0; i < 13; i++) {
      log.record({
        action: 'SYNC',
        resourceType: 'thing',
        resourceId: i === 4 ? 'refused' : String(i),
        status: 'success',
      });
    }
    // Three entries found the queue full; their AUDIT_LOSS row shares the batch with the bad row.
    expect(log.stats()).toMatchObject({ queued: 10, dropped: 3 });
    await log.close();
    expect(log.stats()).toMatchObject({ queued: 0, dropped: 4, written: 11 });
    const losses = (await rows('AUDIT_LOSS')).map((row) => row.details.dropped as number);
    expect(losses).toEqual([3, 1]);
    expect((await rows('SYNC')).map((row) => row.resource_id)).not.toContain('refused');
    expect((await rows('SYNC')).length).toBe(9);
  });

  it('records a mutation with resourceId null, and warns, when the resourceId callback throws', async () => {
    const log = createAuditLog({ db: pool, logger, flushIntervalMs: 60_000 });
    const app = appWith(
      log.mutations({
        resourceType: 'gadget',
        resourceId: (req) => (req.body as { id: string }).id,
      }),
    );
    const local = await serve(app);
    try {
      warnings.length = 0;
      // No body: express.json() leaves req.body undefined, so the callback throws a TypeError.
      expect(await raw(local, 'POST', '/thing')).toBe(201);
      await vi.waitFor(() => expect(log.stats().queued).toBe(1));
      await log.flush();
      const [row] = (
        await pool.query(`SELECT * FROM bulwark_rbac.audit_log WHERE resource_type = 'gadget'`)
      ).rows;
      expect(row).toMatchObject({ action: 'CREATE', resource_id: null, status: 'success' });
      expect(warnings.some((w) => w.includes('resourceId callback'))).toBe(true);
      expect(await raw(local, 'POST', '/thing')).toBe(201);
    } finally {
      await local.close();
      await log.close();
    }
  });
});
