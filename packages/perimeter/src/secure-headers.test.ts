// secureHeaders() over real HTTP: the API preset, the docs and page policies, reporting, no-store and bad options.
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { cspNonce } from './csp.js';
import { type SecureHeadersOptions, secureHeaders } from './secure-headers.js';

/** The response's header lines as sent, in order, without those that change per response. */
async function rawHeaders(app: express.Express, path: string): Promise<string[]> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const raw = await new Promise<string[]>((resolve, reject) => {
      httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        res.resume();
        resolve(res.rawHeaders);
      })
        .on('error', reject)
        .end();
    });
    const lines: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      if (!/^(date|etag|content-length|connection|keep-alive)$/i.test(raw[i]!)) {
        lines.push(`${raw[i]}: ${raw[i + 1]}`);
      }
    }
    return lines;
  } finally {
    server.close();
  }
}

/** An app whose /app page renders the nonce it was given into its script and style elements. */
function pageApp(options: SecureHeadersOptions) {
  const app = express();
  app.use(secureHeaders(options));
  app.get('/app', (_req, res) => {
    const nonce = res.locals.cspNonce;
    res
      .type('html')
      .send(
        `<!doctype html><style nonce="${nonce}">b{}</style><script nonce="${nonce}">0</script>`,
      );
  });
  app.get('/app/settings', (_req, res) => {
    res.type('html').send(`<script nonce="${res.locals.cspNonce}"></script>`);
  });
  app.get('/data', (_req, res) => {
    res.json({ nonce: res.locals.cspNonce ?? null });
  });
  app.get('/docs', (_req, res) => {
    res.type('html').send('<!doctype html><title>docs</title>');
  });
  return app;
}

const nonceIn = (header: string | undefined) => /'nonce-([A-Za-z0-9+/]+)'/.exec(header ?? '')?.[1];

function appWith(options?: Parameters<typeof secureHeaders>[0]) {
  const app = express();
  app.use(secureHeaders(options));
  app.get('/data', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/docs', (_req, res) => {
    res.type('html').send('<!doctype html><title>docs</title>');
  });
  app.get('/docsearch', (_req, res) => {
    res.json({ ok: true });
  });
  return app;
}

