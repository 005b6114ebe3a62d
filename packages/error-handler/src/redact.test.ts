// Tests for redact(): key names, value shapes, nesting, arrays, cycles, errors and limits.
import { Agent, IncomingMessage, request } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ErrorHandlerConfigError } from './config.js';
import { DEFAULT_REDACT_KEYS, redact } from './redact.js';
import { captureLogger, deepFreeze } from './test-helpers.js';

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkZXZpY2UtNDIiLCJpYXQiOjE3MDAwMDAwMDB9.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk8';
const PEM = [
  '-----BEGIN PRIVATE KEY-----',
  'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj',
  'MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu',
  '-----END PRIVATE KEY-----',
].join('\n');

describe('redact by key name', () => {
  it('replaces every listed key at the top level', () => {
    const keys = [
      'authorization',
      'cookie',
      'set-cookie',
      'password',
      'passwd',
      'secret',
      'token',
      'access_token',
      'refresh_token',
      'api_key',
      'apikey',
      'x-api-key',
      'client_secret',
      'private_key',
    ];
    const input = Object.fromEntries(keys.map((key) => [key, `value-of-${key}`]));
    const out = redact(input) as Record<string, unknown>;
    for (const key of keys) expect(out[key]).toBe('[REDACTED]');
  });

  it('matches keys whatever their case and separators', () => {
    const out = redact({
      Authorization: 'x',
      ACCESS_TOKEN: 'y',
      accessToken: 'z',
      'X-Api-Key': 'k',
      ClientSecret: 's',
    });
    expect(out).toEqual({
      Authorization: '[REDACTED]',
      ACCESS_TOKEN: '[REDACTED]',
      accessToken: '[REDACTED]',
      'X-Api-Key': '[REDACTED]',
      ClientSecret: '[REDACTED]',
    });
  });

  it('treats keys ending in a secret word as secret but leaves look-alikes alone', () => {
    const out = redact({
      dbPassword: 'a',
      'x-auth-token': 'b',
      sessionCookie: 'c',
      max_tokens: 5,
      token_count: 3,
    });
    expect(out).toEqual({
      dbPassword: '[REDACTED]',
      'x-auth-token': '[REDACTED]',
      sessionCookie: '[REDACTED]',
      max_tokens: 5,
      token_count: 3,
    });
  });

  it('redacts access, secret, signing, encryption and session keys and a bare auth', () => {
    const out = redact({
      accessKeyId: 'id-shown',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      SECRET_KEY: 'django-insecure-abc123',
      signing_key: 'k1',
      encryptionKey: 'k2',
      sessionKey: 'k3',
      auth: { username: 'svc', password: 'pw' },
      author: 'ada',
      keyId: 'kid-1',
    });
    expect(out).toEqual({
      accessKeyId: 'id-shown',
      secretAccessKey: '[REDACTED]',
      SECRET_KEY: '[REDACTED]',
      signing_key: '[REDACTED]',
      encryptionKey: '[REDACTED]',
      sessionKey: '[REDACTED]',
      auth: '[REDACTED]',
      author: 'ada',
      keyId: 'kid-1',
    });
  });

  it('redacts keys at any depth, inside arrays and nested arrays', () => {
    const out = redact({
      request: { headers: { authorization: 'Bearer abc', accept: 'application/json' } },
      users: [{ name: 'ada', password: 'pw1' }, [{ secret: 's' }]],
    });
    expect(out).toEqual({
      request: { headers: { authorization: '[REDACTED]', accept: 'application/json' } },
      users: [{ name: 'ada', password: '[REDACTED]' }, [{ secret: '[REDACTED]' }]],
    });
  });

  it('replaces a whole object held under a secret key', () => {
    expect(redact({ credentials: { user: 'u', pass: 'p' } })).toEqual({
      credentials: '[REDACTED]',
    });
  });

  it('keeps null and missing secrets visible as such', () => {
    expect(redact({ password: null, token: undefined })).toEqual({
      password: null,
      token: undefined,
    });
  });

  it('adds a user list of key names and key patterns', () => {
    const out = redact(
      { ssn: '123-45-6789', 'x-internal-sig': 'abc', name: 'ada' },
      { keys: ['SSN', /^x-internal-/i] },
    );
    expect(out).toEqual({ ssn: '[REDACTED]', 'x-internal-sig': '[REDACTED]', name: 'ada' });
  });

  it('applies user key names to key=value pairs in text too', () => {
    expect(redact('lookup ssn=123-45-6789 name=ada', { keys: ['SSN'] })).toBe(
      'lookup ssn=[REDACTED] name=ada',
    );
    expect(redact('{"tax_id":"DE123"}', { keys: [/^tax_id$/] })).toBe('{"tax_id":"[REDACTED]"}');
  });

  it('writes a custom replacement as given, also one containing $', () => {
    expect(redact('password=hunter2 Bearer abc', { replacement: '$&' })).toBe(
      'password=$& Bearer $&',
    );
    expect(redact({ token: 'x' }, { replacement: '$1' })).toEqual({ token: '$1' });
  });
});

