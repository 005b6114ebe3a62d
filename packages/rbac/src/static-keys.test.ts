// staticApiKeys and basicAuth over real HTTP: hashed secrets only, constant-time checks, the shared 401 shape.
import type { Listening } from '@bulwark/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate } from './authenticate.js';
import { RbacConfigError } from './errors.js';
import { requireOperator, requirePermission } from './permissions.js';
import { hashSecret } from './secrets.js';
import { basicAuth, staticApiKeys } from './static-keys.js';
import { appWith, bodyOf, capture, serve } from './test-support.js';

const KEY_A = 'a8Fh2kLw9QeR7tYu1IoP3zXc5VbN';
const KEY_B = 'Zq1Wx2Ec3Rv4Tb5Yn6Um7Ik8Ol9P';
const PASSWORD = 'correct horse battery staple';
const basic = (user: string, pass: string) =>
  `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

/** Two keys: `reader` (KEY_A, a SHA-256 hash, devices:read for acme) and `ops` (KEY_B, scrypt, operator). */
const readerAndOps = async () =>
  staticApiKeys({
    keys: [
      {
        id: 'reader',
        hash: await hashSecret(KEY_A, { algorithm: 'sha256' }),
        tenantId: 'acme',
        permissions: ['devices:read'],
      },
      {
        id: 'ops',
        hash: await hashSecret(KEY_B, { algorithm: 'scrypt', log2Cost: 14 }),
        scope: 'operator',
        permissions: ['*'],
      },
    ],
  });

describe('staticApiKeys', () => {
  let server: Listening;
  beforeAll(async () => {
    const keys = await readerAndOps();
    const app = appWith(keys, requirePermission('devices:read'));
    app.get('/ops', keys, requireOperator(), (_req, res) => res.json({ ok: true }));
    server = await serve(app);
  });
  afterAll(() => server?.close());

  const call = (key?: string, path = '/thing') =>
    fetch(`${server.url}${path}`, key ? { headers: { 'x-api-key': key } } : {});

  it('accepts a key given as a SHA-256 hash and sets req.auth', async () => {
    const response = await call(KEY_A);
    expect(response.status).toBe(200);
    expect((await bodyOf(response)).auth).toEqual({
      subject: 'api-key:reader',
      tenantId: 'acme',
      scope: 'customer',
      via: 'api-key',
      claims: {},
      permissions: ['devices:read'],
      apiKeyId: 'reader',
    });
  });

  it('accepts a key given as an scrypt hash', async () => {
    expect((await call(KEY_B, '/ops')).status).toBe(200);
    expect((await call(KEY_A, '/ops')).status).toBe(403);
    // Checked by scrypt a moment ago: remembered, and accepted the same way.
    expect((await call(KEY_B, '/ops')).status).toBe(200);
  });

  it('verifies SHA-256 and scrypt keys the same way for authenticate({ apiKeys })', async () => {
    const keys = await readerAndOps();
    const viaAuthenticate = await serve(
      appWith(authenticate({ apiKeys: keys }), requirePermission('devices:read')),
    );
    try {
      const send = (key: string) =>
        fetch(`${viaAuthenticate.url}/thing`, { headers: { 'x-api-key': key } });
      for (const [key, id] of [
        [KEY_A, 'reader'],
        [KEY_B, 'ops'],
        [KEY_B, 'ops'],
      ] as const) {
        const response = await send(key);
        expect(response.status).toBe(200);
        expect((await bodyOf(response)).auth).toMatchObject({ apiKeyId: id, via: 'api-key' });
      }
      expect((await send(`${KEY_B}x`)).status).toBe(401);
    } finally {
      await viaAuthenticate.close();
    }
  });

  it('answers a wrong, missing or malformed key with 401 unauthorized', async () => {
    for (const key of [undefined, `${KEY_A}x`, 'short', 'bad key with spaces']) {
      const response = await call(key);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('ApiKey header="x-api-key"');
      expect(await response.json()).toMatchObject({ code: 'unauthorized' });
    }
  });

  it('refuses plaintext keys and misconfigured principals at construction', () => {
    expect(() => staticApiKeys({ keys: [{ id: 'x', hash: KEY_A, tenantId: 'acme' }] })).toThrow(
      /never put the secret itself/,
    );
    try {
      staticApiKeys({ keys: [{ id: 'x', hash: KEY_A, tenantId: 'acme' }] });
    } catch (err) {
      expect((err as RbacConfigError).code).toBe('ERR_BULWARK_RBAC_HASH');
      expect((err as Error).message).not.toContain(KEY_A);
    }
    expect(() => staticApiKeys({ keys: [] })).toThrow(RbacConfigError);
    expect(() =>
      staticApiKeys({
        keys: [{ id: 'x', hash: '$sha256$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }],
      }),
    ).toThrow(/without a tenantId/);
    expect(() =>
      staticApiKeys({
        keys: [
          {
            id: 'x',
            hash: '$sha256$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
            tenantId: 't',
            permissions: ['ALL'],
          },
        ],
      }),
    ).toThrow(/permissions/);
    expect(() =>
      staticApiKeys({
        keys: [
          {
            id: 'x',
            hash: '$sha256$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
            tenantId: 't',
            scopes: [],
          },
        ],
      } as never),
    ).toThrow(/Did you mean `scope`/);
  });
});

describe('basicAuth', () => {
  let server: Listening;
  beforeAll(async () => {
    const auth = basicAuth({
      users: [
        {
          username: 'ops',
          hash: await hashSecret(PASSWORD, { log2Cost: 14 }),
          scope: 'operator',
          permissions: ['*'],
        },
      ],
      realm: 'bulwark',
    });
    server = await serve(appWith(auth, requireOperator()));
  });
  afterAll(() => server?.close());

  const call = (authorization?: string) =>
    fetch(`${server.url}/thing`, authorization ? { headers: { authorization } } : {});

  it('accepts the right password and sets req.auth', async () => {
    const response = await call(basic('ops', PASSWORD));
    expect(response.status).toBe(200);
    expect((await bodyOf(response)).auth).toMatchObject({
      subject: 'ops',
      via: 'basic',
      scope: 'operator',
      tenantId: null,
    });
    expect((await call(basic('ops', PASSWORD))).status).toBe(200);
  });

  it('answers a wrong password, an unknown user or a malformed header with 401 and a Basic challenge', async () => {
    const failures = capture('auth-failed');
    try {
      for (const header of [
        undefined,
        basic('ops', 'wrong'),
        basic('nobody', PASSWORD),
        'Basic !!!',
        'Basic Zm9v',
        'Bearer x',
      ]) {
        const response = await call(header);
        expect(response.status).toBe(401);
        expect(response.headers.get('www-authenticate')).toBe(
          'Basic realm="bulwark", charset="UTF-8"',
        );
        expect(await response.json()).toMatchObject({ code: 'unauthorized' });
      }
      expect(JSON.stringify(failures.messages)).not.toContain(PASSWORD);
    } finally {
      failures.stop();
    }
  });

  it('refuses a password given in plain text or as a bare SHA-256', () => {
    expect(() =>
      basicAuth({ users: [{ username: 'ops', hash: PASSWORD, scope: 'operator' }] }),
    ).toThrow(RbacConfigError);
    expect(() =>
      basicAuth({
        users: [
          {
            username: 'ops',
            hash: '$sha256$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
            scope: 'operator',
          },
        ],
      }),
    ).toThrow(/\$scrypt\$/);
    expect(() =>
      basicAuth({ users: [{ username: 'a:b', hash: '$sha256$x', scope: 'operator' }] }),
    ).toThrow(/username/);
  });

  it('refuses a realm that is not printable ASCII at construction, instead of crashing on the first 401', async () => {
    const hash = await hashSecret(PASSWORD, { log2Cost: 14 });
    for (const realm of ['Ops – EU', 'ops\r\nX-Injected: 1', '']) {
      expect(() =>
        basicAuth({ users: [{ username: 'ops', hash, scope: 'operator' }], realm }),
      ).toThrow(expect.objectContaining({ code: 'ERR_BULWARK_RBAC_OPTIONS' }));
    }
  });
});
