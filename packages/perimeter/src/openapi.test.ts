// The `openapi` self-descriptions of the perimeter middleware: frozen, documented, and the very
// answers each middleware gives over real HTTP.
import { readFileSync } from 'node:fs';
import { type Listening, listen } from '@bulwark/test-utils';
import express, { type RequestHandler } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonErrors, rawRequest } from '../test/app.js';
import { csrfProtection } from './csrf-protection.js';
import { ipAllowlist } from './ip-allowlist.js';
import { overloadGuard } from './overload-guard.js';
import { reportCollector } from './report-collector.js';
import { requestTimeout } from './request-timeout.js';
import { trustedHosts } from './trusted-hosts.js';

interface Problem {
  status: number;
  code: string;
  title: string;
  headers?: Record<string, unknown>;
}
interface Description {
  version: number;
  kind: string;
  problems: Problem[];
  [field: string]: unknown;
}

const running: Listening[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.close();
});

/** `code → status` from the request-time table of docs/errors/perimeter.md. */
const documented = new Map(
  [
    ...readFileSync(new URL('../../../docs/errors/perimeter.md', import.meta.url), 'utf8').matchAll(
      /^\| \[`([a-z_]+)`\]\(#[a-z_]+\) +\| (\d{3}) +\|/gm,
    ),
  ].map(([, code, status]) => [code as string, Number(status)]),
);

const descriptionOf = (fn: unknown) => (fn as { openapi: Description }).openapi;

async function serve(middleware: RequestHandler) {
  const app = express();
  app.use(middleware);
  app.all('/resource', (req, res) => {
    if (req.query.slow !== undefined) return;
    res.json({ ok: true });
  });
  app.use(jsonErrors);
  const server = await listen(app);
  running.push(server);
  return server.port;
}

const cases: {
  name: string;
  middleware: () => RequestHandler;
  kind: string;
  request: { method?: string; path?: string; headers?: Record<string, string> };
  retryAfter?: string;
}[] = [
  {
    name: 'trustedHosts()',
    middleware: () => trustedHosts(['api.example.test']),
    kind: 'trusted-hosts',
    request: { headers: { Host: 'evil.example.test' } },
  },
  {
    name: 'requestTimeout() with retryAfter',
    middleware: () => requestTimeout({ ms: 100, retryAfter: 5 }),
    kind: 'request-timeout',
    request: { path: '/resource?slow' },
    retryAfter: '5',
  },
  {
    name: 'ipAllowlist()',
    middleware: () => ipAllowlist(['10.0.0.0/8']),
    kind: 'ip-allowlist',
    request: {},
  },
  {
    name: 'ipAllowlist({ status: 403 })',
    middleware: () => ipAllowlist(['10.0.0.0/8'], { status: 403 }),
    kind: 'ip-allowlist',
    request: {},
  },
  {
    name: 'csrfProtection()',
    middleware: () => csrfProtection(),
    kind: 'csrf-protection',
    request: { method: 'POST', headers: { Origin: 'https://evil.example.test' } },
  },
];

describe('the openapi self-descriptions of the perimeter middleware', () => {
  for (const c of cases) {
    it(`${c.name} carries a frozen version 1 description whose one problem is the answer it gives`, async () => {
      const middleware = c.middleware();
      const description = descriptionOf(middleware);
      expect(description).toMatchObject({ version: 1, kind: c.kind });
      expect(Object.isFrozen(description)).toBe(true);
      expect(Object.isFrozen(description.problems)).toBe(true);
      expect(description.problems).toHaveLength(1);
      const [problem] = description.problems as [Problem];
      expect(Object.isFrozen(problem)).toBe(true);
      expect(documented.get(problem.code)).toBe(problem.status);
      expect(problem.title).toMatch(/^[a-z].+\.$/);

      const port = await serve(middleware);
      const res = await rawRequest({
        port,
        method: c.request.method ?? 'GET',
        path: c.request.path ?? '/resource',
        headers: { Host: `127.0.0.1:${port}`, ...c.request.headers },
      });
      expect(res.status).toBe(problem.status);
      expect(JSON.parse(res.body).code).toBe(problem.code);
      if (c.retryAfter) {
        expect(res.headers['retry-after']).toBe(c.retryAfter);
        expect(Object.keys(problem.headers ?? {})).toEqual(['Retry-After']);
      } else {
        expect(res.headers['retry-after']).toBeUndefined();
        expect(problem.headers).toBeUndefined();
      }
    });
  }

  it('describes the answers of overloadGuard() and reportCollector() with the statuses the error page gives', () => {
    const guard = overloadGuard();
    try {
      for (const [fn, kind] of [
        [guard, 'overload-guard'],
        [reportCollector(), 'report-collector'],
      ] as const) {
        const description = descriptionOf(fn);
        expect(description).toMatchObject({ version: 1, kind });
        expect(Object.isFrozen(description)).toBe(true);
        for (const p of description.problems) expect(documented.get(p.code)).toBe(p.status);
      }
      const [overloaded] = descriptionOf(guard).problems as [Problem];
      expect(Object.keys(overloaded.headers ?? {})).toEqual(['Retry-After']);
    } finally {
      guard.close();
    }
  });

  it('documents every request-time code of docs/errors/perimeter.md except the CORS preflight refusal', () => {
    const guard = overloadGuard();
    guard.close();
    const described = [
      ...cases.flatMap((c) => descriptionOf(c.middleware()).problems),
      ...descriptionOf(guard).problems,
      ...descriptionOf(reportCollector()).problems,
    ];
    const codes = new Set(described.map((p) => p.code));
    expect([...documented.keys()].filter((code) => !codes.has(code))).toEqual(['origin_rejected']);
  });

  it('names the methods csrfProtection() never refuses, so a reader can leave them out', () => {
    expect(descriptionOf(csrfProtection()).safeMethods).toEqual([
      'GET',
      'HEAD',
      'OPTIONS',
      'TRACE',
    ]);
  });

  it('gives requestTimeout() no Retry-After header in its description when none is sent', () => {
    const [problem] = descriptionOf(requestTimeout(1000)).problems as [Problem];
    expect(problem).toEqual({
      status: 503,
      code: 'request_timeout',
      title: 'the handler did not answer within the deadline.',
    });
  });
});
