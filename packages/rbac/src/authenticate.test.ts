// authenticate as a whole: choosing between Bearer and API key, optional mode, claim mapping, events and config.
import type { Listening } from '@bulwark/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from './audit-log.js';
import { authenticate } from './authenticate.js';
import { RbacConfigError } from './errors.js';
import { requirePermission } from './permissions.js';
import { appWith, bodyOf, capture, ciApiKey, jwtFor, serve, signToken } from './test-support.js';
import type { ApiKeyIdentity, ApiKeyVerifier } from './types.js';

const SECRET = Buffer.alloc(32, 2);
const API_KEY = `${'k'.repeat(20)}static-key-value`;
const token = (claims: Record<string, unknown>) => signToken(SECRET, claims);
const jwt = jwtFor(SECRET);
const keys = ciApiKey(API_KEY);

describe('authenticate', () => {
  let server: Listening;
  let optional: Listening;
  let mapped: Listening;
  beforeAll(async () => {
    server = await serve(appWith(authenticate({ jwt, apiKeys: keys })));
    optional = await serve(appWith(authenticate({ jwt, optional: true })));
    mapped = await serve(
      appWith(
        authenticate({
          jwt,
          mapClaims: (claims) => ({
            tenantId: (claims.org as string) ?? null,
            scope: (claims.realm_roles as string[] | undefined)?.includes('staff')
              ? 'operator'
              : 'customer',
            permissions: claims.perms as string[],
          }),
        }),
      ),
    );
  });
  afterAll(async () => {
    await Promise.all([server, optional, mapped].map((s) => s?.close()));
  });

  const call = (base: Listening, headers: Record<string, string> = {}) =>
    fetch(`${base.url}/thing`, { headers });

  it('accepts either a Bearer token or an API key', async () => {
    const byJwt = await call(server, {
      authorization: `Bearer ${token({ sub: 'u1', tenant_id: 'acme' })}`,
    });
    expect((await bodyOf(byJwt)).auth).toMatchObject({ via: 'jwt', subject: 'u1' });
    const byKey = await call(server, { 'x-api-key': API_KEY });
    expect((await bodyOf(byKey)).auth).toMatchObject({
      via: 'api-key',
      apiKeyId: 'ci',
      tenantId: 'acme',
      permissions: ['devices:read'],
    });
  });

  it('refuses a request carrying both a Bearer token and an API key', async () => {
    const failures = capture('auth-failed');
    try {
      const response = await call(server, {
        authorization: `Bearer ${token({ sub: 'u1', tenant_id: 'acme' })}`,
        'x-api-key': API_KEY,
      });
      expect(response.status).toBe(401);
      expect(failures.messages.at(-1)).toMatchObject({ reason: 'ambiguous' });
    } finally {
      failures.stop();
    }
  });

  it('publishes authenticated and auth-failed events without secrets', async () => {
    const ok = capture('authenticated');
    const failed = capture('auth-failed');
    try {
      await call(server, { 'x-api-key': API_KEY });
      await call(server, { 'x-api-key': `${API_KEY}x` });
      expect(ok.messages.at(-1)).toMatchObject({
        via: 'api-key',
        subject: 'api-key:ci',
        tenantId: 'acme',
      });
      expect(failed.messages.at(-1)).toMatchObject({
        via: 'api-key',
        reason: 'invalid',
        method: 'GET',
        path: '/thing',
      });
      expect(JSON.stringify([...ok.messages, ...failed.messages])).not.toContain(API_KEY);
    } finally {
      ok.stop();
      failed.stop();
    }
  });

  it('lets anonymous requests through in optional mode, but still refuses bad credentials', async () => {
    expect((await bodyOf(await call(optional))).auth).toBeNull();
    expect((await call(optional, { authorization: 'Bearer nonsense' })).status).toBe(401);
  });

  it('maps claims with mapClaims', async () => {
    const response = await call(mapped, {
      authorization: `Bearer ${token({ sub: 's', org: 'globex', perms: ['alerts:*'] })}`,
    });
    expect((await bodyOf(response)).auth).toMatchObject({
      tenantId: 'globex',
      scope: 'customer',
      permissions: ['alerts:*'],
    });
    const staff = await call(mapped, {
      authorization: `Bearer ${token({ sub: 'op', realm_roles: ['staff'] })}`,
    });
    expect((await bodyOf(staff)).auth).toMatchObject({ scope: 'operator', tenantId: null });
  });

  it('maps a token seen again only once, and gives each request a req.auth of its own', async () => {
    const mapped: unknown[] = [];
    const counting = (cacheSize?: number) =>
      serve(
        appWith(
          authenticate({
            jwt: cacheSize === undefined ? jwt : { ...jwt, verifiedCacheSize: cacheSize },
            mapClaims: (claims) => {
              mapped.push(claims.sub);
              return {
                tenantId: 'acme',
                scope: 'customer',
                permissions: ['devices:*', 'bad grant'],
              };
            },
          }),
          (req, _res, next) => {
            // A handler that writes on req.auth changes its own request only.
            expect(req.auth).not.toHaveProperty('note');
            (req.auth as unknown as Record<string, unknown>).note = 'seen';
            next();
          },
          requirePermission('devices:read'),
        ),
      );
    const cached = await counting();
    const uncached = await counting(0);
    try {
      const bearer = `Bearer ${token({ sub: 'u7' })}`;
      for (const base of [cached, cached, cached]) {
        const response = await call(base, { authorization: bearer });
        expect((await bodyOf(response)).auth).toEqual({
          subject: 'u7',
          tenantId: 'acme',
          scope: 'customer',
          via: 'jwt',
          claims: expect.objectContaining({ sub: 'u7' }),
          permissions: ['devices:*'],
          note: 'seen',
        });
      }
      expect(mapped).toEqual(['u7']);
      for (const base of [uncached, uncached]) {
        expect((await call(base, { authorization: bearer })).status).toBe(200);
      }
      expect(mapped).toEqual(['u7', 'u7', 'u7']);
    } finally {
      await Promise.all([cached.close(), uncached.close()]);
    }
  });

  it('does not ask a mapClaims deny-list again for a cached token, and asks it on every request with verifiedCacheSize 0', async () => {
    const suspended = new Set<string>();
    const withDenyList = (cacheSize?: number) =>
      serve(
        appWith(
          authenticate({
            jwt: cacheSize === undefined ? jwt : { ...jwt, verifiedCacheSize: cacheSize },
            mapClaims: (claims) => {
              if (suspended.has(claims.tenant_id as string)) throw new Error('tenant suspended');
              return { tenantId: claims.tenant_id as string, scope: 'customer' };
            },
          }),
        ),
      );
    const cached = await withDenyList();
    const uncached = await withDenyList(0);
    try {
      const bearer = `Bearer ${token({ sub: 'u8', tenant_id: 'acme' })}`;
      expect((await call(cached, { authorization: bearer })).status).toBe(200);
      expect((await call(uncached, { authorization: bearer })).status).toBe(200);
      suspended.add('acme');
      // As the mapClaims documentation says: the cached token keeps its first mapping.
      expect((await call(cached, { authorization: bearer })).status).toBe(200);
      expect((await call(uncached, { authorization: bearer })).status).toBe(401);
    } finally {
      await Promise.all([cached.close(), uncached.close()]);
    }
  });

  it('takes a key verifier answer given at once or as a promise, and answers 503 when it throws or rejects', async () => {
    const good = 'custom-key-value-1';
    const identity: ApiKeyIdentity = { id: 'k1', tenantId: 'acme', scopes: ['devices:read'] };
    const down = new Error('key store down');
    const verifiers: Record<string, ApiKeyVerifier> = {
      sync: { verify: (key) => (key === good ? identity : null) },
      async: { verify: async (key) => (key === good ? identity : null) },
      throws: {
        verify: () => {
          throw down;
        },
      },
      rejects: { verify: () => Promise.reject(down) },
    };
    const servers = await Promise.all(
      Object.values(verifiers).map((apiKeys) =>
        serve(appWith(authenticate({ apiKeys }), requirePermission('devices:read'))),
      ),
    );
    const [sync, async, throws, rejects] = servers as [Listening, Listening, Listening, Listening];
    try {
      for (const base of [sync, async]) {
        const ok = await call(base, { 'x-api-key': good });
        expect(ok.status).toBe(200);
        expect((await bodyOf(ok)).auth).toMatchObject({ via: 'api-key', apiKeyId: 'k1' });
        expect((await call(base, { 'x-api-key': `${good}x` })).status).toBe(401);
      }
      for (const base of [throws, rejects]) {
        const unavailable = await call(base, { 'x-api-key': good });
        expect(unavailable.status).toBe(503);
        expect(unavailable.headers.get('retry-after')).toBe('5');
        expect(await bodyOf(unavailable)).toMatchObject({ code: 'auth_unavailable' });
      }
    } finally {
      await Promise.all(servers.map((server) => server.close()));
    }
  });

  it('does not read credentials from the query string', async () => {
    const response = await fetch(
      `${server.url}/thing?access_token=${token({ sub: 'u1', tenant_id: 'acme' })}&api_key=${API_KEY}`,
    );
    expect(response.status).toBe(401);
  });

  it('refuses options that could never authenticate, or are misspelled', () => {
    expect(() => authenticate({})).toThrow(/neither `jwt` nor `apiKeys`/);
    expect(() => authenticate(undefined as never)).toThrow(RbacConfigError);
    expect(() => authenticate({ jwt, optinal: true } as never)).toThrow(/Did you mean `optional`/);
    expect(() => authenticate({ apiKeys: {} as never })).toThrow(/verify\(key\)/);
    expect(() => authenticate({ apiKeys: keys, apiKeyHeader: 'authorization' })).toThrow(
      RbacConfigError,
    );
    expect(() => authenticate({ jwt, permissions: {} as never })).toThrow(/permissionsFor/);
  });

  it('refuses a realm Node cannot put in a header at construction, instead of crashing on the first 401', () => {
    for (const realm of [
      'API – prod',
      'api\r\nSet-Cookie: x=1',
      'Zürich',
      '',
      'r'.repeat(129),
      42,
    ]) {
      let thrown: unknown;
      try {
        authenticate({ jwt, realm: realm as string });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(RbacConfigError);
      expect(thrown).toMatchObject({ code: 'ERR_BULWARK_RBAC_OPTIONS' });
      expect((thrown as Error).message).toMatch(/realm .* printable ASCII/);
    }
  });

  it('sends a printable ASCII realm in every challenge', async () => {
    const realm = await serve(appWith(authenticate({ jwt, realm: 'API - "prod"' })));
    try {
      const missing = await call(realm);
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="API - prod"');
      const invalid = await call(realm, { authorization: 'Bearer x.y.z' });
      expect(invalid.headers.get('www-authenticate')).toBe(
        'Bearer realm="API - prod", error="invalid_token"',
      );
    } finally {
      await realm.close();
    }
  });

  it('says which field mapClaims left out and what it takes, once at warn level, while the client gets the generic 401', async () => {
    const logs: { level: string; message: string; meta?: Record<string, unknown> }[] = [];
    const at = (level: string) => (message: string, meta?: Record<string, unknown>) =>
      logs.push({ level, message, ...(meta ? { meta } : {}) });
    const logger = { error: at('error'), warn: at('warn'), info: at('info') };
    const audited: AuditEntry[] = [];
    const noScope = await serve(
      appWith(
        authenticate({
          jwt,
          logger,
          audit: { record: (entry) => audited.push(entry) },
          mapClaims: (claims) => ({ tenantId: claims.org as string }),
        }),
      ),
    );
    const failures = capture('auth-failed');
    try {
      const bearer = `Bearer ${token({ sub: 'u1', org: 'acme' })}`;
      const first = await call(noScope, { authorization: bearer });
      const second = await call(noScope, { authorization: bearer });
      const unsigned = await call(server, { authorization: `Bearer ${token({ sub: 'u1' })}x` });
      for (const response of [first, second]) {
        expect(response.status).toBe(401);
        expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      }
      // The client learns nothing a forged token would not: the same body as a bad signature.
      expect(await bodyOf(first)).toEqual(await bodyOf(unsigned));
      const detail = {
        field: 'scope',
        problem: 'missing',
        expected: "'customer' or 'operator'",
        received: 'undefined',
      };
      expect(failures.messages.slice(0, 2)).toEqual([
        expect.objectContaining({ via: 'jwt', reason: 'claims', ...detail }),
        expect.objectContaining({ via: 'jwt', reason: 'claims', ...detail }),
      ]);
      const warnings = logs.filter((l) => l.level === 'warn');
      expect(warnings).toEqual([
        {
          level: 'warn',
          message: expect.stringContaining(
            "authenticate: mapClaims returned no scope (undefined); scope takes 'customer' or 'operator', so the token was refused with 401 (reason 'claims', field 'scope').",
          ),
          meta: { code: 'ERR_BULWARK_RBAC_CLAIMS', source: 'mapClaims', ...detail },
        },
      ]);
      expect(warnings[0]?.message).toContain("(claims) => ({ scope: 'customer', tenantId:");
      expect(logs.filter((l) => l.level === 'info')).toEqual([
        expect.objectContaining({ meta: expect.objectContaining({ reason: 'claims', ...detail }) }),
        expect.objectContaining({ meta: expect.objectContaining({ reason: 'claims', ...detail }) }),
      ]);
      expect(audited[0]?.details).toMatchObject({ via: 'jwt', reason: 'claims', ...detail });
    } finally {
      failures.stop();
      await noScope.close();
    }
  });

  it('names the claim a token lacks under the default mapping, and the registered claim it is missing', async () => {
    const failures = capture('auth-failed');
    try {
      for (const [claims, detail] of [
        [{ sub: 'u1' }, { field: 'tenant_id', problem: 'missing', received: 'undefined' }],
        [
          { sub: 'u1', tenant_id: 'acme', scope_type: 'admin' },
          {
            field: 'scope_type',
            problem: 'invalid',
            expected: "'customer' or 'operator' (absent means 'customer')",
            received: "'admin'",
          },
        ],
        [{ tenant_id: 'acme' }, { field: 'sub' }],
      ] as const) {
        const response = await call(server, { authorization: `Bearer ${token(claims)}` });
        expect(response.status).toBe(401);
        expect(failures.messages.at(-1), JSON.stringify(claims)).toMatchObject({
          reason: 'claims',
          ...detail,
        });
      }
    } finally {
      failures.stop();
    }
  });

  it('warns once, with the error name, when mapClaims throws, and when it returns no object', async () => {
    const warnings: { message: string; meta?: Record<string, unknown> }[] = [];
    const logger = {
      error() {},
      info() {},
      warn: (message: string, meta?: Record<string, unknown>) =>
        warnings.push({ message, ...(meta ? { meta } : {}) }),
    };
    const throwing = await serve(
      appWith(
        authenticate({
          jwt,
          logger,
          mapClaims: (claims) => ({
            scope: 'customer',
            tenantId: (claims.org as { id: string }).id,
          }),
        }),
      ),
    );
    const nothing = await serve(
      appWith(authenticate({ jwt, logger, mapClaims: (() => undefined) as never })),
    );
    const failures = capture('auth-failed');
    try {
      const bearer = `Bearer ${token({ sub: 'u1' })}`;
      for (const base of [throwing, throwing, nothing, nothing]) {
        expect((await call(base, { authorization: bearer })).status).toBe(401);
      }
      expect(failures.messages.map((m) => [m.field, m.problem, m.received])).toEqual([
        ['mapClaims', 'threw', 'TypeError'],
        ['mapClaims', 'threw', 'TypeError'],
        ['mapClaims', 'invalid', 'undefined'],
        ['mapClaims', 'invalid', 'undefined'],
      ]);
      expect(warnings.map((w) => w.meta?.code)).toEqual([
        'ERR_BULWARK_RBAC_CLAIMS',
        'ERR_BULWARK_RBAC_CLAIMS',
      ]);
      expect(warnings[0]?.message).toContain('authenticate: mapClaims threw TypeError');
      expect(warnings[0]?.meta?.error).toMatch(/^TypeError: Cannot read properties of undefined/);
      expect(warnings[1]?.message).toContain(
        'authenticate: mapClaims returned undefined, not an object such as',
      );
    } finally {
      failures.stop();
      await Promise.all([throwing.close(), nothing.close()]);
    }
  });

  it('refuses a customer without a tenant from a custom API key verifier with 401 (claims)', async () => {
    const identities: Record<string, ApiKeyIdentity> = {
      'legacy-key-no-tenant': { id: 'legacy', tenantId: null, scopes: ['devices:read'] },
      'legacy-key-empty-tenant': { id: 'empty', tenantId: '', scopes: ['devices:read'] },
      'legacy-key-bad-scope': {
        id: 'root',
        tenantId: 'acme',
        scope: 'root' as 'operator',
        scopes: ['*'],
      },
      'legacy-key-operator': { id: 'ops', tenantId: null, scope: 'operator', scopes: ['*'] },
    };
    const verifier: ApiKeyVerifier = { verify: (key) => identities[key] ?? null };
    const custom = await serve(
      appWith(authenticate({ apiKeys: verifier }), requirePermission('devices:read')),
    );
    const failures = capture('auth-failed');
    try {
      for (const key of [
        'legacy-key-no-tenant',
        'legacy-key-empty-tenant',
        'legacy-key-bad-scope',
      ]) {
        const response = await call(custom, { 'x-api-key': key });
        expect(response.status).toBe(401);
        expect(failures.messages.at(-1)).toMatchObject({ via: 'api-key', reason: 'claims' });
      }
      expect(failures.messages.slice(-3).map((m) => [m.field, m.problem, m.received])).toEqual([
        ['tenantId', 'missing', 'null'],
        ['tenantId', 'invalid', 'an empty string'],
        ['scope', 'invalid', "'root'"],
      ]);
      const operator = await call(custom, { 'x-api-key': 'legacy-key-operator' });
      expect(operator.status).toBe(200);
      expect((await bodyOf(operator)).auth).toMatchObject({ scope: 'operator', tenantId: null });
    } finally {
      failures.stop();
      await custom.close();
    }
  });
});
