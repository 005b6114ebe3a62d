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
