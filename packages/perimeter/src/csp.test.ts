// cspOverride() over real HTTP after secureHeaders(): merged per route, compiled once, nonce joined per response; and the nonce source.
import express from 'express';
import helmet from 'helmet';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jsonErrors } from '../test/app.js';
import { cspNonce, cspOverride, newNonce } from './csp.js';
import { type SecureHeadersOptions, secureHeaders } from './secure-headers.js';

const API = "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'";
const nonceIn = (header: string | undefined) => /'nonce-([A-Za-z0-9+/]+)'/.exec(header ?? '')?.[1];

function appWith(options: SecureHeadersOptions, mount: (app: express.Express) => void) {
  const app = express();
  app.use(secureHeaders(options));
  mount(app);
  app.use(jsonErrors);
  return app;
}

const send = (_req: express.Request, res: express.Response) => {
  res.json({ nonce: res.locals.cspNonce ?? null });
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe('cspOverride', () => {
  it('changes only the directives given, on the route it is mounted on', async () => {
    const app = appWith({}, (a) => {
      a.get('/embed', cspOverride({ 'frame-ancestors': ['https://partner.example'] }), send);
      a.get('/data', send);
    });
    const embed = await request(app).get('/embed').expect(200);
    expect(embed.headers['content-security-policy']).toBe(
      "default-src 'none';frame-ancestors https://partner.example;base-uri 'none';form-action 'none'",
    );
    expect(embed.headers['x-frame-options']).toBe('DENY');
    const data = await request(app).get('/data').expect(200);
    expect(data.headers['content-security-policy']).toBe(API);
  });

  it('merges into the page policy, keeping its nonce, and drops a directive given null', async () => {
    const app = appWith({ pages: { paths: ['/app'] } }, (a) => {
      a.get(
        '/app/chart',
        cspOverride({ 'img-src': ["'self'", 'blob:'], 'connect-src': null }),
        send,
      );
    });
    const res = await request(app).get('/app/chart').expect(200);
    const nonce = res.body.nonce as string;
    expect(nonceIn(res.headers['content-security-policy'])).toBe(nonce);
    expect(res.headers['content-security-policy']).toBe(
      `default-src 'self';script-src 'nonce-${nonce}' 'strict-dynamic' https: 'unsafe-inline';style-src 'self' 'nonce-${nonce}';img-src 'self' blob:;object-src 'none';base-uri 'none';frame-ancestors 'none';form-action 'self'`,
    );
    const again = await request(app).get('/app/chart').expect(200);
    expect(again.body.nonce).not.toBe(nonce);
  });

  it('compiles each merged policy once per base policy, however many requests follow', async () => {
    const compile = vi.spyOn(helmet, 'contentSecurityPolicy');
    const app = appWith({ pages: { paths: ['/app'] } }, (a) => {
      a.use(cspOverride({ 'form-action': ["'none'"] }));
      a.get('/app', send);
      a.get('/data', send);
    });
    compile.mockClear();
    const nonces = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const page = await request(app).get('/app').expect(200);
      expect(page.headers['content-security-policy']).toContain(";form-action 'none'");
      nonces.add(page.body.nonce);
      const data = await request(app).get('/data').expect(200);
      expect(data.headers['content-security-policy']).toBe(API);
    }
    expect(nonces.size).toBe(4);
    expect(compile).toHaveBeenCalledTimes(2);
  });

  it('applies chained overrides one after the other', async () => {
    const app = appWith({}, (a) => {
      const router = express.Router();
      router.use(cspOverride({ 'img-src': ["'self'"] }));
      router.get('/logo', cspOverride({ 'img-src': ["'self'", 'data:'] }), send);
      a.use('/brand', router);
    });
    const res = await request(app).get('/brand/logo').expect(200);
    expect(res.headers['content-security-policy']).toBe(`${API};img-src 'self' data:`);
  });

  it('gives a route outside pages a nonce when its override asks for one', async () => {
    const app = appWith({}, (a) => {
      a.get(
        '/login',
        cspOverride({
          'script-src': [cspNonce],
          'style-src': [cspNonce],
          'form-action': ["'self'"],
        }),
        send,
      );
    });
    const res = await request(app).get('/login').expect(200);
    expect(res.body.nonce).toMatch(/^[A-Za-z0-9+/]{24}$/);
    expect(res.headers['content-security-policy']).toBe(
      `default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'self';script-src 'nonce-${res.body.nonce}';style-src 'nonce-${res.body.nonce}'`,
    );
  });

  it('changes the report-only policy, or sends the changed enforced policy as report-only', async () => {
    const app = appWith(
      { pages: { paths: ['/app'], reportOnly: { 'default-src': ["'none'"] } } },
      (a) => {
        const tighter = cspOverride({ 'style-src': [cspNonce] }, { reportOnly: true });
        a.get('/app', tighter, send);
        a.get('/data', tighter, send);
      },
    );
    const page = await request(app).get('/app').expect(200);
    expect(page.headers['content-security-policy']).toContain("style-src 'self' 'nonce-");
    expect(page.headers['content-security-policy-report-only']).toBe(
      `default-src 'none';style-src 'nonce-${page.body.nonce}'`,
    );
    const data = await request(app).get('/data').expect(200);
    expect(data.headers['content-security-policy']).toBe(API);
    expect(data.headers['content-security-policy-report-only']).toBe(
      `${API};style-src 'nonce-${data.body.nonce}'`,
    );
  });

  it('keeps reportTo in the merged policy', async () => {
    const app = appWith({ reportTo: '/csp-reports' }, (a) => {
      a.get('/embed', cspOverride({ 'frame-ancestors': ["'self'"] }), send);
    });
    const res = await request(app).get('/embed').expect(200);
    expect(res.headers['content-security-policy']).toBe(
      "default-src 'none';frame-ancestors 'self';base-uri 'none';form-action 'none';report-uri /csp-reports;report-to csp-endpoint",
    );
  });

  it('answers 500 without details when secureHeaders() has not run before it', async () => {
    const app = express();
    app.get('/embed', cspOverride({ 'frame-ancestors': ["'self'"] }), send);
    const errors: unknown[] = [];
    app.use(
      (err: unknown, req: express.Request, res: express.Response, next: express.NextFunction) => {
        errors.push(err);
        jsonErrors(err, req, res, next);
      },
    );
    const res = await request(app).get('/embed').expect(500);
    expect(res.body).toEqual({
      code: 'ERR_BULWARK_PERIMETER_CSP_OVERRIDE_ORDER',
      message: 'Internal Server Error',
    });
    expect(res.headers['content-security-policy']).toBeUndefined();
    expect(errors[0]).toMatchObject({
      message: expect.stringContaining('Mount app.use(secureHeaders())'),
    });
  });

  it('refuses malformed changes when it is called', () => {
    const code = (c: string) => expect.objectContaining({ code: c });
    expect(() => cspOverride({})).toThrow(code('ERR_BULWARK_PERIMETER_INVALID_CSP'));
    expect(() => cspOverride({ 'default-src': null })).toThrow(/default-src: null would drop/);
    expect(() => cspOverride({ 'script-src': ['self'] })).toThrow(/must be in single quotes/);
    expect(() => cspOverride({ 'script-src': ["'self'; object-src *"] })).toThrow(
      code('ERR_BULWARK_PERIMETER_INVALID_CSP'),
    );
    expect(() => cspOverride({ 'script-src': ["'nonce-static'"] })).toThrow(
      code('ERR_BULWARK_PERIMETER_CSP_FIXED_NONCE'),
    );
    expect(() => cspOverride({ 'img-src': ['https://例え.jp'] })).toThrow(
      code('ERR_BULWARK_PERIMETER_INVALID_CSP'),
    );
    expect(() => cspOverride({ 'img-src': ['data:'] }, { reportonly: true } as never)).toThrow(
      /Did you mean `reportOnly`/,
    );
    expect(() => cspOverride({ 'img-src': ['data:'] }, { reportOnly: 'yes' as never })).toThrow(
      code('ERR_BULWARK_PERIMETER_INVALID_OPTION'),
    );
  });

  it('explains a route given cspOverride without the call', async () => {
    const app = appWith({}, (a) => {
      a.get('/embed', cspOverride as never, send);
    });
    const res = await request(app).get('/embed').expect(500);
    expect(res.body.code).toBe('ERR_BULWARK_PERIMETER_NOT_CALLED');
  });
});

describe('newNonce', () => {
  it('gives 144-bit base64 nonces that do not repeat across refills of its pool', () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const nonce = newNonce();
      expect(nonce).toMatch(/^[A-Za-z0-9+/]{24}$/);
      nonces.add(nonce);
    }
    expect(nonces.size).toBe(2000);
  });
});
