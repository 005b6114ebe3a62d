// API key lifecycle against a real PostgreSQL: issue, verify over HTTP, rotate with grace, revoke, peppers.
import {
  createTestDatabase,
  type Listening,
  requireService,
  type TestDatabase,
} from '@bulwark/test-utils';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiKeys, createApiKeys } from './api-keys.js';
import { authenticate } from './authenticate.js';
import { RbacConfigError } from './errors.js';
import { migrate } from './migrate.js';
import { requirePermission } from './permissions.js';
import { appWith, bodyOf, capture, serve } from './test-support.js';

const hasPg = await requireService('postgres');
const PEPPER = `${'p'.repeat(16)}${'e'.repeat(16)}pper-one`;
const OTHER_PEPPER = 'another-pepper-with-at-least-32-bytes!';
const quiet = { error: () => {}, warn: () => {}, info: () => {} };

describe.runIf(hasPg)('createApiKeys', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let keys: ApiKeys;
  let server: Listening;

  beforeAll(async () => {
    db = await createTestDatabase('rbac_keys');
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    await migrate(pool);
    await pool.query(`INSERT INTO bulwark_rbac.tenants (id) VALUES ('acme'), ('globex')`);
    keys = createApiKeys({ db: pool, pepper: PEPPER, lastUsedIntervalSec: 0, logger: quiet });
    const app = appWith(authenticate({ apiKeys: keys }));
    app.get(
      '/devices',
      authenticate({ apiKeys: keys }),
      requirePermission('devices:read'),
      (_req, res) => res.json({ ok: true }),
    );
    server = await serve(app);
  });

  afterAll(async () => {
    await server?.close();
    await pool?.end();
    await db?.drop();
  });

  const use = (key: string, path = '/thing') =>
    fetch(`${server.url}${path}`, { headers: { 'x-api-key': key } });

  it('issues a bwk_ key shown once, stores only its HMAC, and authenticates with it', async () => {
    const issued = await keys.issue('acme', {
      name: 'ingest',
      scopes: ['devices:read'],
      createdBy: 'ada',
    });
    expect(issued.key).toMatch(/^bwk_[A-Za-z0-9]{12}_[A-Za-z0-9]{32}$/);
    expect(issued.key.startsWith(`bwk_${issued.prefix}_`)).toBe(true);
    const { rows } = await pool.query(`SELECT * FROM bulwark_rbac.api_keys WHERE id = $1`, [
      issued.id,
    ]);
    expect(JSON.stringify(rows[0])).not.toContain(issued.key.slice(17));
    expect((rows[0].key_hash as Buffer).length).toBe(32);
    const response = await use(issued.key);
    expect(response.status).toBe(200);
    expect((await bodyOf(response)).auth).toMatchObject({
      subject: `api-key:${issued.id}`,
      tenantId: 'acme',
      scope: 'customer',
      via: 'api-key',
      apiKeyId: issued.id,
      permissions: ['devices:read'],
    });
  });

  it('rejects a wrong secret, an unknown prefix and a malformed key with the same 401', async () => {
    const issued = await keys.issue('acme', { scopes: ['devices:read'] });
    const failures = capture('auth-failed');
    try {
      const wrongSecret = `bwk_${issued.prefix}_${'A'.repeat(32)}`;
      for (const attempt of [
        wrongSecret,
        `bwk_${'Z'.repeat(12)}_${'A'.repeat(32)}`,
        'bwk_short_key',
        "x' OR 1=1 --",
      ]) {
        const response = await use(attempt);
        expect(response.status).toBe(401);
        const body = await bodyOf(response);
        expect(body.code).toBe('unauthorized');
        expect(JSON.stringify(body)).not.toContain(attempt);
      }
      expect(failures.messages.map((m) => m.via)).toEqual([
        'api-key',
        'api-key',
        'api-key',
        'api-key',
      ]);
    } finally {
      failures.stop();
    }
  });

  it('enforces a key scopes through requirePermission', async () => {
    const reader = await keys.issue('acme', { scopes: ['devices:read'] });
    const writer = await keys.issue('acme', { scopes: ['alerts:*'] });
    expect((await use(reader.key, '/devices')).status).toBe(200);
    expect((await use(writer.key, '/devices')).status).toBe(403);
  });

  it('records last_used_at when a key is used', async () => {
    const issued = await keys.issue('acme', { scopes: ['devices:read'] });
    expect((await keys.list('acme')).find((k) => k.id === issued.id)?.lastUsedAt).toBeNull();
    expect((await use(issued.key)).status).toBe(200);
    let lastUsed: Date | null = null;
    for (let i = 0; i < 50 && !lastUsed; i++) {
      lastUsed = (await keys.list('acme')).find((k) => k.id === issued.id)?.lastUsedAt ?? null;
      if (!lastUsed) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(lastUsed).toBeInstanceOf(Date);
  });

  it('rotates with a grace period: old and new keys both work until the old one lapses', async () => {
    const old = await keys.issue('globex', { name: 'device-fleet', scopes: ['telemetry:read'] });
    const { key: fresh, revoked } = await keys.rotate('globex', {
      graceSec: 3600,
      createdBy: 'ada',
    });
    expect(fresh.key).not.toBe(old.key);
    expect(fresh).toMatchObject({
      name: 'device-fleet',
      scopes: ['telemetry:read'],
      tenantId: 'globex',
    });
    expect(revoked.map((r) => r.id)).toEqual([old.id]);
    const lapse = revoked[0]!.revokedAt.getTime() - Date.now();
    expect(lapse).toBeGreaterThan(3500_000);
    expect(lapse).toBeLessThanOrEqual(3600_000);
    expect((await use(old.key)).status).toBe(200);
    expect((await use(fresh.key)).status).toBe(200);
    const { revoked: second } = await keys.rotate('globex', { graceSec: 0 });
    expect(second.map((r) => r.id).sort()).toEqual([old.id, fresh.id].sort());
    expect((await use(old.key)).status).toBe(401);
    expect((await use(fresh.key)).status).toBe(401);
  });

  it('keeps the expiry of a rotated key instead of issuing one that never expires', async () => {
    const inWeek = new Date(Math.floor(Date.now() / 1000 + 7 * 86_400) * 1000);
    const old = await keys.issue('acme', {
      name: 'weekly',
      scopes: ['devices:read'],
      expiresAt: inWeek,
    });
    const { key: fresh } = await keys.rotate('acme', { keyId: old.id });
    expect(fresh.expiresAt?.getTime()).toBe(inWeek.getTime());
    const stored = (await keys.list('acme')).find((k) => k.id === fresh.id);
    expect(stored?.expiresAt?.getTime()).toBe(inWeek.getTime());
    // An explicit expiresAt (or null, for never) still wins.
    const later = new Date(inWeek.getTime() + 86_400_000);
    const { key: extended } = await keys.rotate('acme', { keyId: fresh.id, expiresAt: later });
    expect(extended.expiresAt?.getTime()).toBe(later.getTime());
    const { key: forever } = await keys.rotate('acme', { keyId: extended.id, expiresAt: null });
    expect(forever.expiresAt).toBeNull();
  });

  it('rotates a single key by id and answers 404 for an unknown one', async () => {
    const a = await keys.issue('acme', { name: 'a', scopes: ['devices:read'] });
    const b = await keys.issue('acme', { name: 'b', scopes: ['devices:read'] });
    const { key, revoked } = await keys.rotate('acme', { keyId: a.id });
    expect(key.name).toBe('a');
    expect(revoked.map((r) => r.id)).toEqual([a.id]);
    expect((await use(b.key)).status).toBe(200);
    await expect(
      keys.rotate('acme', { keyId: '00000000-0000-0000-0000-000000000000' }),
    ).rejects.toMatchObject({
      status: 404,
      code: 'api_key_not_found',
    });
    await expect(keys.rotate('acme', { keyId: 'not-a-uuid' })).rejects.toMatchObject({
      status: 404,
    });
  });

  it('revokes a key at once, only within its tenant', async () => {
    const issued = await keys.issue('acme', { scopes: ['devices:read'] });
    expect(await keys.revoke(issued.id, { tenantId: 'globex' })).toBe(false);
    expect((await use(issued.key)).status).toBe(200);
    expect(await keys.revoke(issued.id, { tenantId: 'acme' })).toBe(true);
    expect((await use(issued.key)).status).toBe(401);
    expect(await keys.revoke(issued.id, { tenantId: 'acme' })).toBe(false);
    expect(await keys.revoke("'; DROP TABLE x; --", { tenantId: 'acme' })).toBe(false);
  });

  it('refuses a revoke with no tenant or a null tenant instead of revoking in every tenant', async () => {
    const issued = await keys.issue('globex', { scopes: ['devices:read'] });
    for (const options of [undefined, {}, { tenantId: null }, { tenantId: '' }]) {
      await expect(keys.revoke(issued.id, options as never)).rejects.toMatchObject({
        name: 'RbacConfigError',
        code: 'ERR_BULWARK_RBAC_ARGUMENT',
      });
    }
    await expect(
      keys.revoke(issued.id, { allTenants: true, tenantId: 'acme' } as never),
    ).rejects.toBeInstanceOf(RbacConfigError);
    expect((await use(issued.key)).status).toBe(200);
    expect(await keys.revoke(issued.id, { tenantId: 'acme' })).toBe(false);
    expect((await use(issued.key)).status).toBe(200);
    expect(await keys.revoke(issued.id, { allTenants: true })).toBe(true);
    expect((await use(issued.key)).status).toBe(401);
  });

  it('rejects an expired key', async () => {
    const issued = await keys.issue('acme', {
      scopes: ['devices:read'],
      expiresAt: new Date(Date.now() - 1000),
    });
    expect((await use(issued.key)).status).toBe(401);
  });

  it('accepts keys made under a previous pepper and moves them to the current one', async () => {
    const issued = await keys.issue('acme', { scopes: ['devices:read'] });
    const rotated = createApiKeys({
      db: pool,
      pepper: OTHER_PEPPER,
      previousPeppers: [PEPPER],
      logger: quiet,
    });
    const onlyNew = createApiKeys({ db: pool, pepper: OTHER_PEPPER, logger: quiet });
    expect(await onlyNew.verify(issued.key)).toBeNull();
    expect(await rotated.verify(issued.key)).toMatchObject({ id: issued.id });
    let moved = null;
    for (let i = 0; i < 50 && !moved; i++) {
      moved = await onlyNew.verify(issued.key);
      if (!moved) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(moved).toMatchObject({ id: issued.id });
  });

  it('answers 503 when the key store is unreachable', async () => {
    const broken = new pg.Pool({
      connectionString: 'postgres://postgres@127.0.0.1:1/none',
      connectionTimeoutMillis: 200,
    });
    const app = appWith(
      authenticate({ apiKeys: createApiKeys({ db: broken, pepper: PEPPER }), logger: quiet }),
    );
    const down = await serve(app);
    try {
      const response = await fetch(`${down.url}/thing`, {
        headers: { 'x-api-key': `bwk_${'a'.repeat(12)}_${'b'.repeat(32)}` },
      });
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ code: 'auth_unavailable' });
    } finally {
      await down.close();
      await broken.end();
    }
  });

  it('refuses a short pepper without printing it, bad scopes and unknown tenants', async () => {
    expect(() => createApiKeys({ db: pool, pepper: 'tiny-pepper' })).toThrow(/11 bytes/);
    try {
      createApiKeys({ db: pool, pepper: 'tiny-pepper' });
    } catch (err) {
      expect((err as RbacConfigError).code).toBe('ERR_BULWARK_RBAC_PEPPER');
      expect((err as Error).message).not.toContain('tiny-pepper');
    }
    await expect(keys.issue('acme', { scopes: [] })).rejects.toThrow(RbacConfigError);
    await expect(keys.issue('acme', { scopes: ['DEVICES'] })).rejects.toThrow(RbacConfigError);
    await expect(keys.issue('../acme', { scopes: ['devices:read'] })).rejects.toThrow(
      RbacConfigError,
    );
  });

  it('lists keys without anything secret', async () => {
    const listed = await keys.list('acme');
    expect(listed.length).toBeGreaterThan(0);
    for (const info of listed) {
      expect(Object.keys(info).sort()).toEqual([
        'active',
        'createdAt',
        'expiresAt',
        'id',
        'lastUsedAt',
        'name',
        'prefix',
        'revokedAt',
        'scopes',
        'tenantId',
      ]);
    }
  });
});