describe('redact by value shape', () => {
  it('hides Bearer and Basic credentials inside text', () => {
    expect(redact('auth failed for Bearer abc.def-123')).toBe('auth failed for Bearer [REDACTED]');
    expect(redact('header Basic dXNlcjpwYXNz')).toBe('header Basic [REDACTED]');
  });

  it('hides JWT-shaped strings', () => {
    expect(redact(`token was ${JWT} (expired)`)).toBe('token was [REDACTED] (expired)');
  });

  it('hides PEM blocks, also when cut off before their end line', () => {
    expect(redact(`key:\n${PEM}\nend`)).toBe('key:\n[REDACTED]\nend');
    expect(redact(`key: ${PEM.slice(0, 80)}`)).toBe('key: [REDACTED]');
  });

  it('hides passwords inside connection URLs but keeps the user and host', () => {
    expect(redact('connect to postgres://app:s3cr3t@db.internal:5432/iot failed')).toBe(
      'connect to postgres://app:[REDACTED]@db.internal:5432/iot failed',
    );
    expect(redact('redis://:hunter2@cache:6379')).toBe('redis://:[REDACTED]@cache:6379');
    expect(redact('amqps://svc:p%40ss@mq/vhost')).toBe('amqps://svc:[REDACTED]@mq/vhost');
  });

  it('hides secret key=value pairs in connection strings, query strings and JSON text', () => {
    expect(redact('host=db user=app password=hunter2 dbname=iot')).toBe(
      'host=db user=app password=[REDACTED] dbname=iot',
    );
    expect(redact('/cb?code=1&access_token=abc123&state=x')).toBe(
      '/cb?code=[REDACTED]&access_token=[REDACTED]&state=x',
    );
    expect(redact('body {"user":"ada","password":"hunter 2"}')).toBe(
      'body {"user":"ada","password":"[REDACTED]"}',
    );
    expect(redact('DB_PASSWORD=hunter2')).toBe('DB_PASSWORD=[REDACTED]');
  });

  it('hides SECRET_KEY-style environment pairs in text', () => {
    expect(redact('failed: AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG SECRET_KEY=abc')).toBe(
      'failed: AWS_SECRET_ACCESS_KEY=[REDACTED] SECRET_KEY=[REDACTED]',
    );
    expect(redact('signing_key: k1, session-key=k2')).toBe(
      'signing_key: [REDACTED], session-key=[REDACTED]',
    );
  });

  it('hides secrets in JSON escaped inside text', () => {
    expect(redact('upstream 400: {\\"password\\":\\"hunter2\\",\\"token\\":\\"tok_abc\\"}')).toBe(
      'upstream 400: {\\"password\\":\\"[REDACTED]\\",\\"token\\":\\"[REDACTED]\\"}',
    );
    expect(redact('{\\"user\\":\\"ada\\",\\"secret\\": \\"a b\\\\c\\"}')).toBe(
      '{\\"user\\":\\"ada\\",\\"secret\\": \\"[REDACTED]\\"}',
    );
  });

  it('hides the values of Cookie, Set-Cookie, Authorization and Proxy-Authorization lines', () => {
    const head = [
      'GET /v1/invoices HTTP/1.1',
      'Host: billing.internal',
      'Cookie: session=s%3AtopSecretSessionValue',
      'Authorization: Token 9944b09199c62bcf9418ad846dd0e4bb',
      'proxy-authorization:Basic c3ZjOnB3',
      'Set-Cookie: sid=abc; HttpOnly',
      '',
      '',
    ].join('\r\n');
    expect(redact(head)).toBe(
      [
        'GET /v1/invoices HTTP/1.1',
        'Host: billing.internal',
        'Cookie: [REDACTED]',
        'Authorization: [REDACTED]',
        'proxy-authorization:[REDACTED]',
        'Set-Cookie: [REDACTED]',
        '',
        '',
      ].join('\r\n'),
    );
    expect(
      redact('request headers: Authorization: Token 9944b09199c62bcf; Cookie: sid=s%3Aabc'),
    ).toBe('request headers: Authorization: [REDACTED]');
    expect(redact('sent {"cookie":"sid=abc","authorization":"Token xyz"}')).toBe(
      'sent {"cookie":"[REDACTED]","authorization":"[REDACTED]"}',
    );
  });

  it('hides well-known vendor token formats', () => {
    expect(redact('ghp_0123456789abcdefghijABCDEFGHIJ012345')).toBe('[REDACTED]');
    expect(redact('aws AKIAIOSFODNN7EXAMPLE used')).toBe('aws [REDACTED] used');
    expect(redact('sk_live_51H8abcdefghijklmnop')).toBe('[REDACTED]');
  });

  it('applies value shapes at any depth and in arrays', () => {
    const out = redact({ a: [{ b: `Bearer ${JWT}` }], note: 'postgres://u:pw@h/db' });
    expect(out).toEqual({ a: [{ b: 'Bearer [REDACTED]' }], note: 'postgres://u:[REDACTED]@h/db' });
  });

  it('adds user patterns', () => {
    expect(redact('acct_12345 moved', { patterns: [/\bacct_[0-9]+/] })).toBe('[REDACTED] moved');
  });

  it('leaves ordinary text alone', () => {
    const text = 'Device 42 sent 17 readings to /api/v1/telemetry at 12:00';
    expect(redact(text)).toBe(text);
  });
});

