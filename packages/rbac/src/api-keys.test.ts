// API key lifecycle against a real PostgreSQL: issue, verify over HTTP, rotate with grace, revoke, peppers,
// and keys issued by a caller kept within that caller's permissions and lifetime.
import { createHmac } from 'node:crypto';
import {
  createTestDatabase,
  type Listening,
  requireService,
  type TestDatabase,
} from '@bulwark/test-utils';
import express, { type NextFunction, type Request, type Response } from 'express';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiKeyCaller, type ApiKeys, createApiKeys } from './api-keys.js';
import { authenticate } from './authenticate.js';
import { RbacConfigError } from './errors.js';
import { migrate } from './migrate.js';
import { requirePermission } from './permissions.js';
import { appWith, bodyOf, capture, renderErrors, serve } from './test-support.js';

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

describe.runIf(hasPg)('createApiKeys with the caller as issuer', () => {
  const SECRET = Buffer.alloc(32, 7);
  const jwt = { algorithms: ['HS256' as const], secret: SECRET, issuer: 'test', audience: 'api' };
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  /** A user's token carrying its permissions, as a token service would sign it. */
  const userToken = (subject: string, tenantId: string, permissions: string[]) => {
    const now = Math.floor(Date.now() / 1000);
    const input = `${b64({ alg: 'HS256' })}.${b64({ iss: 'test', aud: 'api', exp: now + 300, sub: subject, tenant_id: tenantId, permissions })}`;
    return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
  };
  const HOUR = 3_600_000;
  let db: TestDatabase;
  let pool: pg.Pool;
  /** Keys may not manage keys (the default); `system:read` is an operator permission. */
  let strict: ApiKeys;
  /** Keys may manage keys; keys issued for a caller live at most two hours. */
  let lenient: ApiKeys;
  let server: Listening;

  /** The key routes an admin API would have: issue, rotate and revoke, each passing `by: req.auth`. */
  const keyRoutes = (keys: ApiKeys) => {
    const router = express.Router();
    const run =
      (handler: (req: Request, res: Response) => Promise<void>) =>
      (req: Request, res: Response, next: NextFunction) => {
        handler(req, res).catch(next);
      };
    const tenant = (req: Request) => req.auth?.tenantId as string;
    router.use(authenticate({ jwt, apiKeys: keys }), requirePermission('api_keys:write'));
    router.post(
      '/keys',
      run(async (req, res) => {
        const { scopes, expiresAt } = req.body as { scopes: string[]; expiresAt?: string };
        res.status(201).json(
          await keys.issue(tenant(req), {
            scopes,
            ...(expiresAt ? { expiresAt: new Date(expiresAt) } : {}),
            by: req.auth as ApiKeyCaller,
          }),
        );
      }),
    );
    router.post(
      '/keys/rotate',
      run(async (req, res) => {
        const { keyId, graceSec = 0 } = req.body as { keyId: string; graceSec?: number };
        res
          .status(201)
          .json(await keys.rotate(tenant(req), { keyId, graceSec, by: req.auth as ApiKeyCaller }));
      }),
    );
    router.delete(
      '/keys/:id',
      run(async (req, res) => {
        const gone = await keys.revoke(req.params.id as string, {
          tenantId: tenant(req),
          by: req.auth as ApiKeyCaller,
        });
        res.status(gone ? 204 : 404).end();
      }),
    );
    return router;
  };

  beforeAll(async () => {
    db = await createTestDatabase('rbac_keys_issuer');
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    await migrate(pool);
    await pool.query(`INSERT INTO bulwark_rbac.tenants (id) VALUES ('acme'), ('globex')`);
    strict = createApiKeys({
      db: pool,
      pepper: PEPPER,
      operatorPermissions: ['system:read', 'metrics:read'],
      logger: quiet,
    });
    lenient = createApiKeys({
      db: pool,
      pepper: PEPPER,
      keysMayManageKeys: true,
      maxLifetimeSec: 7200,
      logger: quiet,
    });
    const app = express();
    app.use(express.json());
    app.use('/strict', keyRoutes(strict));
    app.use('/lenient', keyRoutes(lenient));
    app.get(
      '/devices',
      authenticate({ jwt, apiKeys: strict }),
      requirePermission('devices:read'),
      (_req, res) => {
        res.json({ ok: true });
      },
    );
    app.use(renderErrors);
    server = await serve(app);
  });

  afterAll(async () => {
    await server?.close();
    await pool?.end();
    await db?.drop();
  });

  const send = async (
    method: string,
    path: string,
    credential: { token?: string; key?: string },
    body?: unknown,
  ) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(credential.token ? { authorization: `Bearer ${credential.token}` } : {}),
        ...(credential.key ? { 'x-api-key': credential.key } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const admin = () => userToken('admin@acme', 'acme', ['*']);

  it('refuses any API key, even one holding api_keys:write, as the caller that issues, rotates or revokes keys', async () => {
    const manager = await strict.issue('acme', { scopes: ['api_keys:write', 'devices:read'] });
    const other = await strict.issue('acme', { scopes: ['devices:read'] });
    const key = { key: manager.key };
    for (const [method, path, body] of [
      ['POST', '/strict/keys', { scopes: ['devices:read'] }],
      ['POST', '/strict/keys/rotate', { keyId: other.id }],
      ['DELETE', `/strict/keys/${other.id}`, undefined],
    ] as const) {
      const answer = await send(method, path, key, body);
      expect(answer.status, `${method} ${path}`).toBe(403);
      expect(answer.body.code).toBe('api_key_cannot_manage_keys');
    }
    expect((await send('GET', '/devices', { key: other.key })).status).toBe(200);
    const byUser = await send(
      'POST',
      '/strict/keys',
      { token: admin() },
      { scopes: ['devices:read'] },
    );
    expect(byUser.status).toBe(201);
    expect((await send('DELETE', `/strict/keys/${other.id}`, { token: admin() })).status).toBe(204);
    expect((await send('GET', '/devices', { key: other.key })).status).toBe(401);
  });

  it('refuses a key in the grace period after its rotation when it tries to issue or rotate keys, even where keys may manage keys', async () => {
    const leaked = await lenient.issue('acme', {
      scopes: ['api_keys:write', 'devices:read'],
      expiresAt: new Date(Date.now() + HOUR),
    });
    const before = await send(
      'POST',
      '/lenient/keys',
      { key: leaked.key },
      { scopes: ['devices:read'] },
    );
    expect(before.status).toBe(201);
    const rotated = await send(
      'POST',
      '/lenient/keys/rotate',
      { token: admin() },
      { keyId: leaked.id, graceSec: 3600 },
    );
    expect(rotated.status).toBe(201);
    expect(rotated.body.revoked).toMatchObject([{ id: leaked.id }]);
    // Still in its grace period: it authenticates, and may do what its scopes allow...
    expect((await send('GET', '/devices', { key: leaked.key })).status).toBe(200);
    // ...but not mint the keys that would let its holder outlast the rotation.
    for (const [path, body] of [
      ['/lenient/keys', { scopes: ['devices:read'] }],
      ['/lenient/keys/rotate', { keyId: rotated.body.key.id }],
    ] as const) {
      const answer = await send('POST', path, { key: leaked.key }, body);
      expect(answer.status, path).toBe(403);
      expect(answer.body.code).toBe('api_key_cannot_manage_keys');
    }
    const { rows } = await pool.query(
      'SELECT id FROM bulwark_rbac.api_keys WHERE created_by = $1',
      [`api-key:${leaked.id}`],
    );
    expect(rows).toEqual([{ id: before.body.id }]);
  });

  it("keeps a key minted by a key within the minting key's scopes and expiry", async () => {
    const parentExpiry = new Date(Math.floor((Date.now() + HOUR) / 1000) * 1000);
    const parent = await lenient.issue('acme', {
      scopes: ['api_keys:write', 'devices:read'],
      expiresAt: parentExpiry,
    });
    const child = await send(
      'POST',
      '/lenient/keys',
      { key: parent.key },
      { scopes: ['devices:read'] },
    );
    expect(child.status).toBe(201);
    expect(new Date(child.body.expiresAt).getTime()).toBe(parentExpiry.getTime());
    const wider = await send(
      'POST',
      '/lenient/keys',
      { key: parent.key },
      { scopes: ['alerts:read'] },
    );
    expect(wider.status).toBe(403);
    expect(wider.body.code).toBe('api_key_scope_exceeds_issuer');
    const wildcard = await send(
      'POST',
      '/lenient/keys',
      { key: parent.key },
      { scopes: ['devices:*'] },
    );
    expect(wildcard.status).toBe(403);
    const longer = await send(
      'POST',
      '/lenient/keys',
      { key: parent.key },
      {
        scopes: ['devices:read'],
        expiresAt: new Date(parentExpiry.getTime() + 60_000).toISOString(),
      },
    );
    expect(longer.status).toBe(422);
    expect(longer.body).toMatchObject({
      code: 'api_key_lifetime_exceeded',
      details: { latest: parentExpiry.toISOString() },
    });
  });

  it('gives a key issued for a user the bounded default lifetime, and refuses a later or never-ending one', async () => {
    const issued = await send(
      'POST',
      '/strict/keys',
      { token: admin() },
      { scopes: ['devices:read'] },
    );
    expect(issued.status).toBe(201);
    const lifetime = new Date(issued.body.expiresAt).getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(90 * 86_400_000 - 60_000);
    expect(lifetime).toBeLessThanOrEqual(90 * 86_400_000);
    const tooLong = await send(
      'POST',
      '/strict/keys',
      { token: admin() },
      { scopes: ['devices:read'], expiresAt: new Date(Date.now() + 91 * 86_400_000).toISOString() },
    );
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.code).toBe('api_key_lifetime_exceeded');
    const by: ApiKeyCaller = {
      subject: 'admin@acme',
      tenantId: 'acme',
      scope: 'customer',
      via: 'jwt',
      permissions: ['*'],
    };
    const forever = await strict.issue('acme', { scopes: ['devices:read'] });
    expect(forever.expiresAt).toBeNull();
    await expect(
      strict.rotate('acme', { keyId: forever.id, expiresAt: null, by }),
    ).rejects.toMatchObject({ status: 422, code: 'api_key_lifetime_exceeded' });
    // A key that never expired is rotated into one that does.
    const { key } = await strict.rotate('acme', { keyId: forever.id, by });
    expect(key.expiresAt?.getTime()).toBeGreaterThan(Date.now() + 89 * 86_400_000);
    expect(key.expiresAt?.getTime()).toBeLessThanOrEqual(Date.now() + 90 * 86_400_000);
    // A user signed in through the session cookie is a caller under the same bounds.
    const fromCookie = await strict.issue('acme', {
      scopes: ['devices:read'],
      by: { ...by, via: 'cookie' },
    });
    expect(fromCookie.expiresAt?.getTime()).toBeLessThanOrEqual(Date.now() + 90 * 86_400_000);
    await expect(
      strict.issue('acme', {
        scopes: ['audit:read'],
        by: { ...by, via: 'cookie', permissions: [] },
      }),
    ).rejects.toMatchObject({ status: 403, code: 'api_key_scope_exceeds_issuer' });
  });

  it("refuses scopes beyond the user's permissions, and any scope that grants an operator permission even to a user holding *", async () => {
    const operator = userToken('operator@acme', 'acme', ['api_keys:write', 'devices:read']);
    const beyond = await send(
      'POST',
      '/strict/keys',
      { token: operator },
      { scopes: ['audit:read'] },
    );
    expect(beyond.status).toBe(403);
    expect(beyond.body.code).toBe('api_key_scope_exceeds_issuer');
    for (const scopes of [['system:read'], ['metrics:read', 'devices:read'], ['system:*'], ['*']]) {
      const answer = await send('POST', '/strict/keys', { token: admin() }, { scopes });
      expect(answer.status, scopes.join()).toBe(403);
      expect(answer.body.code).toBe('api_key_scope_reserved');
    }
    const fine = await send('POST', '/strict/keys', { token: admin() }, { scopes: ['devices:*'] });
    expect(fine.status).toBe(201);
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n FROM bulwark_rbac.api_keys WHERE scopes && ARRAY['system:read', 'metrics:read', '*', 'system:*', 'audit:read']`,
    );
    expect(rows[0].n).toBe(0);
  });

  it('records the caller as the creator and revoker, and refuses a caller of another tenant', async () => {
    const issued = await strict.issue('acme', {
      scopes: ['devices:read'],
      by: {
        subject: 'admin@acme',
        tenantId: 'acme',
        scope: 'customer',
        via: 'jwt',
        permissions: ['*'],
      },
    });
    const { rows } = await pool.query(
      'SELECT created_by FROM bulwark_rbac.api_keys WHERE id = $1',
      [issued.id],
    );
    expect(rows).toEqual([{ created_by: 'admin@acme' }]);
    const stranger: ApiKeyCaller = {
      subject: 'admin@globex',
      tenantId: 'globex',
      scope: 'customer',
      via: 'jwt',
      permissions: ['*'],
    };
    await expect(
      strict.issue('acme', { scopes: ['devices:read'], by: stranger }),
    ).rejects.toMatchObject({
      status: 403,
      code: 'api_key_cannot_manage_keys',
    });
    await expect(
      strict.revoke(issued.id, { tenantId: 'acme', by: stranger }),
    ).rejects.toMatchObject({
      status: 403,
    });
    expect((await send('GET', '/devices', { key: issued.key })).status).toBe(200);
  });

  it('refuses bad caller options at construction, and a caller whose permissions were never loaded', async () => {
    for (const [options, pattern] of [
      [{ keysMayManageKeys: 'yes' }, /keysMayManageKeys/],
      [{ maxLifetimeSec: 0 }, /maxLifetimeSec/],
      [{ maxLifetimeSec: Number.POSITIVE_INFINITY }, /maxLifetimeSec/],
      [{ operatorPermissions: ['system:*'] }, /operatorPermissions/],
      [{ operatorPermissions: 'system:read' }, /operatorPermissions/],
    ] as const) {
      expect(() => createApiKeys({ db: pool, pepper: PEPPER, ...(options as object) })).toThrow(
        expect.objectContaining({
          code: 'ERR_BULWARK_RBAC_OPTIONS',
          message: expect.stringMatching(pattern),
        }),
      );
    }
    await expect(
      strict.issue('acme', {
        scopes: ['devices:read'],
        by: { subject: 'admin@acme', tenantId: 'acme', scope: 'customer', via: 'jwt' },
      }),
    ).rejects.toMatchObject({ code: 'ERR_BULWARK_RBAC_ARGUMENT' });
    await expect(
      strict.issue('acme', { scopes: ['devices:read'], by: {} as ApiKeyCaller }),
    ).rejects.toBeInstanceOf(RbacConfigError);
  });
});