describe('secureHeaders', () => {
  it('sends exactly the same API headers, in the same order, as before pages existed', async () => {
    const app = express();
    app.use(secureHeaders());
    app.get('/data', (_req, res) => {
      res.json({ ok: true });
    });
    expect(await rawHeaders(app, '/data')).toEqual([
      'Permissions-Policy: accelerometer=(), autoplay=(), camera=(), display-capture=(), fullscreen=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), picture-in-picture=(), publickey-credentials-get=(), screen-wake-lock=(), usb=(), xr-spatial-tracking=()',
      'Vary: Authorization, Cookie, X-API-Key',
      "Content-Security-Policy: default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'",
      'Cross-Origin-Opener-Policy: same-origin',
      'Cross-Origin-Resource-Policy: same-origin',
      'Origin-Agent-Cluster: ?1',
      'Referrer-Policy: no-referrer',
      'Strict-Transport-Security: max-age=31536000; includeSubDomains',
      'X-Content-Type-Options: nosniff',
      'X-DNS-Prefetch-Control: off',
      'X-Download-Options: noopen',
      'X-Frame-Options: DENY',
      'X-Permitted-Cross-Domain-Policies: none',
      'X-XSS-Protection: 0',
      'Content-Type: application/json; charset=utf-8',
    ]);
  });

  it('sends the JSON API preset on every response', async () => {
    const res = await request(appWith()).get('/data').expect(200);
    expect(res.headers['content-security-policy']).toBe(
      "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'",
    );
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
    expect(res.headers['cross-origin-resource-policy']).toBe('same-origin');
    expect(res.headers['permissions-policy']).toContain('camera=()');
    expect(res.headers['permissions-policy']).toContain('geolocation=()');
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['cache-control']).toBeUndefined();
  });

  it('marks responses to requests with credentials as no-store', async () => {
    const app = appWith();
    const bearer = await request(app).get('/data').set('Authorization', 'Bearer abc').expect(200);
    expect(bearer.headers['cache-control']).toBe('no-store');
    const cookie = await request(app).get('/data').set('Cookie', 'sid=1').expect(200);
    expect(cookie.headers['cache-control']).toBe('no-store');
  });

  it('marks the answer to an X-API-Key caller as no-store and names the key header in Vary', async () => {
    const app = appWith();
    const keyed = await request(app).get('/data').set('X-API-Key', 'k_live_1').expect(200);
    expect(keyed.headers['cache-control']).toBe('no-store');
    expect(keyed.headers.vary).toBe('Authorization, Cookie, X-API-Key');
    const anonymous = await request(app).get('/data').expect(200);
    expect(anonymous.headers['cache-control']).toBeUndefined();
    expect(anonymous.headers.vary).toBe('Authorization, Cookie, X-API-Key');
  });

  it('marks a response as no-store when an authenticator mounted after it sets req.auth', async () => {
    const app = express();
    app.use(secureHeaders());
    // Authenticates by something that is not a credential header, as a client certificate would.
    app.use((req, _res, next) => {
      if (req.query.device === 'd1') (req as { auth?: unknown }).auth = { subject: 'd1' };
      next();
    });
    app.get('/json', (_req, res) => {
      res.json({ tenant: 'acme' });
    });
    app.get('/stream', (_req, res) => {
      res.write('{"tenant":');
      res.end('"acme"}');
    });
    app.get('/head', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
    app.get('/cached', (_req, res) => {
      res.set('Cache-Control', 'private, max-age=60').json({ tenant: 'acme' });
    });
    for (const path of ['/json', '/stream', '/head']) {
      const authenticated = await request(app).get(`${path}?device=d1`).expect(200);
      expect(authenticated.headers['cache-control'], path).toBe('no-store');
      const anonymous = await request(app).get(path).expect(200);
      expect(anonymous.headers['cache-control'], path).toBeUndefined();
    }
    const chosen = await request(app).get('/cached?device=d1').expect(200);
    expect(chosen.headers['cache-control']).toBe('private, max-age=60');
  });

  it('marks an error answered after authentication as no-store too', async () => {
    const app = express();
    app.use(secureHeaders());
    app.use((req, _res, next) => {
      (req as { auth?: unknown }).auth = { subject: 'u1' };
      next();
    });
    app.get('/data', () => {
      throw Object.assign(new Error('Forbidden'), { status: 403, expose: true });
    });
    const res = await request(app).get('/data').expect(403);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('treats the configured credential headers as credentials and lists them in Vary', async () => {
    const app = appWith({
      credentialHeaders: ['Authorization', 'x-device-token', 'X-Device-Token'],
    });
    const device = await request(app).get('/data').set('X-Device-Token', 't').expect(200);
    expect(device.headers['cache-control']).toBe('no-store');
    expect(device.headers.vary).toBe('Authorization, x-device-token');
    const cookie = await request(app).get('/data').set('Cookie', 'sid=1').expect(200);
    expect(cookie.headers['cache-control']).toBeUndefined();
  });

  it('adds the credential headers to a Vary set before it and keeps what later middleware adds', async () => {
    const app = express();
    app.use((_req, res, next) => {
      res.setHeader('Vary', 'Accept-Encoding, cookie');
      next();
    });
    app.use(secureHeaders());
    app.get('/data', (_req, res) => {
      res.vary('Origin').json({ ok: true });
    });
    const res = await request(app).get('/data').expect(200);
    expect(res.headers.vary).toBe('Accept-Encoding, cookie, Authorization, X-API-Key, Origin');
  });

  it('refuses credential headers that are not header names, or that nothing would use', () => {
    for (const credentialHeaders of [['X API Key'], [], ['Authorization', ''], 'Authorization']) {
      expect(
        () => secureHeaders({ credentialHeaders: credentialHeaders as never }),
        JSON.stringify(credentialHeaders),
      ).toThrow(expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_OPTION' }));
    }
    expect(() => secureHeaders({ credentialHeaders: ['X API Key'] })).toThrow(
      /"X API Key" is not a header name/,
    );
    expect(() =>
      secureHeaders({ noStore: 'always', credentialHeaders: ['Authorization'] }),
    ).toThrow(/only used with noStore: 'authenticated'/);
  });

  it('sends no-store on every response when asked', async () => {
    const res = await request(appWith({ noStore: 'always' }))
      .get('/data')
      .expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('serves the relaxed docs policy only under the docs prefix', async () => {
    const app = appWith({ docsPaths: ['/docs'] });
    const docs = await request(app).get('/docs').expect(200);
    expect(docs.headers['content-security-policy']).toContain("script-src 'self'");
    expect(docs.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(docs.headers['x-frame-options']).toBe('DENY');
    const lookalike = await request(app).get('/docsearch').expect(200);
    expect(lookalike.headers['content-security-policy']).toContain("default-src 'none'");
  });

  it('adds preload only when asked, and can leave HSTS to the proxy', async () => {
    const preload = await request(appWith({ hsts: { preload: true } })).get('/data');
    expect(preload.headers['strict-transport-security']).toBe(
      'max-age=31536000; includeSubDomains; preload',
    );
    const explicit = await request(appWith({ hsts: true })).get('/data');
    expect(explicit.headers['strict-transport-security']).toBe(
      'max-age=31536000; includeSubDomains',
    );
    const none = await request(appWith({ hsts: false })).get('/data');
    expect(none.headers['strict-transport-security']).toBeUndefined();
  });

  it('refuses a short HSTS max-age and a preload without subdomains at construction', () => {
    expect(() => secureHeaders({ hsts: { maxAge: 300 } })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_HSTS' }),
    );
    expect(() => secureHeaders({ hsts: { preload: true, includeSubDomains: false } })).toThrow(
      expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_HSTS' }),
    );
  });

  it('catches a misspelled option with a hint', () => {
    expect(() => secureHeaders({ hst: false } as never)).toThrow(/Did you mean `hsts`/);
  });

  it('refuses at construction a source a header cannot carry, which made every response a 500', async () => {
    const invalid = expect.objectContaining({
      code: 'ERR_BULWARK_PERIMETER_INVALID_CSP',
      message: expect.stringContaining('https://例え.jp'),
    });
    const source = 'https://例え.jp';
    expect(() =>
      secureHeaders({ contentSecurityPolicy: { 'default-src': ["'none'"], 'img-src': [source] } }),
    ).toThrow(invalid);
    expect(() =>
      secureHeaders({
        docsPaths: ['/docs'],
        docsContentSecurityPolicy: { 'default-src': ["'self'"], 'connect-src': [source] },
      }),
    ).toThrow(invalid);
    expect(() =>
      secureHeaders({
        pages: { paths: ['/app'], reportOnly: { 'default-src': ["'self'"], 'img-src': [source] } },
      }),
    ).toThrow(invalid);
    expect(() => secureHeaders({ permissionsPolicy: { camera: [`"${source}"`] } })).toThrow(
      invalid,
    );
    // Latin-1 passes Node but reaches the browser as other characters than the ones written.
    expect(() =>
      secureHeaders({ contentSecurityPolicy: { 'default-src': ['https://bücher.example'] } }),
    ).toThrow(expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_CSP' }));
    // The punycode spelling is what a browser matches, and it is served.
    const app = express();
    app.use(
      secureHeaders({
        contentSecurityPolicy: { 'default-src': ["'none'"], 'img-src': ['https://xn--r8jz45g.jp'] },
      }),
    );
    app.get('/data', (_req, res) => {
      res.json({ ok: true });
    });
    const res = await request(app).get('/data').expect(200);
    expect(res.headers['content-security-policy']).toBe(
      "default-src 'none';img-src https://xn--r8jz45g.jp",
    );
  });

  it('refuses a directive value that would inject another directive', () => {
    expect(() =>
      secureHeaders({ contentSecurityPolicy: { 'default-src': ["'self'; script-src *"] } }),
    ).toThrow(expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_CSP' }));
  });

  it('explains app.use(secureHeaders) written without the call', async () => {
    const app = express();
    app.use(secureHeaders as never);
    app.use((err: { code?: string }, _req: Request, res: Response, _next: NextFunction) => {
      res.status(500).json({ code: err.code });
    });
    const res = await request(app).get('/').expect(500);
    expect(res.body.code).toBe('ERR_BULWARK_PERIMETER_NOT_CALLED');
  });
});

describe('secureHeaders pages', () => {
  it('gives each page response a fresh nonce, the same in the header and res.locals.cspNonce', async () => {
    const app = pageApp({ pages: { paths: ['/app'] } });
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const res = await request(app).get('/app').expect(200);
      const header = res.headers['content-security-policy'] as string;
      const nonce = nonceIn(header);
      expect(nonce).toMatch(/^[A-Za-z0-9+/]{24}$/);
      expect(Buffer.from(nonce!, 'base64')).toHaveLength(18);
      expect(res.text).toContain(`<script nonce="${nonce}">`);
      expect(res.text).toContain(`<style nonce="${nonce}">`);
      expect(header.split(`'nonce-${nonce}'`)).toHaveLength(3);
      seen.add(nonce!);
    }
    expect(seen.size).toBe(5);
  });

  it('sends the strict page policy under pages.paths and the API policy elsewhere', async () => {
    const app = pageApp({ docsPaths: ['/docs'], pages: { paths: ['/app'] } });
    const page = await request(app).get('/app/settings?tab=1').expect(200);
    const nonce = nonceIn(page.headers['content-security-policy']);
    expect(page.headers['content-security-policy']).toBe(
      `default-src 'self';script-src 'nonce-${nonce}' 'strict-dynamic' https: 'unsafe-inline';style-src 'self' 'nonce-${nonce}';img-src 'self' data:;connect-src 'self';object-src 'none';base-uri 'none';frame-ancestors 'none';form-action 'self'`,
    );
    expect(page.headers['content-security-policy-report-only']).toBeUndefined();
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    const api = await request(app).get('/data').expect(200);
    expect(api.headers['content-security-policy']).toBe(
      "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'",
    );
    expect(api.body).toEqual({ nonce: null });
    const docs = await request(app).get('/docs').expect(200);
    expect(docs.headers['content-security-policy']).toContain("script-src 'self';");
  });

  it('sends Referrer-Policy same-origin on pages, so their own form posts carry their Origin, and no-referrer elsewhere', async () => {
    const app = pageApp({ docsPaths: ['/docs'], pages: { paths: ['/app'] } });
    const page = await request(app).get('/app').expect(200);
    expect(page.headers['referrer-policy']).toBe('same-origin');
    const api = await request(app).get('/data').expect(200);
    expect(api.headers['referrer-policy']).toBe('no-referrer');
    const docs = await request(app).get('/docs').expect(200);
    expect(docs.headers['referrer-policy']).toBe('no-referrer');
  });

  it('answers /APP and /App/ with the page policy, a nonce and no-store, as Express routes them to /app', async () => {
    const app = pageApp({ docsPaths: ['/docs'], pages: { paths: ['/app'] } });
    for (const path of ['/APP', '/App/', '/aPp/Settings?tab=1']) {
      const res = await request(app).get(path).expect(200);
      const nonce = nonceIn(res.headers['content-security-policy']);
      expect(nonce, path).toMatch(/^[A-Za-z0-9+/]{24}$/);
      expect(res.text, path).toContain(`nonce="${nonce}"`);
      expect(res.headers['cache-control'], path).toBe('no-store');
      expect(res.headers['referrer-policy'], path).toBe('same-origin');
    }
    const docs = await request(app).get('/DOCS').expect(200);
    expect(docs.headers['content-security-policy']).toContain("script-src 'self';");
    expect((await request(app).get('/DATA').expect(200)).body).toEqual({ nonce: null });
  });

  it('matches page and docs paths exactly when the app sets case sensitive routing', async () => {
    const app = express();
    app.set('case sensitive routing', true);
    app.use(secureHeaders({ docsPaths: ['/docs'], pages: { paths: ['/app'] } }));
    app.get('/app', (_req, res) => {
      res.type('html').send(`<script nonce="${res.locals.cspNonce}"></script>`);
    });
    app.get('/APP', (_req, res) => {
      res.json({ nonce: res.locals.cspNonce ?? null });
    });
    const page = await request(app).get('/app').expect(200);
    expect(nonceIn(page.headers['content-security-policy'])).toBeDefined();
    const other = await request(app).get('/APP').expect(200);
    expect(other.body).toEqual({ nonce: null });
    expect(other.headers['content-security-policy']).toBe(
      "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'",
    );
    const docs = await request(app).get('/DOCS').expect(404);
    expect(docs.headers['content-security-policy']).not.toContain("script-src 'self';");
  });

  it('keeps page responses out of caches, which would repeat their nonce, unless told not to', async () => {
    const app = pageApp({ pages: { paths: ['/app'] } });
    const page = await request(app).get('/app').expect(200);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.headers.vary).toBe('Authorization, Cookie, X-API-Key');
    const api = await request(app).get('/data').expect(200);
    expect(api.headers['cache-control']).toBeUndefined();
    const own = express();
    own.use(secureHeaders({ pages: { paths: ['/app'] } }));
    own.get('/app', (_req, res) => {
      res.set('Cache-Control', 'private, max-age=60').type('html').send('<p>');
    });
    const chosen = await request(own).get('/app').expect(200);
    expect(chosen.headers['cache-control']).toBe('private, max-age=60');
    const left = await request(pageApp({ noStore: false, pages: { paths: ['/app'] } })).get('/app');
    expect(left.headers['cache-control']).toBeUndefined();
    const always = await request(pageApp({ noStore: 'always', pages: { paths: ['/app'] } })).get(
      '/app',
    );
    expect(always.headers['cache-control']).toBe('no-store');
  });

  it('puts the nonce wherever a custom page policy asks for it', async () => {
    const app = pageApp({
      pages: {
        paths: ['/app/'],
        contentSecurityPolicy: {
          'default-src': ["'none'"],
          'script-src': [cspNonce],
          'style-src': [cspNonce, "'self'"],
          'img-src': ["'self'"],
        },
      },
    });
    const res = await request(app).get('/app').expect(200);
    const nonce = nonceIn(res.headers['content-security-policy']);
    expect(res.headers['content-security-policy']).toBe(
      `default-src 'none';script-src 'nonce-${nonce}';style-src 'nonce-${nonce}' 'self';img-src 'self'`,
    );
  });

  it('sends the report-only policy beside the enforced one, with the same nonce', async () => {
    const app = pageApp({
      pages: {
        paths: ['/app'],
        reportOnly: {
          'default-src': ["'none'"],
          'script-src': [cspNonce, "'strict-dynamic'"],
          'require-trusted-types-for': ["'script'"],
        },
      },
    });
    const res = await request(app).get('/app').expect(200);
    const nonce = nonceIn(res.headers['content-security-policy']);
    expect(res.headers['content-security-policy']).toContain(`script-src 'nonce-${nonce}'`);
    expect(res.headers['content-security-policy-report-only']).toBe(
      `default-src 'none';script-src 'nonce-${nonce}' 'strict-dynamic';require-trusted-types-for 'script'`,
    );
    const api = await request(app).get('/data').expect(200);
    expect(api.headers['content-security-policy-report-only']).toBeUndefined();
  });

  it('requires Trusted Types on pages when asked, with the named policies only', async () => {
    const on = await request(pageApp({ pages: { paths: ['/app'], trustedTypes: true } })).get(
      '/app',
    );
    expect(on.headers['content-security-policy']).toMatch(
      /;form-action 'self';require-trusted-types-for 'script'$/,
    );
    const named = await request(
      pageApp({ pages: { paths: ['/app'], trustedTypes: { policies: ['default', 'dompurify'] } } }),
    ).get('/app');
    expect(named.headers['content-security-policy']).toMatch(
      /;require-trusted-types-for 'script';trusted-types default dompurify$/,
    );
    const none = await request(
      pageApp({ pages: { paths: ['/app'], trustedTypes: { policies: [] } } }),
    ).get('/app');
    expect(none.headers['content-security-policy']).toMatch(/;trusted-types 'none'$/);
    const api = await request(pageApp({ pages: { paths: ['/app'], trustedTypes: true } })).get(
      '/data',
    );
    expect(api.headers['content-security-policy']).not.toContain('trusted-types');
  });

  it("treats every path as a page with pages.paths ['/'], except the docs", async () => {
    const app = pageApp({ docsPaths: ['/docs'], pages: { paths: ['/'] } });
    const data = await request(app).get('/data').expect(200);
    expect(data.body.nonce).toBe(nonceIn(data.headers['content-security-policy']));
    const docs = await request(app).get('/docs').expect(200);
    expect(nonceIn(docs.headers['content-security-policy'])).toBeUndefined();
  });
});

describe('secureHeaders reportTo', () => {
  it('names the collector in every CSP header and in Reporting-Endpoints', async () => {
    const app = pageApp({
      reportTo: '/csp-reports',
      docsPaths: ['/docs'],
      pages: { paths: ['/app'], reportOnly: { 'default-src': ["'none'"] } },
    });
    const tail = ';report-uri /csp-reports;report-to csp-endpoint';
    for (const path of ['/data', '/docs', '/app']) {
      const res = await request(app).get(path).expect(200);
      expect(res.headers['content-security-policy'], path).toMatch(
        /;report-uri \/csp-reports;report-to csp-endpoint$/,
      );
      expect(res.headers['reporting-endpoints'], path).toBe('csp-endpoint="/csp-reports"');
    }
    const page = await request(app).get('/app').expect(200);
    expect(page.headers['content-security-policy-report-only']).toBe(`default-src 'none'${tail}`);
    const api = await request(app).get('/data');
    expect(api.headers['content-security-policy']).toBe(
      `default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'${tail}`,
    );
  });

  it('takes an absolute https URL, or http on loopback', async () => {
    const https = await request(pageApp({ reportTo: 'https://reports.example.com/csp' })).get(
      '/data',
    );
    expect(https.headers['reporting-endpoints']).toBe(
      'csp-endpoint="https://reports.example.com/csp"',
    );
    expect(https.headers['content-security-policy']).toContain(
      ';report-uri https://reports.example.com/csp;',
    );
    const local = await request(pageApp({ reportTo: 'http://127.0.0.1:8080/r' })).get('/data');
    expect(local.headers['reporting-endpoints']).toBe('csp-endpoint="http://127.0.0.1:8080/r"');
  });
});

describe('secureHeaders page and reporting misconfiguration', () => {
  const code = (c: string) => expect.objectContaining({ code: c });

  it('refuses pages without paths, with bad paths, or with paths the docs also claim', () => {
    expect(() => secureHeaders({ pages: {} as never })).toThrow(
      code('ERR_BULWARK_PERIMETER_INVALID_PATH'),
    );
    expect(() => secureHeaders({ pages: { paths: [] } })).toThrow(/pages.paths is empty/);
    expect(() => secureHeaders({ pages: ['/app'] as never })).toThrow(
      /pages: an array of 1 is not valid. Use an object such as \{ paths: \['\/app'\] \}/,
    );
    for (const paths of [['app'], ['/app?x'], '/app', [7]]) {
      expect(() => secureHeaders({ pages: { paths: paths as never } }), String(paths)).toThrow(
        code('ERR_BULWARK_PERIMETER_INVALID_PATH'),
      );
    }
    expect(() => secureHeaders({ docsPaths: ['/docs/'], pages: { paths: ['/docs'] } })).toThrow(
      /"\/docs" is in both docsPaths and pages.paths/,
    );
    expect(() => secureHeaders({ pages: { paths: ['/app'], trustedType: true } as never })).toThrow(
      /Did you mean `trustedTypes`/,
    );
  });

  it('refuses the nonce placeholder outside page policies', () => {
    for (const options of [
      { contentSecurityPolicy: { 'default-src': ["'none'"], 'script-src': [cspNonce] } },
      { docsPaths: ['/docs'], docsContentSecurityPolicy: { 'default-src': [cspNonce] } },
    ]) {
      expect(() => secureHeaders(options)).toThrow(
        code('ERR_BULWARK_PERIMETER_CSP_NONCE_OUTSIDE_PAGES'),
      );
    }
  });

  it('refuses a fixed nonce, which an injected script could copy', () => {
    expect(() =>
      secureHeaders({
        pages: {
          paths: ['/app'],
          contentSecurityPolicy: { 'default-src': ["'self'"], 'script-src': ["'nonce-abc123'"] },
        },
      }),
    ).toThrow(code('ERR_BULWARK_PERIMETER_CSP_FIXED_NONCE'));
  });

  it('refuses unquoted keywords, a policy without default-src, and report directives beside reportTo', () => {
    expect(() => secureHeaders({ contentSecurityPolicy: { 'default-src': ['self'] } })).toThrow(
      /"self" must be in single quotes \("'self'"\)/,
    );
    expect(() =>
      secureHeaders({ pages: { paths: ['/app'], reportOnly: { 'script-src': [cspNonce] } } }),
    ).toThrow(/pages.reportOnly: the policy has no default-src/);
    expect(() =>
      secureHeaders({
        reportTo: '/csp-reports',
        contentSecurityPolicy: { 'default-src': ["'none'"], 'report-uri': ['/other'] },
      }),
    ).toThrow(code('ERR_BULWARK_PERIMETER_INVALID_CSP'));
  });

  it('refuses Trusted Types settings that are not names, or that the page policy already has', () => {
    for (const trustedTypes of [
      'yes',
      { policies: 'default' },
      { policies: ['two words'] },
      { policies: ['a', 'a'] },
      { policies: ['*'] },
    ]) {
      expect(
        () => secureHeaders({ pages: { paths: ['/app'], trustedTypes: trustedTypes as never } }),
        JSON.stringify(trustedTypes),
      ).toThrow(code('ERR_BULWARK_PERIMETER_INVALID_TRUSTED_TYPES'));
    }
    expect(() =>
      secureHeaders({
        pages: {
          paths: ['/app'],
          trustedTypes: true,
          contentSecurityPolicy: {
            'default-src': ["'self'"],
            'require-trusted-types-for': ["'script'"],
          },
        },
      }),
    ).toThrow(code('ERR_BULWARK_PERIMETER_INVALID_TRUSTED_TYPES'));
  });

  it('refuses a report address browsers would not use or that would break the headers', () => {
    for (const reportTo of [
      'csp-reports',
      '//evil.example/r',
      'http://reports.example.com/csp',
      'https://user:pw@reports.example.com/csp',
      '/csp"reports',
      '/csp reports',
      '/csp;reports',
      '/csp#x',
      7,
    ]) {
      expect(() => secureHeaders({ reportTo: reportTo as never }), String(reportTo)).toThrow(
        code('ERR_BULWARK_PERIMETER_INVALID_REPORT_TO'),
      );
    }
    expect(() => secureHeaders({ reportTo: (() => {}) as never })).toThrow(
      /does not know the path it is mounted on/,
    );
  });
});