// The shape @bulwark/rbac issues: bwk_<12-character public prefix>_<32-character secret>.
const API_KEY_PREFIX = 'Q7rT2mXk9LpA';
const API_KEY_SECRET = 'f3Vd8sKq1ZyNw6HbR0cJtUe5GxMi4PoL';
const API_KEY = `bwk_${API_KEY_PREFIX}_${API_KEY_SECRET}`;

/** Writes `text` as a message, as a metadata string and as an error message, and reads it back. */
function throughLogger(text: string) {
  const { logger, raw, lines } = captureLogger();
  logger.info(text);
  logger.info('note', { note: text });
  logger.error('failed', { err: new Error(text) });
  const [asMessage, asField, asError] = lines();
  const err = asError!.err as Record<string, unknown>;
  return {
    raw: raw(),
    texts: [asMessage!.message, asField!.note, err.message],
    stack: String(err.stack),
  };
}

describe('redaction through createLogger: what must be hidden', () => {
  it.each<[string, unknown]>([
    ['pepper', 'pepper-0c1d2e3f4a5b6c7d8e9f'],
    ['apiKeyPepper', 'pepper-9f8e7d6c5b4a3f2e1d0c'],
    ['API_KEY_PEPPER', 'pepper-5b4a3f2e1d0c9f8e7d6c'],
    ['secretValue', 'sv-Zx81Kq0Lm2Nn'],
    ['privateKeyPem', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC'],
    ['jwt', 'hdr.payload-7Hq.sig-3Kd'],
    ['signature', 'c2lnbmF0dXJlLWJ5dGVz'],
    ['X-Hub-Signature-256', 'sha256=4f3a9c0d1e2b'],
    ['hmac', '9d1e2b4f3a9c0d1e2b4f'],
    ['bodyHmac', '2b4f3a9c0d1e2b4f3a9c'],
    ['passcode', '482913'],
    ['pw', 'hunter2-pw'],
    ['dbPw', 'hunter3-pw'],
    ['smtp_pass', 'hunter4-pass'],
    ['otp', 739201],
    ['totpCode', '552901'],
    ['authCode', 'SplxlOBeZQQYbYS6WxSbIA'],
    ['passwordHash', '$scrypt$ln=15$abc$def'],
    ['url_sig', 'sig-6c7d8e9f0a1b'],
    ['password2', 'second-password-value'],
  ])('hides the value of a %s field', (key, value) => {
    const { logger, raw, lines } = captureLogger();
    logger.info('stored', { [key]: value, nested: { [key]: value } });
    const [line] = lines();
    expect(line![key]).toBe('[REDACTED]');
    expect((line!.nested as Record<string, unknown>)[key]).toBe('[REDACTED]');
    expect(raw()).not.toContain(String(value));
  });

  it.each<[string, string, string, string]>([
    [
      'a Bulwark API key, keeping its public prefix',
      `authentication failed for ${API_KEY}`,
      `authentication failed for bwk_${API_KEY_PREFIX}_[REDACTED]`,
      API_KEY_SECRET,
    ],
    [
      'a malformed Bulwark API key',
      `refused bwk_${API_KEY_SECRET}`,
      'refused [REDACTED]',
      API_KEY_SECRET,
    ],
    [
      'an OAuth code in a callback URL',
      'GET /oauth/callback?state=af0ifjsldkj&code=SplxlOBeZQQYbYS6WxSbIA',
      'GET /oauth/callback?state=af0ifjsldkj&code=[REDACTED]',
      'SplxlOBeZQQYbYS6WxSbIA',
    ],
    [
      'the sig of an Azure SAS URL',
      'fetch https://acct.blob.core.windows.net/c/a.pdf?sv=2024-11-04&sp=r&sig=Kq8%2Bz1Nw%3D failed',
      'fetch https://acct.blob.core.windows.net/c/a.pdf?sv=2024-11-04&sp=r&sig=[REDACTED] failed',
      'Kq8%2Bz1Nw',
    ],
    [
      'the signature and token of an S3 presigned URL',
      'GET https://b.s3.amazonaws.com/k?X-Amz-Date=20260101T000000Z&X-Amz-Security-Token=FwoGZXIvYXdz&X-Amz-Signature=4f3a9c0d1e2b',
      'GET https://b.s3.amazonaws.com/k?X-Amz-Date=20260101T000000Z&X-Amz-Security-Token=[REDACTED]&X-Amz-Signature=[REDACTED]',
      '4f3a9c0d1e2b',
    ],
    [
      'the Signature of a CloudFront signed URL',
      'https://d1.cloudfront.net/v.mp4?Expires=1767225600&Signature=Rm9vQmFy~x&Key-Pair-Id=K2JCJMDEHXQW5F',
      'https://d1.cloudfront.net/v.mp4?Expires=1767225600&Signature=[REDACTED]&Key-Pair-Id=K2JCJMDEHXQW5F',
      'Rm9vQmFy',
    ],
    [
      'a URL password containing a slash',
      'connect postgres://u:pa/ss@db.internal:5432/iot failed',
      'connect postgres://u:[REDACTED]@db.internal:5432/iot failed',
      'pa/ss',
    ],
    [
      'a URL password made of slashes and digits',
      'redis://:12ab/34/56@cache:6379/0',
      'redis://:[REDACTED]@cache:6379/0',
      '12ab/34/56',
    ],
    [
      'pepper, pw, otp, passcode and hmac pairs',
      'API_KEY_PEPPER=pepper-0c1d2e3f pw=hunter2 otp: 739201 passcode=4829 hmac=9d1e2b4f',
      'API_KEY_PEPPER=[REDACTED] pw=[REDACTED] otp: [REDACTED] passcode=[REDACTED] hmac=[REDACTED]',
      '739201',
    ],
    [
      'secretValue, privateKeyPem, jwt and signature in JSON text',
      'body {"secretValue":"sv-Zx81","privateKeyPem":"MIIEvQIB","jwt":"a.b.c","signature":"c2ln"}',
      'body {"secretValue":"[REDACTED]","privateKeyPem":"[REDACTED]","jwt":"[REDACTED]","signature":"[REDACTED]"}',
      'sv-Zx81',
    ],
    [
      'a value in util.inspect output',
      "config { apiKeyPepper: 'pepper-5b4a3f2e', port: 3000 }",
      "config { apiKeyPepper: '[REDACTED]', port: 3000 }",
      'pepper-5b4a3f2e',
    ],
    [
      'a value after a secret key and a colon',
      'secret: hunter2 was rejected',
      'secret: [REDACTED] was rejected',
      'hunter2',
    ],
    [
      'an ordinary word after a secret key and a colon',
      'readSecret: sunshine was the value',
      'readSecret: [REDACTED] was the value',
      'sunshine',
    ],
  ])('hides %s', (_name, input, expected, secret) => {
    const out = throughLogger(input);
    expect(out.texts).toEqual([expected, expected, expected]);
    expect(out.stack).toContain(expected);
    expect(out.raw).not.toContain(secret);
  });

  it('hides name=value in text for every default key name', () => {
    for (const key of DEFAULT_REDACT_KEYS) {
      expect(redact(`${key}=v4lue-${key}`)).toBe(`${key}=[REDACTED]`);
      expect(redact({ [key]: 'v' })).toEqual({ [key]: '[REDACTED]' });
    }
  });
});

describe('redaction through createLogger: what must be kept', () => {
  it.each<[string, unknown]>([
    ['code', 'ECONNREFUSED'],
    ['errorCode', 'E42'],
    ['statusCode', 503],
    ['keyId', 'kid-1'],
    ['accessKeyId', 'AKID-shown'],
    ['secretName', 'prod/jwt'],
    ['passwordFile', '/run/secrets/db_password'],
    ['signatureAlgorithm', 'RS256'],
    ['bypass', 'cache'],
    ['compass', 'north'],
    ['author', 'ada'],
    ['max_tokens', 5],
    ['token_count', 3],
    ['pepperId', 4711],
  ])('keeps the value of a %s field', (key, value) => {
    const { logger, lines } = captureLogger();
    logger.info('stored', { [key]: value });
    expect(lines()[0]![key]).toEqual(value);
  });

  it.each<[string, string]>([
    [
      "readSecret's message for an unreadable file",
      'readSecret: the file named by JWT_SECRET_FILE could not be read (ENOENT). Check that JWT_SECRET_FILE points at a readable regular file mounted into the container.',
    ],
    [
      "readSecret's message when both variables are set",
      'readSecret: both JWT_SECRET and JWT_SECRET_FILE are set. Keep one: prefer JWT_SECRET_FILE with a file readable only by the app, and unset JWT_SECRET.',
    ],
    [
      "readSecret's message when neither variable is set",
      'readSecret: neither API_KEY_PEPPER_FILE nor API_KEY_PEPPER is set. Mount the secret as a file and set API_KEY_PEPPER_FILE to its path.',
    ],
    [
      "readSecret's message for a short secret",
      'readSecret: JWT_SECRET is 12 characters; at least 32 are required. (refused when NODE_ENV=production)',
    ],
    [
      "hashSecret's message for a short secret",
      'hashSecret: the secret is 12 bytes; SHA-256 is only safe for random keys of 22 characters or more. Use scrypt for passwords.',
    ],
    [
      "hashSecret's message for an algorithm it does not support",
      "hashSecret: the algorithm 'md5' is not supported. Use 'scrypt' or 'sha256'.",
    ],
    [
      "createApiKeys' message for a short pepper",
      'createApiKeys: the pepper is 12 bytes; at least 32 random bytes are needed. Generate one with generateSecret() and keep it in a secret file.',
    ],
    ["PostgreSQL's failed login", 'password authentication failed for user "app"'],
    ["jsonwebtoken's bad signature", 'JsonWebTokenError: invalid signature'],
    ["jsonwebtoken's expiry", 'TokenExpiredError: jwt expired'],
    [
      'a URL with a port and an e-mail address in its path',
      'GET http://localhost:3000/users/ada@example.org',
    ],
    ['an exit code and an error code', 'worker exited with code=1, errorCode=E42 after 3 retries'],
    [
      'the word secret in prose',
      'the secret is rotated every 90 days; the token count is in max_tokens=5',
    ],
    ['a query string without secrets', '/devices?page=2&sort=name&codec=h264'],
  ])('keeps %s', (_name, input) => {
    const out = throughLogger(input);
    expect(out.texts).toEqual([input, input, input]);
    expect(out.raw).not.toContain('[REDACTED]');
  });
});

describe('redact safety', () => {
  it('never mutates the input', () => {
    const input = deepFreeze({
      headers: { authorization: 'Bearer abc', cookie: 'sid=1' },
      list: [{ password: 'x' }],
      text: 'postgres://u:pw@h/db',
    });
    const snapshot = structuredClone(input);
    const out = redact(input);
    expect(input).toEqual(snapshot);
    expect(out).not.toBe(input);
  });

  it('survives circular references and marks them', () => {
    const a: Record<string, unknown> = { name: 'a', password: 'x' };
    const b: Record<string, unknown> = { name: 'b', parent: a };
    a.child = b;
    a.self = a;
    a.list = [a, b];
    const out = redact(a) as Record<string, unknown>;
    expect(out.self).toBe('[Circular]');
    expect((out.child as Record<string, unknown>).parent).toBe('[Circular]');
    expect(out.password).toBe('[REDACTED]');
    expect(() => JSON.stringify(out)).not.toThrow();
  });

  it('writes a shared, non-circular object each time it appears', () => {
    const shared = { id: 1 };
    expect(redact({ a: shared, b: shared })).toEqual({ a: { id: 1 }, b: { id: 1 } });
  });

  it('turns errors into records with stack, fields and cause chain, redacted', () => {
    const root = Object.assign(new Error('connect postgres://app:pw@db/iot refused'), {
      code: 'ECONNREFUSED',
    });
    const err = new Error('query failed', { cause: root });
    const out = redact({ err }) as { err: Record<string, unknown> };
    expect(out.err.name).toBe('Error');
    expect(out.err.message).toBe('query failed');
    expect(String(out.err.stack)).toContain('redact.test.ts');
    const cause = out.err.cause as Record<string, unknown>;
    expect(cause.code).toBe('ECONNREFUSED');
    expect(cause.message).toBe('connect postgres://app:[REDACTED]@db/iot refused');
    expect(String(cause.stack)).not.toContain(':pw@');
  });

  it('keeps every error of an AggregateError', () => {
    const out = redact(
      new AggregateError([new Error('one'), new Error('two')], 'both failed'),
    ) as Record<string, unknown>;
    expect((out.errors as Array<Record<string, unknown>>).map((e) => e.message)).toEqual([
      'one',
      'two',
    ]);
  });

  it('does not log the raw body body-parser attaches to its errors', () => {
    const err = Object.assign(new SyntaxError('Unexpected token'), {
      type: 'entity.parse.failed',
      body: 'p=hunter2',
    });
    const out = redact(err) as Record<string, unknown>;
    expect(out.type).toBe('entity.parse.failed');
    expect(out).not.toHaveProperty('body');
  });

  it("writes an HTTP client's request, response, socket and agent as short summaries, never their raw head", () => {
    const agent = new Agent({ keepAlive: true });
    const clientRequest = request('http://127.0.0.1:9/v1/invoices?api_key=abc123', {
      agent,
      headers: {
        Cookie: 'session=s%3AtopSecretSessionValue',
        Authorization: 'Token 9944b09199c62bcf9418ad846dd0e4bb',
      },
    });
    clientRequest.on('error', () => {});
    clientRequest.end(); // builds _header, the raw request head
    try {
      const socket = new Socket();
      const response = new IncomingMessage(socket);
      response.statusCode = 401;
      // The shape AxiosError and similar HTTP-client errors have.
      const err = Object.assign(new Error('Request failed with status code 401'), {
        request: clientRequest,
        response: { status: 401, request: clientRequest, raw: response },
        socket,
        agent,
      });
      const out = redact({ err }) as { err: Record<string, unknown> };
      const text = JSON.stringify(out);
      expect(text).not.toMatch(/topSecretSessionValue|9944b09199|abc123|_header/);
      expect(out.err.request).toBe('[ClientRequest GET 127.0.0.1/v1/invoices]');
      expect(out.err.response).toEqual({
        status: 401,
        request: '[ClientRequest GET 127.0.0.1/v1/invoices]',
        raw: '[IncomingMessage 401]',
      });
      expect(out.err.socket).toBe('[Socket]');
      expect(out.err.agent).toBe('[Agent]');
    } finally {
      clientRequest.destroy();
      agent.destroy();
    }
  });

  it('summarises binary data, dates, maps, sets, bigints and functions', () => {
    const out = redact({
      buf: Buffer.from('secret bytes'),
      when: new Date('2026-01-01T00:00:00Z'),
      map: new Map<string, unknown>([
        ['token', 'x'],
        ['a', 1],
      ]),
      set: new Set([1, 2]),
      big: 10n,
      fn: function handler() {},
    });
    expect(out).toEqual({
      buf: '[Binary 12 bytes]',
      when: '2026-01-01T00:00:00.000Z',
      map: { token: '[REDACTED]', a: 1 },
      set: [1, 2],
      big: '10',
      fn: '[Function handler]',
    });
  });

  it('redacts what toJSON returns, such as a URL with a password', () => {
    expect(redact({ url: new URL('postgres://app:pw@db/iot') })).toEqual({
      url: 'postgres://app:[REDACTED]@db/iot',
    });
  });

  it('survives getters that throw', () => {
    const tricky = Object.defineProperty({}, 'boom', {
      enumerable: true,
      get() {
        throw new Error('no');
      },
    });
    expect(redact(tricky)).toEqual({ boom: '[Unreadable]' });
  });

  it('caps depth, array length and string length', () => {
    const deep = { a: { b: { c: { d: 1 } } } };
    expect(redact(deep, { maxDepth: 2 })).toEqual({ a: { b: '[Truncated]' } });
    expect(redact([1, 2, 3, 4], { maxArrayLength: 2 })).toEqual([1, 2, '[2 more items]']);
    expect(redact('abcdef', { maxStringLength: 3 })).toBe('abc… [3 more characters]');
  });

  it('does not let a __proto__ key change the copy prototype', () => {
    const input = JSON.parse('{"__proto__": {"polluted": true}}') as object;
    const out = redact(input) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('handles a long run of word characters quickly enough to use on every log line', () => {
    const out = redact('a'.repeat(200_000), { maxStringLength: 300_000 });
    expect(out).toBe('a'.repeat(200_000));
  });
});

describe('redact options', () => {
  it('refuses an unknown option', () => {
    expect(() => redact('x', { kyes: ['a'] } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_UNKNOWN_OPTION' }),
    );
  });

  it('refuses an empty key name and a pattern that matches nothing in particular', () => {
    expect(() => redact('x', { keys: [''] })).toThrow(ErrorHandlerConfigError);
    expect(() => redact('x', { keys: [''] })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_REDACT_KEY' }),
    );
    expect(() => redact('x', { patterns: [/.*/] })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_ERRORS_REDACT_PATTERN' }),
    );
  });

  it('refuses a non-positive depth limit, quoting the value', () => {
    expect(() => redact('x', { maxDepth: 0 })).toThrow(/maxDepth: 0 is not valid/);
  });
});

describe('redact of a long text that comes back', () => {
  // A stack trace whose frames name an auth module: the trigger words start the pattern scan.
  const frames = Array.from(
    { length: 12 },
    (_, i) => `    at authenticate${i} (/srv/app/src/auth/session-${i}.js:${i + 10}:5)`,
  );
  const stack = ['Error: relation "devices" does not exist', ...frames].join('\n');

  it('leaves a clean text as it is each time, and redacts a text with a secret every time', () => {
    expect(stack.length).toBeGreaterThan(200);
    for (let i = 0; i < 3; i++) expect(redact({ stack })).toEqual({ stack });
    const leaky = `${stack}\n    password=hunter2 token: abc123`;
    for (let i = 0; i < 3; i++) {
      const { stack: out } = redact({ stack: leaky }) as { stack: string };
      expect(out).not.toMatch(/hunter2|abc123/);
      expect(out.startsWith(stack)).toBe(true);
    }
    // The same text built anew (another Error thrown from the same place) is the same text.
    const again = ['Error: relation "devices" does not exist', ...frames].join('\n');
    expect(redact({ stack: again })).toEqual({ stack });
  });

  it('stays right past the number of texts it keeps', () => {
    const texts = Array.from({ length: 600 }, (_, i) => `${stack}\n    at job-${i}`);
    for (const text of texts) expect(redact({ text })).toEqual({ text });
    for (const text of texts.slice(0, 300)) {
      expect(redact({ text })).toEqual({ text });
      const { text: out } = redact({ text: `${text} secret=s3cr3t-${text.length}` }) as {
        text: string;
      };
      expect(out).toBe(`${text} secret=[REDACTED]`);
    }
  });

  it('redacts a text of the same length as the clean one before it', () => {
    // Same length, one frame's path swapped for a credential: only the content tells them apart.
    const clean = `${stack}\n    at /srv/app/x.js:${'1'.repeat(14)}`;
    const leaky = `${stack}\n    at /srv/app/x.js:token=s3cr3t99`;
    expect(leaky.length).toBe(clean.length);
    for (let i = 0; i < 3; i++) {
      expect(redact({ clean })).toEqual({ clean });
      const { leaky: out } = redact({ leaky }) as { leaky: string };
      expect(out).toBe(`${stack}\n    at /srv/app/x.js:token=[REDACTED]`);
    }
  });

  it('is kept per set of rules: a text clean under the defaults is still redacted by a custom pattern', () => {
    expect(redact({ stack })).toEqual({ stack });
    expect(redact({ stack }, { patterns: [/session-\d+/] })).toEqual({
      stack: stack.replace(/session-\d+/g, '[REDACTED]'),
    });
  });
});
