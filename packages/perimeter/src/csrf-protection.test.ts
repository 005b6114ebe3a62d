// csrfProtection() over real HTTP: same-origin and listed origins pass, cross-site unsafe requests do not.
import { type Listening, listen } from '@bulwark/test-utils';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonErrors, rawRequest } from '../test/app.js';
import { csrfProtection } from './csrf-protection.js';

const running: Listening[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.close();
});

async function serve(options?: Parameters<typeof csrfProtection>[0], trustProxy?: string) {
  const state = { writes: 0 };
  const app = express();
  if (trustProxy) app.set('trust proxy', trustProxy);
  app.use(csrfProtection(options));
  app.get('/account', (_req, res) => {
    res.json({ writes: state.writes });
  });
  app.post('/account/email', (_req, res) => {
    state.writes++;
    res.json({ ok: true });
  });
  app.use(jsonErrors);
  const server = await listen(app);
  running.push(server);
  return { port: server.port, state };
}

const post = (port: number, headers: Record<string, string>) =>
  rawRequest({
    port,
    method: 'POST',
    path: '/account/email',
    headers: { Cookie: 'sid=1', ...headers },
  });

describe('csrfProtection', () => {
  it('lets a same-origin form or fetch through', async () => {
    const { port, state } = await serve();
    const res = await post(port, {
      Origin: `http://127.0.0.1:${port}`,
      'Sec-Fetch-Site': 'same-origin',
    });
    expect(res.status).toBe(200);
    expect(state.writes).toBe(1);
  });

  it('refuses a cross-site POST with 403 csrf_rejected and runs no handler', async () => {
    const { port, state } = await serve();
    const res = await post(port, {
      Origin: 'https://evil.example',
      'Sec-Fetch-Site': 'cross-site',
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toEqual({
      code: 'csrf_rejected',
      message: 'Cross-site request refused',
    });
    expect(state.writes).toBe(0);
  });

  it('lets a listed front-end origin through', async () => {
    const { port } = await serve({ origins: 'https://app.example.com' });
    const res = await post(port, {
      Origin: 'https://app.example.com',
      'Sec-Fetch-Site': 'cross-site',
    });
    expect(res.status).toBe(200);
  });

  it('falls back to Sec-Fetch-Site when the browser sends no Origin', async () => {
    const { port } = await serve();
    expect((await post(port, { 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    expect((await post(port, { 'Sec-Fetch-Site': 'same-site' })).status).toBe(403);
    expect((await post(port, { 'Sec-Fetch-Site': 'same-origin' })).status).toBe(200);
  });

  it('refuses the opaque null origin of sandboxed frames', async () => {
    const { port } = await serve({ origins: ['https://app.example.com'] });
    expect((await post(port, { Origin: 'null' })).status).toBe(403);
    expect((await post(port, { Origin: 'null', 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
  });

  it('lets a form through from its own page under Referrer-Policy no-referrer, which sends Origin null', async () => {
    const { port, state } = await serve();
    const res = await post(port, { Origin: 'null', 'Sec-Fetch-Site': 'same-origin' });
    expect(res.status).toBe(200);
    expect(state.writes).toBe(1);
  });

  it('lets non-browser clients without Origin through unless origins are required', async () => {
    const open = await serve();
    expect((await post(open.port, {})).status).toBe(200);
    const strict = await serve({ requireOrigin: true });
    expect((await post(strict.port, {})).status).toBe(403);
  });

  it('does not check safe methods', async () => {
    const { port } = await serve();
    const res = await rawRequest({
      port,
      path: '/account',
      headers: { Origin: 'https://evil.example' },
    });
    expect(res.status).toBe(200);
  });

  it('compares with the public origin only when the proxy is trusted', async () => {
    const headers = {
      Origin: 'https://api.example.com',
      Host: 'backend:3000',
      'X-Forwarded-Host': 'api.example.com',
      'X-Forwarded-Proto': 'https',
    };
    const trusted = await serve(undefined, 'loopback');
    expect((await post(trusted.port, headers)).status).toBe(200);
    const untrusted = await serve();
    expect((await post(untrusted.port, headers)).status).toBe(403);
  });

  it('refuses origins with paths or wildcards at construction', () => {
    for (const bad of [
      'https://app.example.com/login',
      'https://*.example.com',
      'app.example.com',
    ]) {
      expect(() => csrfProtection({ origins: [bad] }), bad).toThrow(
        expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_CSRF_ORIGIN' }),
      );
    }
  });
});
