// The JWKS key resolver against a real local HTTP server: caching, cooldown, rotation and outages.
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Listening } from '@bulwark/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate } from './authenticate.js';
import { RbacConfigError } from './errors.js';
import { jwksKeyResolver } from './jwks.js';
import { appWith, capture, serve } from './test-support.js';
import type { Logger } from './types.js';

const ISSUER = 'https://auth.example.test/';
const AUDIENCE = 'bulwark-api';
const first = generateKeyPairSync('rsa', { modulusLength: 2048 });
const second = generateKeyPairSync('rsa', { modulusLength: 2048 });
const now = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function token(kid: string | undefined, key: KeyObject, alg = 'RS256'): string {
  const input = `${b64({ alg, ...(kid === undefined ? {} : { kid }) })}.${b64({ sub: 'u1', tenant_id: 't1', iss: ISSUER, aud: AUDIENCE, exp: now() + 60 })}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

const jwk = (key: KeyObject, kid: string, extra: Record<string, unknown> = {}) => ({
  ...key.export({ format: 'jwk' }),
  kid,
  use: 'sig',
  ...extra,
});

// What the JWKS server answers: a status and a body, changed by each test.
let answer: { status: number; body: string } = { status: 200, body: '' };
let jwksServer: Server;
let jwksUrl: string;
const warnings: string[] = [];
const logger: Logger = {
  error: () => {},
  warn: (message) => warnings.push(message),
  info: () => {},
};
const failures = capture('auth-failed');

beforeAll(async () => {
  jwksServer = createServer((_req, res) => {
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
});

afterAll(async () => {
  failures.stop();
  jwksServer.closeAllConnections();
  await new Promise((resolve) => jwksServer.close(resolve));
});

async function withApp(
  options: { cooldownMs?: number },
  run: (server: Listening, resolver: ReturnType<typeof jwksKeyResolver>) => Promise<void>,
) {
  const resolver = jwksKeyResolver({ url: jwksUrl, logger, ...options });
  const server = await serve(
    appWith(
      authenticate({
        jwt: { algorithms: ['RS256'], keyResolver: resolver, issuer: ISSUER, audience: AUDIENCE },
      }),
    ),
  );
  try {
    await run(server, resolver);
  } finally {
    await server.close();
  }
}

async function status(server: Listening, jwt: string) {
  failures.messages.length = 0;
  const response = await fetch(`${server.url}/thing`, {
    headers: { authorization: `Bearer ${jwt}` },
  });
  return {
    status: response.status,
    reason: failures.messages.at(-1)?.reason,
    header: response.headers.get('www-authenticate'),
  };
}

describe('jwksKeyResolver', () => {
  it('verifies tokens by kid and caches the key set', async () => {
    answer = { status: 200, body: JSON.stringify({ keys: [jwk(first.publicKey, 'k1')] }) };
    await withApp({}, async (server, resolver) => {
      expect((await status(server, token('k1', first.privateKey))).status).toBe(200);
      expect((await status(server, token('k1', first.privateKey))).status).toBe(200);
      expect(resolver.fetches).toBe(1);
    });
  });

  it('rejects an unknown kid with 401 and refetches at most once per cooldown', async () => {
    answer = { status: 200, body: JSON.stringify({ keys: [jwk(first.publicKey, 'k1')] }) };
    await withApp({ cooldownMs: 60_000 }, async (server, resolver) => {
      expect((await status(server, token('k1', first.privateKey))).status).toBe(200);
      for (const kid of ['nope', '../../dev/null', "1' OR '1'='1", 'k2']) {
        const result = await status(server, token(kid, second.privateKey));
        expect(result).toMatchObject({ status: 401, header: 'Bearer error="invalid_token"' });
        // A kid with spaces or control characters is refused before any lookup.
        expect(['unknown_key', 'header']).toContain(result.reason);
      }
      expect(resolver.fetches).toBe(1);
    });
  });

  it('picks up a rotated key once the cooldown has passed', async () => {
    answer = { status: 200, body: JSON.stringify({ keys: [jwk(first.publicKey, 'k1')] }) };
    await withApp({ cooldownMs: 1 }, async (server) => {
      expect((await status(server, token('k1', first.privateKey))).status).toBe(200);
      answer = {
        status: 200,
        body: JSON.stringify({ keys: [jwk(first.publicKey, 'k1'), jwk(second.publicKey, 'k2')] }),
      };
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect((await status(server, token('k2', second.privateKey))).status).toBe(200);
    });
  });

  it('answers 401, not 500, when the JWKS endpoint fails or lies', async () => {
    const bodies = [
      { status: 500, body: 'oops' },
      { status: 200, body: 'not json' },
      { status: 200, body: JSON.stringify({ keys: 'nope' }) },
      {
        status: 200,
        body: JSON.stringify({ keys: [{ kty: 'RSA', kid: 'k1', n: 'AA', e: 'AQAB' }] }),
      },
      {
        status: 200,
        body: JSON.stringify({ keys: [{ ...jwk(first.publicKey, 'k1'), alg: 'RS512' }] }),
      },
      { status: 200, body: JSON.stringify({ keys: [jwk(first.publicKey, 'k1', { use: 'enc' })] }) },
      { status: 200, body: `{"keys":[],"pad":"${'x'.repeat(300_000)}"}` },
    ];
    for (const body of bodies) {
      answer = body;
      warnings.length = 0;
      await withApp({}, async (server) => {
        const result = await status(server, token('k1', first.privateKey));
        expect(result.status).toBe(401);
        expect(['unknown_key', 'key_unavailable']).toContain(result.reason);
      });
    }
  });

  it('answers 401 with key_unavailable when the JWKS host is down, and logs a warning', async () => {
    const resolver = jwksKeyResolver({
      url: 'http://127.0.0.1:9/jwks.json',
      logger,
      timeoutMs: 1000,
    });
    const server = await serve(
      appWith(
        authenticate({
          jwt: { algorithms: ['RS256'], keyResolver: resolver, issuer: ISSUER, audience: AUDIENCE },
        }),
      ),
    );
    warnings.length = 0;
    try {
      expect(await status(server, token('k1', first.privateKey))).toMatchObject({
        status: 401,
        reason: 'key_unavailable',
      });
      expect(warnings.join()).toContain('JWKS could not be fetched');
    } finally {
      await server.close();
    }
  });

  it('keeps known keys when a refetch fails', async () => {
    answer = { status: 200, body: JSON.stringify({ keys: [jwk(first.publicKey, 'k1')] }) };
    await withApp({ cooldownMs: 1 }, async (server) => {
      expect((await status(server, token('k1', first.privateKey))).status).toBe(200);
      answer = { status: 503, body: '' };
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect((await status(server, token('k9', second.privateKey))).status).toBe(401);
      expect((await status(server, token('k1', first.privateKey))).status).toBe(200);
    });
  });

  it('rejects a token without a kid', async () => {
    answer = { status: 200, body: JSON.stringify({ keys: [jwk(first.publicKey, 'k1')] }) };
    await withApp({}, async (server) => {
      expect(await status(server, token(undefined, first.privateKey))).toMatchObject({
        status: 401,
        reason: 'unknown_key',
      });
    });
  });

  it('ignores symmetric and private keys published in a key set', async () => {
    const secret = Buffer.alloc(32, 3);
    answer = {
      status: 200,
      body: JSON.stringify({
        keys: [
          { kty: 'oct', kid: 'h1', k: secret.toString('base64url') },
          { ...first.privateKey.export({ format: 'jwk' }), kid: 'p1' },
        ],
      }),
    };
    await withApp({}, async (server) => {
      expect((await status(server, token('p1', first.privateKey))).status).toBe(401);
    });
  });

  it('refuses a plain-http URL to a remote host, and a malformed URL', () => {
    expect(() => jwksKeyResolver({ url: 'http://auth.example.com/jwks.json' })).toThrow(
      RbacConfigError,
    );
    expect(() => jwksKeyResolver({ url: 'not a url' })).toThrow(/not a valid URL/);
    expect(() =>
      jwksKeyResolver({ url: 'https://auth.example.com/jwks.json', cooldownMs: -5 }),
    ).toThrow(/cooldownMs/);
    expect(() =>
      jwksKeyResolver({ url: 'http://auth.internal/jwks.json', allowInsecureHttp: true }),
    ).not.toThrow();
  });
});
