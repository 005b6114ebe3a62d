// The JWT attack suite over real HTTP: every forged, stale or malformed token gets 401, never 500.
import {
  createHmac,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import type { Listening } from '@bulwark/test-utils';
import jsonwebtoken from 'jsonwebtoken';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { authenticate } from './authenticate.js';
import { RbacConfigError } from './errors.js';
import { createJwtVerifier, type JwtResult } from './jwt.js';
import { appWith, capture, serve } from './test-support.js';

const ISSUER = 'https://auth.example.test/';
const AUDIENCE = 'bulwark-api';
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
const shortRsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
const hmacSecret = Buffer.alloc(32, 7);
const now = () => Math.floor(Date.now() / 1000);
const good = () => ({
  sub: 'user-1',
  tenant_id: 'acme',
  iss: ISSUER,
  aud: AUDIENCE,
  iat: now(),
  exp: now() + 300,
});

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Builds a token by hand, so the attack cases are not limited to what a library will sign. */
function forge(
  header: Record<string, unknown> | string,
  payload: unknown,
  signer?: (input: string) => Buffer,
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${signer ? signer(input).toString('base64url') : ''}`;
}
const rs256 = (key: KeyObject) => (input: string) => sign('sha256', Buffer.from(input), key);
const es = (hash: string, key: KeyObject) => (input: string) =>
  sign(hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
const hs256 = (secret: Buffer | string) => (input: string) =>
  createHmac('sha256', secret).update(input).digest();

const jwtRs = {
  algorithms: ['RS256' as const],
  publicKey: rsa.publicKey,
  issuer: ISSUER,
  audience: AUDIENCE,
};
let rsServer: Listening;
let esServer: Listening;
let hsServer: Listening;
let rfcServer: Listening;
const failures = capture('auth-failed');

beforeAll(async () => {
  rsServer = await serve(appWith(authenticate({ jwt: jwtRs })));
  esServer = await serve(
    appWith(
      authenticate({
        jwt: { algorithms: ['ES256'], publicKey: ec.publicKey, issuer: ISSUER, audience: AUDIENCE },
      }),
    ),
  );
  hsServer = await serve(
    appWith(
      authenticate({
        jwt: { algorithms: ['HS256'], secret: hmacSecret, issuer: ISSUER, audience: AUDIENCE },
      }),
    ),
  );
  // RFC 7515 appendix A.1: the example HMAC key; its token expired in 2011.
  const rfcKey = Buffer.from(
    'AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow',
    'base64url',
  );
  rfcServer = await serve(
    appWith(
      authenticate({
        jwt: { algorithms: ['HS256'], secret: rfcKey, issuer: 'joe', audience: false },
      }),
    ),
  );
});

afterAll(async () => {
  failures.stop();
  await Promise.all([rsServer, esServer, hsServer, rfcServer].map((s) => s?.close()));
});

async function call(server: Listening, token: string, scheme = 'Bearer') {
  failures.messages.length = 0;
  const response = await fetch(`${server.url}/thing`, {
    headers: { authorization: `${scheme} ${token}` },
  });
  const body = (await response.json()) as Record<string, unknown>;
  return { response, body, reason: failures.messages.at(-1)?.reason };
}

async function expectRejected(server: Listening, token: string, reason?: string) {
  const { response, body, reason: seen } = await call(server, token);
  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  expect(body.code).toBe('unauthorized');
  expect(JSON.stringify(body)).not.toContain(token.slice(0, 20));
  if (reason) expect(seen).toBe(reason);
}

describe('authenticate with a JWT', () => {
  it('accepts a valid RS256 token and sets req.auth', async () => {
    const token = jsonwebtoken.sign(good(), rsa.privateKey, { algorithm: 'RS256' });
    const { response, body } = await call(rsServer, token);
    expect(response.status).toBe(200);
    expect(body.auth).toMatchObject({
      subject: 'user-1',
      tenantId: 'acme',
      scope: 'customer',
      via: 'jwt',
    });
  });

  it('accepts a valid ES256 and HS256 token on servers configured for them', async () => {
    expect(
      (
        await call(
          esServer,
          forge({ alg: 'ES256', typ: 'JWT' }, good(), es('sha256', ec.privateKey)),
        )
      ).response.status,
    ).toBe(200);
    expect(
      (await call(hsServer, forge({ alg: 'HS256' }, good(), hs256(hmacSecret)))).response.status,
    ).toBe(200);
  });

  it('answers a request without credentials with a bare Bearer challenge', async () => {
    const response = await fetch(`${rsServer.url}/thing`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    expect(await response.json()).toMatchObject({ code: 'unauthorized' });
  });
});

describe('the JWT attack suite', () => {
  it.each(['none', 'None', 'NONE', 'nOnE'])(
    'rejects a token with alg %s, unsigned and with a signature',
    async (alg) => {
      await expectRejected(rsServer, forge({ alg, typ: 'JWT' }, good()), 'algorithm');
      await expectRejected(rsServer, forge({ alg }, good(), hs256('')), 'algorithm');
      await expectRejected(hsServer, forge({ alg }, good(), hs256(hmacSecret)), 'algorithm');
    },
  );

  it('rejects an HS256 token signed with the server RSA public key (key confusion)', async () => {
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' });
    await expectRejected(rsServer, forge({ alg: 'HS256' }, good(), hs256(pem)), 'algorithm');
  });

  it('rejects an RS256 token on an HMAC server', async () => {
    await expectRejected(
      hsServer,
      forge({ alg: 'RS256' }, good(), rs256(rsa.privateKey)),
      'algorithm',
    );
  });

  it('rejects a token signed on the wrong curve, or with another ES algorithm', async () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    await expectRejected(
      esServer,
      forge({ alg: 'ES256' }, good(), es('sha256', p384.privateKey)),
      'signature',
    );
    await expectRejected(
      esServer,
      forge({ alg: 'ES384' }, good(), es('sha384', p384.privateKey)),
      'algorithm',
    );
  });

  it('rejects a token signed with a short RSA key', async () => {
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, good(), rs256(shortRsa.privateKey)),
      'signature',
    );
  });

  it.each(['jwk', 'jku', 'x5u', 'x5c'])(
    'rejects a token carrying its own key in a %s header',
    async (field) => {
      const values: Record<string, unknown> = {
        jwk: attacker.publicKey.export({ format: 'jwk' }),
        jku: 'https://attacker.example/jwks.json',
        x5u: 'https://attacker.example/cert.pem',
        x5c: ['MIIB'],
      };
      await expectRejected(
        rsServer,
        forge({ alg: 'RS256', [field]: values[field] }, good(), rs256(attacker.privateKey)),
        'header',
      );
    },
  );

  it.each([
    ['a path', '../../../../dev/null'],
    ['SQL', "x' UNION SELECT 'secret' --"],
    ['a control character', 'key\u0000id'],
    ['an oversized value', 'k'.repeat(300)],
  ])('rejects a token whose kid is %s, signed with an empty key', async (_label, kid) => {
    await expectRejected(hsServer, forge({ alg: 'HS256', kid }, good(), hs256('')));
  });

  it('rejects an expired token', async () => {
    const token = forge(
      { alg: 'RS256' },
      { ...good(), iat: now() - 600, exp: now() - 60 },
      rs256(rsa.privateKey),
    );
    await expectRejected(rsServer, token, 'expired');
  });

  it('rejects a token whose nbf or iat is in the future', async () => {
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, { ...good(), nbf: now() + 120 }, rs256(rsa.privateKey)),
      'not_yet_valid',
    );
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, { ...good(), iat: now() + 120 }, rs256(rsa.privateKey)),
      'not_yet_valid',
    );
  });

  it('accepts a token whose iat is ahead by less than the clock tolerance', async () => {
    const token = forge({ alg: 'RS256' }, { ...good(), iat: now() + 3 }, rs256(rsa.privateKey));
    expect((await call(rsServer, token)).response.status).toBe(200);
  });

  it('rejects a token without exp', async () => {
    const { exp: _exp, ...payload } = good();
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, payload, rs256(rsa.privateKey)),
      'claims',
    );
  });

  it('rejects a token with a non-numeric exp', async () => {
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, { ...good(), exp: '9999999999' }, rs256(rsa.privateKey)),
    );
  });

  it('rejects a wrong or missing issuer', async () => {
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, { ...good(), iss: 'https://evil.test/' }, rs256(rsa.privateKey)),
      'issuer',
    );
    const { iss: _iss, ...payload } = good();
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, payload, rs256(rsa.privateKey)),
      'issuer',
    );
  });

  it('rejects a wrong or missing audience', async () => {
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, { ...good(), aud: 'other-api' }, rs256(rsa.privateKey)),
      'audience',
    );
    const { aud: _aud, ...payload } = good();
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, payload, rs256(rsa.privateKey)),
      'audience',
    );
  });

  it('rejects a token whose payload was changed after signing', async () => {
    const token = forge({ alg: 'RS256' }, good(), rs256(rsa.privateKey));
    const [h, , s] = token.split('.');
    await expectRejected(
      rsServer,
      `${h}.${b64({ ...good(), sub: 'admin', tenant_id: 'other' })}.${s}`,
      'signature',
    );
  });

  it('rejects truncated tokens', async () => {
    const token = forge({ alg: 'RS256' }, good(), rs256(rsa.privateKey));
    const [h, p, s] = token.split('.') as [string, string, string];
    await expectRejected(rsServer, `${h}.${p}`, 'malformed');
    await expectRejected(rsServer, `${h}.${p}.`, 'signature');
    await expectRejected(rsServer, `${h}.${p}.${s.slice(0, 40)}`, 'signature');
    await expectRejected(rsServer, token.slice(0, 30), 'malformed');
    await expectRejected(rsServer, token.slice(0, token.length / 2));
  });

  it('rejects an oversized token', async () => {
    const payload = { ...good(), padding: 'x'.repeat(9000) };
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, payload, rs256(rsa.privateKey)),
      'malformed',
    );
  });

  it('rejects invalid base64url and invalid UTF-8 in a token', async () => {
    const token = forge({ alg: 'RS256' }, good(), rs256(rsa.privateKey));
    const [h, p, s] = token.split('.') as [string, string, string];
    await expectRejected(rsServer, `${h}.${p.slice(0, 10)}+/${p.slice(12)}.${s}`, 'malformed');
    await expectRejected(rsServer, `${h}!.${p}.${s}`, 'malformed');
    const badUtf8 = Buffer.from([
      0x7b, 0x22, 0x61, 0x6c, 0x67, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d,
    ]).toString('base64url');
    await expectRejected(rsServer, `${badUtf8}.${p}.${s}`, 'malformed');
    await expectRejected(rsServer, `${b64('[1,2]')}.${p}.${s}`, 'malformed');
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, '"just a string"', rs256(rsa.privateKey)),
      'malformed',
    );
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, 'not json at all', rs256(rsa.privateKey)),
      'malformed',
    );
    const utf8Payload = `${h}.${Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]).toString('base64url')}`;
    await expectRejected(
      rsServer,
      `${utf8Payload}.${rs256(rsa.privateKey)(utf8Payload).toString('base64url')}`,
      'malformed',
    );
  });

  it('rejects the RFC 7515 A.1 example token, which has expired', async () => {
    const rfc =
      'eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    await expectRejected(rfcServer, rfc, 'expired');
  });

  it('rejects a token with a crit header it does not understand', async () => {
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256', crit: ['exp'] }, good(), rs256(rsa.privateKey)),
      'header',
    );
  });

  it('rejects a token without a subject', async () => {
    const { sub: _sub, ...payload } = good();
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, payload, rs256(rsa.privateKey)),
      'claims',
    );
  });

  it('rejects a customer token without a tenant', async () => {
    const { tenant_id: _t, ...payload } = good();
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, payload, rs256(rsa.privateKey)),
      'claims',
    );
  });

  it('rejects a malformed Authorization header', async () => {
    const valid = forge({ alg: 'RS256' }, good(), rs256(rsa.privateKey));
    for (const [header, reason] of [
      ['Bearer', 'malformed'],
      ['Bearer  ', 'malformed'],
      ['Bearer a b', 'malformed'],
      [`Bearer ${valid} x`, 'malformed'],
      [`Bearer ${valid}\tx`, 'malformed'],
      ['Bearer\ttoken', 'missing'],
      [`Bearerx ${valid}`, 'missing'],
      [`Bear ${valid}`, 'missing'],
    ] as const) {
      failures.messages.length = 0;
      const response = await fetch(`${rsServer.url}/thing`, { headers: { authorization: header } });
      expect(response.status, header).toBe(401);
      expect(failures.messages.at(-1)?.reason, header).toBe(reason);
    }
  });

  it('reads the Bearer scheme in any case, with any number of spaces around the token', async () => {
    const valid = forge({ alg: 'RS256' }, good(), rs256(rsa.privateKey));
    for (const header of [`bearer ${valid}`, `BEARER   ${valid}  `, `BeArEr ${valid}`]) {
      const response = await fetch(`${rsServer.url}/thing`, { headers: { authorization: header } });
      expect(response.status, header).toBe(200);
    }
  });
});

describe('claims that JSON.parse would read in a way no issuer meant', () => {
  const payloadText = (extra: string) =>
    `{"sub":"user-1","tenant_id":"acme","iss":"${ISSUER}","aud":"${AUDIENCE}","iat":${now()},"exp":${now() + 300}${extra}}`;

  it('rejects a signed token that names its subject twice, where the last one used to win', async () => {
    // Signed with the server's own key, and accepted without the second name: only the
    // duplicate check refuses it.
    const plain = forge({ alg: 'RS256' }, payloadText(''), rs256(rsa.privateKey));
    expect((await call(rsServer, plain)).response.status).toBe(200);
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, payloadText(',"sub":"admin"'), rs256(rsa.privateKey)),
      'malformed',
    );
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, payloadText(',"tenant_id":"globex"'), rs256(rsa.privateKey)),
      'malformed',
    );
  });

  it('rejects a repeated claim spelled with escapes, or repeated inside a nested object', async () => {
    for (const extra of [
      ',"s\\u0075b":"admin"',
      ',"\\u0073\\u0075\\u0062":"admin"',
      ',"profile":{"role":"viewer","role":"admin"}',
      ',"grants":[{"scope":"read"},{"scope":"read","scope":"write"}]',
    ]) {
      await expectRejected(
        rsServer,
        forge({ alg: 'RS256' }, payloadText(extra), rs256(rsa.privateKey)),
        'malformed',
      );
    }
    // The same names in separate objects, and a name that only looks alike, are fine.
    const distinct = payloadText(
      ',"a":{"role":"x"},"b":{"role":"y"},"list":[{"k":1},{"k":2}],"subject":"s","note":"\\"sub\\":1"',
    );
    expect(
      (await call(rsServer, forge({ alg: 'RS256' }, distinct, rs256(rsa.privateKey)))).response
        .status,
    ).toBe(200);
  });

  it('rejects a signed token whose header names alg or kid twice', async () => {
    await expectRejected(
      rsServer,
      forge('{"alg":"RS256","alg":"RS256"}', good(), rs256(rsa.privateKey)),
      'malformed',
    );
    await expectRejected(
      hsServer,
      forge('{"alg":"HS256","kid":"a","typ":"JWT","kid":"b"}', good(), hs256(hmacSecret)),
      'malformed',
    );
    await expectRejected(
      hsServer,
      forge('{"alg":"none","\\u0061lg":"HS256"}', good(), hs256(hmacSecret)),
      'malformed',
    );
    expect(
      (await call(hsServer, forge('{"alg":"HS256","kid":"a"}', good(), hs256(hmacSecret)))).response
        .status,
    ).toBe(200);
  });

  it('rejects a signed token with exp 1e400, which JSON.parse reads as Infinity and never expired', async () => {
    const infinite = `{"sub":"user-1","tenant_id":"acme","iss":"${ISSUER}","aud":"${AUDIENCE}","iat":${now()},"exp":1e400}`;
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, infinite, rs256(rsa.privateKey)),
      'malformed',
    );
    const huge = `{"sub":"user-1","tenant_id":"acme","iss":"${ISSUER}","aud":"${AUDIENCE}","iat":${now()},"exp":${'9'.repeat(400)}}`;
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, huge, rs256(rsa.privateKey)),
      'malformed',
    );
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, payloadText(',"nbf":-1e400'), rs256(rsa.privateKey)),
      'malformed',
    );
  });

  it.each([
    ['exp after the year 9999', { exp: 253_402_300_800 }],
    ['exp of 1e300', { exp: 1e300 }],
    ['nbf before 1970', { nbf: -1 }],
    ['iat before 1970', { iat: -60 }],
    ['iat of -1e300', { iat: -1e300 }],
  ])('rejects a signed token with %s', async (_label, dates) => {
    await expectRejected(
      rsServer,
      forge({ alg: 'RS256' }, { ...good(), ...dates }, rs256(rsa.privateKey)),
      'claims',
    );
  });

  it('accepts dates at the edges of the range: nbf and iat at 1970, exp at the end of 9999', async () => {
    const token = forge(
      { alg: 'RS256' },
      { ...good(), nbf: 0, iat: 0, exp: 253_402_300_799 },
      rs256(rsa.privateKey),
    );
    expect((await call(rsServer, token)).response.status).toBe(200);
    const fractional = forge(
      { alg: 'RS256' },
      { ...good(), iat: now() - 0.5, exp: now() + 60.25 },
      rs256(rsa.privateKey),
    );
    expect((await call(rsServer, fractional)).response.status).toBe(200);
  });

  it('never remembers such a token: it is refused on every request, with the verified-token cache on and off', async () => {
    for (const verifiedCacheSize of [1000, 0]) {
      const server = await serve(
        appWith(
          authenticate({
            jwt: {
              algorithms: ['HS256'],
              secret: hmacSecret,
              issuer: ISSUER,
              audience: AUDIENCE,
              verifiedCacheSize,
            },
          }),
        ),
      );
      try {
        const sign = (payload: unknown) => forge({ alg: 'HS256' }, payload, hs256(hmacSecret));
        const fine = sign(payloadText(''));
        const duplicate = sign(payloadText(',"sub":"admin"'));
        const infinite = sign(payloadText('').replace(/"exp":\d+/, '"exp":1e400'));
        const farFuture = sign({ ...good(), exp: 1e300 });
        for (const token of [fine, fine]) {
          expect((await call(server, token)).response.status).toBe(200);
        }
        for (const token of [duplicate, infinite, duplicate, infinite]) {
          await expectRejected(server, token, 'malformed');
        }
        for (const token of [farFuture, farFuture]) await expectRejected(server, token, 'claims');
        expect((await call(server, fine)).response.status).toBe(200);
      } finally {
        await server.close();
      }
    }
  });
});

describe('JWT options', () => {
  it('enforces maxAgeSec on iat and a required typ header', async () => {
    const server = await serve(
      appWith(authenticate({ jwt: { ...jwtRs, maxAgeSec: 60, typ: 'at+jwt' } })),
    );
    try {
      const fresh = forge(
        { alg: 'RS256', typ: 'application/AT+JWT' },
        good(),
        rs256(rsa.privateKey),
      );
      expect((await call(server, fresh)).response.status).toBe(200);
      await expectRejected(
        server,
        forge({ alg: 'RS256', typ: 'JWT' }, good(), rs256(rsa.privateKey)),
        'type',
      );
      const old = forge(
        { alg: 'RS256', typ: 'at+jwt' },
        { ...good(), iat: now() - 120 },
        rs256(rsa.privateKey),
      );
      await expectRejected(server, old, 'expired');
    } finally {
      await server.close();
    }
  });

  const refuses = (jwt: Record<string, unknown>, code: string) => {
    let thrown: unknown;
    try {
      authenticate({ jwt: jwt as never });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(RbacConfigError);
    expect((thrown as RbacConfigError).code).toBe(code);
    return (thrown as RbacConfigError).message;
  };

  it('refuses to start without algorithms, or with none', () => {
    refuses(
      { publicKey: rsa.publicKey, issuer: ISSUER, audience: AUDIENCE },
      'ERR_BULWARK_RBAC_JWT_ALGORITHMS',
    );
    refuses({ ...jwtRs, algorithms: ['none'] }, 'ERR_BULWARK_RBAC_JWT_ALGORITHMS');
    refuses({ ...jwtRs, algorithms: ['RS256', 'HS256'] }, 'ERR_BULWARK_RBAC_JWT_ALGORITHMS');
  });

  it('refuses an HMAC secret shorter than the hash, without printing it', () => {
    const message = refuses(
      { algorithms: ['HS256'], secret: 'short-secret-value', issuer: ISSUER, audience: AUDIENCE },
      'ERR_BULWARK_RBAC_JWT_SECRET',
    );
    expect(message).toContain('18 bytes');
    expect(message).not.toContain('short-secret-value');
    refuses(
      { algorithms: ['HS512'], secret: Buffer.alloc(32, 1), issuer: ISSUER, audience: AUDIENCE },
      'ERR_BULWARK_RBAC_JWT_SECRET',
    );
  });

  it('refuses a short RSA key, a private key, or a key that does not fit the algorithm', () => {
    refuses({ ...jwtRs, publicKey: shortRsa.publicKey }, 'ERR_BULWARK_RBAC_JWT_KEY');
    refuses(
      { ...jwtRs, publicKey: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) },
      'ERR_BULWARK_RBAC_JWT_KEY',
    );
    refuses(
      {
        ...jwtRs,
        publicKey: createPrivateKey(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' })),
      },
      'ERR_BULWARK_RBAC_JWT_KEY',
    );
    refuses(
      { ...jwtRs, algorithms: ['ES384'], publicKey: ec.publicKey },
      'ERR_BULWARK_RBAC_JWT_KEY',
    );
    refuses({ ...jwtRs, secret: hmacSecret }, 'ERR_BULWARK_RBAC_JWT_KEY');
  });

  it('requires issuer and audience unless explicitly turned off', () => {
    refuses(
      { algorithms: ['RS256'], publicKey: rsa.publicKey, audience: AUDIENCE },
      'ERR_BULWARK_RBAC_JWT_ISSUER',
    );
    refuses(
      { algorithms: ['RS256'], publicKey: rsa.publicKey, issuer: ISSUER },
      'ERR_BULWARK_RBAC_JWT_AUDIENCE',
    );
    refuses({ ...jwtRs, issuer: '' }, 'ERR_BULWARK_RBAC_JWT_ISSUER');
  });

  it('refuses a misspelled option with a suggestion', () => {
    const message = refuses({ ...jwtRs, audiance: 'x' }, 'ERR_BULWARK_RBAC_UNKNOWN_OPTION');
    expect(message).toContain('Did you mean `audience`?');
  });

  it('refuses a lenient clock tolerance', () => {
    refuses({ ...jwtRs, clockToleranceSec: 3600 }, 'ERR_BULWARK_RBAC_JWT_OPTION');
    refuses({ ...jwtRs, clockToleranceSec: -1 }, 'ERR_BULWARK_RBAC_JWT_OPTION');
  });
});

/** HS256 options of the verified-token cache tests. */
const hsJwt = {
  algorithms: ['HS256' as const],
  secret: hmacSecret,
  issuer: ISSUER,
  audience: AUDIENCE,
};

describe('the verified-token cache', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refuses a remembered token once it expires, and after maxAgeSec', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const server = await serve(appWith(authenticate({ jwt: { ...hsJwt, maxAgeSec: 600 } })));
    try {
      const short = forge({ alg: 'HS256' }, { ...good(), exp: now() + 60 }, hs256(hmacSecret));
      const long = forge({ alg: 'HS256' }, { ...good(), exp: now() + 3600 }, hs256(hmacSecret));
      for (const token of [short, short, long, long]) {
        expect((await call(server, token)).response.status).toBe(200);
      }
      // exp + the 5 s clock tolerance has passed for the first; the second is still valid.
      vi.setSystemTime(Date.now() + 66_000);
      await expectRejected(server, short, 'expired');
      await expectRejected(server, short, 'expired');
      expect((await call(server, long)).response.status).toBe(200);
      // iat + maxAgeSec (600) + tolerance has passed, though exp has not.
      vi.setSystemTime(Date.now() + 560_000);
      await expectRejected(server, long, 'expired');
    } finally {
      await server.close();
    }
  });

  it('refuses a token with iat 0 under maxAgeSec every time, with the cache on and off', async () => {
    for (const verifiedCacheSize of [1000, 0]) {
      const server = await serve(
        appWith(authenticate({ jwt: { ...hsJwt, maxAgeSec: 60, verifiedCacheSize } })),
      );
      try {
        // jsonwebtoken measures maxAge from `iat || now`, so iat 0 looked freshly issued.
        const epoch = forge({ alg: 'HS256' }, { ...good(), iat: 0 }, hs256(hmacSecret));
        const negative = forge({ alg: 'HS256' }, { ...good(), iat: -5 }, hs256(hmacSecret));
        const { iat: _, ...noIat } = good();
        const missing = forge({ alg: 'HS256' }, noIat, hs256(hmacSecret));
        for (const token of [epoch, epoch, epoch, negative, missing]) {
          await expectRejected(server, token, 'claims');
        }
        const stale = forge({ alg: 'HS256' }, { ...good(), iat: now() - 3600 }, hs256(hmacSecret));
        await expectRejected(server, stale, 'expired');
        const fresh = forge({ alg: 'HS256' }, good(), hs256(hmacSecret));
        for (const token of [fresh, fresh]) {
          expect((await call(server, token)).response.status).toBe(200);
        }
      } finally {
        await server.close();
      }
    }
  });

  it('remembers the exact token only: a changed signature or payload is checked again', async () => {
    const server = await serve(appWith(authenticate({ jwt: hsJwt })));
    try {
      const token = forge({ alg: 'HS256' }, good(), hs256(hmacSecret));
      expect((await call(server, token)).response.status).toBe(200);
      const [header, payload, signature] = token.split('.') as [string, string, string];
      const otherSignature = hs256(Buffer.alloc(32, 8))(`${header}.${payload}`).toString(
        'base64url',
      );
      await expectRejected(server, `${header}.${payload}.${otherSignature}`, 'signature');
      // The remembered token's own signature, so its last characters too: refused all the same.
      const elevated = b64({ ...good(), sub: 'admin' });
      await expectRejected(server, `${header}.${elevated}.${signature}`, 'signature');
      await expectRejected(server, `${header}.${elevated}.${signature}`, 'signature');
      expect((await call(server, token)).response.status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('shares claims between requests only deeply frozen, so no request can change them for another', async () => {
    const token = forge(
      { alg: 'HS256' },
      { ...good(), permissions: ['devices:read'], profile: { role: 'viewer' } },
      hs256(hmacSecret),
    );
    const app = appWith((req, _res, next) => {
      const claims = req.auth!.claims as { permissions: string[]; profile: { role: string } };
      expect(Object.isFrozen(claims.permissions)).toBe(true);
      expect(Object.isFrozen(claims.profile)).toBe(true);
      expect(() => claims.permissions.push('devices:write')).toThrow(TypeError);
      next();
    });
    const server = await serve(
      appWith(authenticate({ jwt: hsJwt }), (req, res, next) => app(req, res, next)),
    );
    try {
      for (let i = 0; i < 2; i++) {
        const { response, body } = await call(server, token);
        expect(response.status).toBe(200);
        const auth = body.auth as { claims: { permissions: string[]; profile: unknown } };
        expect(auth.claims.permissions).toEqual(['devices:read']);
        expect(auth.claims.profile).toEqual({ role: 'viewer' });
      }
    } finally {
      await server.close();
    }
  });

  it('refuses a negative, fractional or non-numeric verifiedCacheSize', () => {
    for (const value of [-1, 1.5, 'big', Number.NaN]) {
      expect(() => authenticate({ jwt: { ...hsJwt, verifiedCacheSize: value as number } })).toThrow(
        expect.objectContaining({ code: 'ERR_BULWARK_RBAC_JWT_OPTION' }),
      );
    }
    expect(() => authenticate({ jwt: { ...hsJwt, verifiedCacheSize: 0 } })).not.toThrow();
  });
});

describe('the verified-token cache, read through its most recent entry', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const tokenFor = (sub: string, exp = now() + 300) =>
    forge({ alg: 'HS256' }, { ...good(), sub, exp }, hs256(hmacSecret));
  const verified = (result: JwtResult | Promise<JwtResult>) => {
    if (result instanceof Promise || !result.ok) throw new Error('expected a verified token');
    return result;
  };

  it('keeps the least-recently-used order of eviction over 3000 random requests', () => {
    const verify = createJwtVerifier({ ...hsJwt, verifiedCacheSize: 3 });
    const tokens = ['a', 'b', 'c', 'd', 'e', 'f'].map((sub) => tokenFor(sub));
    // The model: tokens from least to most recently used. A token the cache holds comes back as
    // the very result it was verified into; one it dropped is verified into a new result.
    const model: string[] = [];
    const last = new Map<string, object>();
    let state = 11;
    for (let i = 0; i < 3000; i++) {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      // Runs of the same token, as one client sends, and switches between clients.
      const token = tokens[Math.floor((state / 2 ** 31) * 8) % tokens.length]!;
      const result = verified(verify(token));
      const at = model.indexOf(token);
      if (at !== -1) {
        model.splice(at, 1);
        expect(result).toBe(last.get(token));
      } else {
        expect(result).not.toBe(last.get(token));
        if (model.length === 3) model.shift();
      }
      model.push(token);
      last.set(token, result);
    }
  });

  it('verifies a token again after it expired from the cache, even when it was the last one read', () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const verify = createJwtVerifier(hsJwt);
    const token = tokenFor('a', now() + 60);
    const first = verified(verify(token));
    expect(verify(token)).toBe(first);
    const start = Date.now();
    vi.setSystemTime(start + 66_000);
    expect(verify(token)).toEqual({ ok: false, reason: 'expired' });
    // Back within its lifetime (a clock stepped back): checked in full, not taken from memory.
    vi.setSystemTime(start);
    const again = verified(verify(token));
    expect(again).not.toBe(first);
    expect(verify(token)).toBe(again);
  });

  it('takes nothing but the exact token from the most recent entry', () => {
    const verify = createJwtVerifier(hsJwt);
    const token = tokenFor('user-1');
    const first = verified(verify(token));
    const [header, , signature] = token.split('.') as [string, string, string];
    // The last token's signature and last characters, with other claims: refused every time.
    const elevated = `${header}.${b64({ ...good(), sub: 'admin' })}.${signature}`;
    for (let i = 0; i < 3; i++) {
      expect(verify(elevated)).toEqual({ ok: false, reason: 'signature' });
      expect(verify(token)).toBe(first);
    }
    expect(verify(`${token} `)).toEqual({ ok: false, reason: 'malformed' });
    expect(verify(token)).toBe(first);
  });
});
