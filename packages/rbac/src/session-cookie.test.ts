// authenticate({ sessionCookie }) over HTTP: a JWT read from a cookie, strictly, and only when no header carries a credential.
import type { Listening } from '@bulwark/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from './audit-log.js';
import { authenticate } from './authenticate.js';
import { RbacConfigError } from './errors.js';
import { requirePermission } from './permissions.js';
import { MAX_COOKIE_HEADER, readCookie } from './session-cookie.js';
import { appWith, bodyOf, capture, ciApiKey, jwtFor, serve, signToken } from './test-support.js';

const SECRET = Buffer.alloc(32, 7);
const API_KEY = `${'c'.repeat(20)}static-key-value`;
const COOKIE = '__Host-session';
const token = (claims: Record<string, unknown>, secret = SECRET) => signToken(secret, claims);
const jwt = jwtFor(SECRET);
const keys = ciApiKey(API_KEY);
const alice = token({ sub: 'alice', tenant_id: 'acme', permissions: ['devices:read'] });

describe('authenticate with a session cookie', () => {
  let server: Listening;
  let optional: Listening;
  const audited: AuditEntry[] = [];
  const logged: string[] = [];
  beforeAll(async () => {
    const logger = {
      error: () => {},
      warn: () => {},
      info: (message: string, meta?: Record<string, unknown>) =>
        logged.push(JSON.stringify({ message, meta })),
    };
    server = await serve(
      appWith(
        authenticate({
          jwt,
          apiKeys: keys,
          sessionCookie: COOKIE,
          logger,
          audit: { record: (entry) => audited.push(entry) },
        }),
        requirePermission('devices:read'),
      ),
    );
    optional = await serve(appWith(authenticate({ jwt, sessionCookie: COOKIE, optional: true })));
  });
  afterAll(async () => {
    await Promise.all([server, optional].map((s) => s?.close()));
  });

  const call = (base: Listening, headers: Record<string, string> = {}) =>
    fetch(`${base.url}/thing`, { headers });

  it('authenticates a browser request from the cookie, marked via cookie, and again from the cache', async () => {
    const events = capture('authenticated');
    try {
      for (let i = 0; i < 2; i++) {
        const response = await call(server, { cookie: `theme=dark; ${COOKIE}=${alice}; lang=en` });
        expect(response.status).toBe(200);
        expect((await bodyOf(response)).auth).toMatchObject({
          via: 'cookie',
          subject: 'alice',
          tenantId: 'acme',
          scope: 'customer',
          permissions: ['devices:read'],
        });
      }
      expect(events.messages.map((m) => [m.via, m.subject])).toEqual([
        ['cookie', 'alice'],
        ['cookie', 'alice'],
      ]);
    } finally {
      events.stop();
    }
  });

  it('reads the first cookie of exactly that name, in quotes or not', async () => {
    const bob = token({ sub: 'bob', tenant_id: 'acme', permissions: ['devices:read'] });
    const first = await call(server, { cookie: `${COOKIE}=${alice}; ${COOKIE}=${bob}` });
    expect((await bodyOf(first)).auth).toMatchObject({ subject: 'alice' });
    const quoted = await call(server, { cookie: `${COOKIE}="${bob}"` });
    expect((await bodyOf(quoted)).auth).toMatchObject({ subject: 'bob' });
    // Neither a longer name, a name in another case, nor a value that merely contains the name counts.
    for (const cookie of [
      `x${COOKIE}=${alice}`,
      `${COOKIE.toLowerCase()}=${alice}`,
      `${COOKIE}x=${alice}`,
      `other=${COOKIE}`,
    ]) {
      const response = await call(server, { cookie });
      expect(response.status, cookie).toBe(401);
      expect(response.headers.get('www-authenticate'), cookie).toBe('Bearer');
    }
  });

  it('answers a bad cookie with the same 401 as a bad Bearer token, never as anonymous', async () => {
    const failures = capture('auth-failed');
    try {
      const forged = token({ sub: 'mallory', tenant_id: 'acme' }, Buffer.alloc(32, 9));
      const expired = token({ sub: 'alice', tenant_id: 'acme', exp: 1_000 });
      const cases = [
        [forged, 'signature'],
        [expired, 'expired'],
        ['', 'malformed'],
        ['not a token', 'malformed'],
        [`${alice},x`, 'malformed'],
        ['a.b.c', 'malformed'],
      ] as const;
      const bearerBody = await bodyOf(await call(optional, { authorization: `Bearer ${forged}` }));
      for (const [value, reason] of cases) {
        for (const base of [server, optional]) {
          const response = await call(base, { cookie: `${COOKIE}=${value}` });
          expect(response.status, value).toBe(401);
          expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
          expect(await bodyOf(response)).toEqual(bearerBody);
          expect(failures.messages.at(-1), value).toMatchObject({ via: 'cookie', reason });
        }
      }
      expect(audited.at(-1)?.details).toMatchObject({ via: 'cookie', reason: 'malformed' });
      expect(logged.join('\n')).not.toContain(forged);
    } finally {
      failures.stop();
    }
  });

  it('lets a request without the cookie through in optional mode, and answers it 401 Bearer otherwise', async () => {
    expect((await bodyOf(await call(optional, { cookie: 'theme=dark' }))).auth).toBeNull();
    expect((await bodyOf(await call(optional))).auth).toBeNull();
    const missing = await call(server, { cookie: 'theme=dark' });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('uses a header credential over the cookie, and reads no cookie beside another Authorization scheme', async () => {
    const bob = token({ sub: 'bob', tenant_id: 'acme', permissions: ['devices:read'] });
    const byBearer = await call(server, {
      authorization: `Bearer ${bob}`,
      cookie: `${COOKIE}=${alice}`,
    });
    expect((await bodyOf(byBearer)).auth).toMatchObject({ via: 'jwt', subject: 'bob' });
    const byKey = await call(server, { 'x-api-key': API_KEY, cookie: `${COOKIE}=${alice}` });
    expect((await bodyOf(byKey)).auth).toMatchObject({ via: 'api-key', subject: 'api-key:ci' });
    // A bad header is not rescued by a good cookie.
    const badBearer = await call(server, {
      authorization: 'Bearer x.y.z',
      cookie: `${COOKIE}=${alice}`,
    });
    expect(badBearer.status).toBe(401);
    const basic = await call(server, {
      authorization: 'Basic dXNlcjpwYXNz',
      cookie: `${COOKIE}=${alice}`,
    });
    expect(basic.status).toBe(401);
    expect(basic.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('refuses a sessionCookie that is not a cookie name, or without jwt, at construction', () => {
    for (const name of ['', 'session id', 'a=b', 'a;b', '"quoted"', 'sé', 'x'.repeat(129), 42]) {
      let thrown: unknown;
      try {
        authenticate({ jwt, sessionCookie: name as string });
      } catch (err) {
        thrown = err;
      }
      expect(thrown, String(name)).toBeInstanceOf(RbacConfigError);
      expect(thrown).toMatchObject({ code: 'ERR_BULWARK_RBAC_SESSION_COOKIE' });
      expect((thrown as Error).message).toContain('is not a valid cookie name');
    }
    expect(() => authenticate({ apiKeys: keys, sessionCookie: COOKIE })).toThrow(
      expect.objectContaining({
        code: 'ERR_BULWARK_RBAC_SESSION_COOKIE',
        message: expect.stringContaining('`jwt` is not set'),
      }),
    );
    expect(() => authenticate({ jwt, sesionCookie: COOKIE } as never)).toThrow(
      /Did you mean `sessionCookie`/,
    );
  });

  it('describes the cookie as a security scheme for OpenAPI', () => {
    const described = (authenticate({ jwt, sessionCookie: COOKIE }) as { openapi?: unknown })
      .openapi as { schemes: unknown[] };
    expect(described.schemes).toContainEqual({
      name: 'sessionCookie',
      scheme: { type: 'apiKey', in: 'cookie', name: COOKIE },
    });
  });

  it('refuses a Cookie header past the size bound instead of scanning it', () => {
    const padding = `pad=${'p'.repeat(MAX_COOKIE_HEADER)}`;
    expect(readCookie(`${padding}; ${COOKIE}=${alice}`, COOKIE)).toBeNull();
    expect(readCookie(`${COOKIE}=${alice}; pad=p`, COOKIE)).toBe(alice);
    expect(readCookie(` \t${COOKIE}=${alice} \t`, COOKIE)).toBe(alice);
    expect(readCookie(`${COOKIE}`, COOKIE)).toBeUndefined();
  });
});
