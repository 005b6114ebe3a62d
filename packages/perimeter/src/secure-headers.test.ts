// secureHeaders() over real HTTP: the API preset, the docs policy, no-store and bad options.
import express, { type NextFunction, type Request, type Response } from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { secureHeaders } from './secure-headers.js';

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
