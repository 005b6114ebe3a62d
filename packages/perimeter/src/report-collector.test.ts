// reportCollector() over real HTTP: both report formats, size and count limits, per-client rate, and log-injection attempts.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { request as httpRequest } from 'node:http';
import { type Listening, listen } from '@bulwark/test-utils';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonErrors, type RawResponse } from '../test/app.js';
import { type ReportCollectorOptions, reportCollector } from './report-collector.js';

let server: Listening | undefined;
const events: unknown[] = [];
const onReport = (message: unknown) => events.push(message);
subscribe('bulwark:perimeter:report', onReport);
afterEach(async () => {
  await server?.close();
  server = undefined;
  events.length = 0;
});

/** Log lines as a JSON transport would write them. */
let lines: string[] = [];
afterEach(() => {
  lines = [];
});
const logger = {
  warn: (message: string, meta?: Record<string, unknown>) => {
    lines.push(JSON.stringify({ level: 'warn', message, ...meta }));
  },
};

async function serve(options: ReportCollectorOptions = {}): Promise<number> {
  const app = express();
  app.post('/csp-reports', reportCollector({ logger, ...options }));
  app.use(jsonErrors);
  server = await listen(app);
  return server.port;
}

/** One POST with exactly the given headers and body; a reset after the answer arrived is ignored. */
function post(
  port: number,
  body: string | Buffer,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(
      { host: '127.0.0.1', port, path: '/csp-reports', method: 'POST', headers, agent: false },
      (res) => {
        answered = true;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
        );
        res.on('error', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
        );
      },
    );
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    req.end(body);
  });
}

const REPORTS = { 'Content-Type': 'application/reports+json' };
const LEGACY = { 'Content-Type': 'application/csp-report' };

const cspViolation = {
  type: 'csp-violation',
  age: 12,
  url: 'https://app.example.com/devices?session=abc123#top',
  user_agent: 'Mozilla/5.0',
  body: {
    documentURL: 'https://app.example.com/devices?session=abc123',
    blockedURL: 'inline',
    effectiveDirective: 'script-src-elem',
    originalPolicy: "script-src 'nonce-r4nd0m' 'strict-dynamic'",
    disposition: 'enforce',
    statusCode: 200,
    lineNumber: 14,
    sample: 'alert(1)',
    cookie: 'sid=secret',
  },
};

describe('reportCollector', () => {
  it('answers 204 to a Reporting API batch and publishes and logs each report with only allowed fields', async () => {
    const port = await serve();
    const batch = [
      cspViolation,
      {
        type: 'coep',
        url: 'https://app.example.com/',
        body: {
          blockedURL: 'https://cdn.example.net/x.js?k=1',
          destination: 'script',
          disposition: 'enforce',
        },
      },
      {
        type: 'coop',
        url: 'https://app.example.com/',
        body: { disposition: 'reporting', effectivePolicy: 'same-origin', property: 'opener' },
      },
      {
        type: 'deprecation',
        url: 'https://app.example.com/',
        body: { id: 'UnloadHandler', message: 'Unload is deprecated', lineNumber: 3 },
      },
      {
        type: 'intervention',
        url: 'https://app.example.com/',
        body: { id: 'HeavyAd', message: 'Ad removed' },
      },
    ];
    const res = await post(port, JSON.stringify(batch), REPORTS);
    expect(res.status).toBe(204);
    expect(res.body).toBe('');
    expect(events).toHaveLength(5);
    expect(events[0]).toEqual({
      type: 'csp-violation',
      format: 'reports+json',
      age: 12,
      url: 'https://app.example.com/devices',
      userAgent: 'Mozilla/5.0',
      body: {
        documentURL: 'https://app.example.com/devices',
        blockedURL: 'inline',
        effectiveDirective: 'script-src-elem',
        originalPolicy: "script-src 'nonce-r4nd0m' 'strict-dynamic'",
        disposition: 'enforce',
        statusCode: 200,
        lineNumber: 14,
        sample: 'alert(1)',
      },
    });
    expect(events.map((e) => (e as { type: string }).type)).toEqual([
      'csp-violation',
      'coep',
      'coop',
      'deprecation',
      'intervention',
    ]);
    expect((events[1] as { body: object }).body).toEqual({
      blockedURL: 'https://cdn.example.net/x.js',
      destination: 'script',
      disposition: 'enforce',
    });
    expect(lines).toHaveLength(5);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'warn',
      message: 'browser report',
      report: events[0],
    });
    expect(lines.join('\n')).not.toContain('sid=secret');
    expect(lines.join('\n')).not.toContain('abc123');
  });

  it('accepts a legacy application/csp-report body and maps it onto csp-violation names', async () => {
    const port = await serve();
    const legacy = {
      'csp-report': {
        'document-uri': 'https://app.example.com/login?next=%2Fadmin',
        'blocked-uri': 'https://evil.example/x.js?token=t0k3n',
        'violated-directive': 'script-src-elem',
        'original-policy': "default-src 'none'",
        'line-number': 7,
        'status-code': 200,
        extra: 'dropped',
      },
    };
    const res = await post(port, JSON.stringify(legacy), LEGACY);
    expect(res.status).toBe(204);
    expect(events).toEqual([
      {
        type: 'csp-violation',
        format: 'csp-report',
        url: 'https://app.example.com/login',
        body: {
          documentURL: 'https://app.example.com/login',
          blockedURL: 'https://evil.example/x.js',
          effectiveDirective: 'script-src-elem',
          originalPolicy: "default-src 'none'",
          lineNumber: 7,
          statusCode: 200,
        },
      },
    ]);
    expect(lines.join('\n')).not.toContain('t0k3n');
  });

  it('passes over report types it does not collect and still answers 204', async () => {
    const port = await serve();
    const res = await post(
      port,
      JSON.stringify([{ type: 'network-error', body: { x: 1 } }]),
      REPORTS,
    );
    expect(res.status).toBe(204);
    expect(events).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('refuses another media type with 415 unsupported_media_type', async () => {
    const port = await serve();
    const res = await post(port, JSON.stringify([cspViolation]), { 'Content-Type': 'text/plain' });
    expect(res.status).toBe(415);
    expect(JSON.parse(res.body)).toEqual({
      code: 'unsupported_media_type',
      message: 'Unsupported report media type',
    });
    expect(events).toEqual([]);
  });

  it('refuses a compressed body with 415 instead of inflating it', async () => {
    const port = await serve();
    const res = await post(port, JSON.stringify([cspViolation]), {
      ...REPORTS,
      'Content-Encoding': 'gzip',
    });
    expect(res.status).toBe(415);
    expect(events).toEqual([]);
  });

  it('refuses a body that is not JSON, or not a report shape, with 400 invalid_report', async () => {
    const port = await serve();
    for (const body of ['{not json', '{"a":1}', '[1,2]', '[{"body":{}}]', '"text"']) {
      const res = await post(port, body, REPORTS);
      expect(res.status, body).toBe(400);
      expect(JSON.parse(res.body)).toEqual({ code: 'invalid_report', message: 'Malformed report' });
    }
    expect(events).toEqual([]);
  });

  it('refuses a body over maxBytes with 413 report_too_large and reads none of it into a report', async () => {
    const port = await serve({ maxBytes: 1024 });
    const big = JSON.stringify([{ ...cspViolation, body: { sample: 'x'.repeat(100_000) } }]);
    const res = await post(port, big, REPORTS);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toEqual({
      code: 'report_too_large',
      message: 'Report body too large',
    });
    expect(events).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('refuses a chunked body that grows past maxBytes with 413', async () => {
    const port = await serve({ maxBytes: 1024 });
    const big = JSON.stringify([{ ...cspViolation, body: { sample: 'y'.repeat(5000) } }]);
    const res = await post(port, big, { ...REPORTS, 'Transfer-Encoding': 'chunked' });
    expect(res.status).toBe(413);
    expect(events).toEqual([]);
  });

  it('closes the connection after a 413 when the declared body is far past the hard cap', async () => {
    const port = await serve({ maxBytes: 1024 });
    const res = await post(port, Buffer.alloc(0), {
      ...REPORTS,
      'Content-Length': String(50 * 1024 * 1024),
    });
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
  });

  it('refuses more than maxReports reports in one request with 413 too_many_reports', async () => {
    const port = await serve({ maxReports: 3 });
    const res = await post(port, JSON.stringify(Array(4).fill(cspViolation)), REPORTS);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body)).toEqual({
      code: 'too_many_reports',
      message: 'Too many reports in one request',
    });
    expect(events).toEqual([]);
    const ok = await post(port, JSON.stringify(Array(3).fill(cspViolation)), REPORTS);
    expect(ok.status).toBe(204);
    expect(events).toHaveLength(3);
  });

  it('answers a flood from one client with 429 and Retry-After once it passes the limit', async () => {
    const port = await serve({ limit: 5, windowMs: 30_000 });
    const statuses: number[] = [];
    let last: RawResponse | undefined;
    for (let i = 0; i < 12; i++) {
      last = await post(port, JSON.stringify([cspViolation]), REPORTS);
      statuses.push(last.status);
    }
    expect(statuses).toEqual([204, 204, 204, 204, 204, 429, 429, 429, 429, 429, 429, 429]);
    expect(JSON.parse(last!.body)).toEqual({
      code: 'report_rate_limited',
      message: 'Too many reports',
    });
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(last!.headers['retry-after'])).toBeLessThanOrEqual(30);
    expect(events).toHaveLength(5);
    expect(lines).toHaveLength(5);
  });

  it('forgets the oldest client when maxClients is reached, so the map stays bounded', async () => {
    const app = express();
    app.set('trust proxy', 'loopback');
    app.post('/csp-reports', reportCollector({ limit: 1, maxClients: 1 }));
    app.use(jsonErrors);
    server = await listen(app);
    const port = server.port;
    const from = (ip: string) =>
      post(port, JSON.stringify([cspViolation]), { ...REPORTS, 'X-Forwarded-For': ip });
    expect((await from('203.0.113.1')).status).toBe(204);
    expect((await from('203.0.113.1')).status).toBe(429);
    expect((await from('203.0.113.2')).status).toBe(204);
    expect((await from('203.0.113.1')).status).toBe(204);
  });

  it('never lets CR, LF, ANSI escapes, query strings or 10 KB fields reach the log or the event raw', async () => {
    const port = await serve({ maxLength: 200 });
    const hostile = {
      type: 'csp-violation',
      url: 'https://app.example.com/p?token=SECRET-TOKEN\r\nlevel=error forged',
      user_agent: 'UA\r\n{"level":"error","message":"forged"}\u001b[31mred\u001b[0m',
      body: {
        documentURL: 'https://app.example.com/a\r\nb?access_token=SECRET-TOKEN',
        blockedURL: 'javascript:alert(1)//SECRET-TOKEN',
        effectiveDirective: 'script-src\r\nInjected: yes',
        originalPolicy: 'z'.repeat(10_240),
        sample: '\u001b]0;pwned\u0007\u202eevil\u2028next',
        sourceFile: 'not a url\r\nat all',
        lineNumber: -1,
        columnNumber: 1.5,
      },
    };
    const res = await post(port, JSON.stringify([hostile]), REPORTS);
    expect(res.status).toBe(204);
    expect(events).toHaveLength(1);
    const event = events[0] as { url: string; userAgent: string; body: Record<string, unknown> };
    const outputs = [...lines, JSON.stringify(events)];
    for (const out of outputs) {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the raw characters must be absent
      expect(out).not.toMatch(/[\r\n\u001b\u0007\u202e\u2028]/);
      expect(out).not.toMatch(/\\[rnu]|\\u001b/);
      expect(out).not.toContain('SECRET-TOKEN');
      expect(out).not.toContain('z'.repeat(201));
    }
    expect(event.url).toBe('https://app.example.com/p');
    expect(event.userAgent).toBe('UA{"level":"error","message":"forged"}[31mred[0m');
    expect(event.body.blockedURL).toBe('javascript:');
    expect(event.body.effectiveDirective).toBe('script-srcInjected: yes');
    expect(event.body.originalPolicy).toBe(`${'z'.repeat(199)}…`);
    expect(event.body.sample).toBe(']0;pwnedevilnext');
    expect(event.body).not.toHaveProperty('sourceFile');
    expect(event.body).not.toHaveProperty('lineNumber');
    expect(event.body).not.toHaveProperty('columnNumber');
  });

  it('uses the body an earlier body parser already read', async () => {
    const app = express();
    app.use(express.json({ type: 'application/reports+json' }));
    app.post('/csp-reports', reportCollector({ logger }));
    app.use(jsonErrors);
    server = await listen(app);
    const res = await post(server.port, JSON.stringify([cspViolation]), REPORTS);
    expect(res.status).toBe(204);
    expect(events).toHaveLength(1);
  });

  it('publishes nothing and logs nothing when no one subscribes or no logger is given', async () => {
    unsubscribe('bulwark:perimeter:report', onReport);
    try {
      const app = express();
      app.post('/csp-reports', reportCollector());
      app.use(jsonErrors);
      server = await listen(app);
      const res = await post(server.port, JSON.stringify([cspViolation]), REPORTS);
      expect(res.status).toBe(204);
      expect(events).toEqual([]);
    } finally {
      subscribe('bulwark:perimeter:report', onReport);
    }
  });

  describe('configuration', () => {
    it('throws ERR_BULWARK_PERIMETER_UNKNOWN_OPTION for a misspelled option, naming the right one', () => {
      expect(() => reportCollector({ maxbytes: 10 } as ReportCollectorOptions)).toThrow(
        expect.objectContaining({
          code: 'ERR_BULWARK_PERIMETER_UNKNOWN_OPTION',
          message: expect.stringContaining('`maxBytes`'),
        }),
      );
    });

    it('throws ERR_BULWARK_PERIMETER_INVALID_NUMBER for a maxBytes past the 1 MiB hard cap', () => {
      expect(() => reportCollector({ maxBytes: 2 * 1024 * 1024 })).toThrow(
        expect.objectContaining({
          code: 'ERR_BULWARK_PERIMETER_INVALID_NUMBER',
          message: expect.stringContaining('maxBytes: 2097152'),
        }),
      );
    });

    it('throws ERR_BULWARK_PERIMETER_INVALID_NUMBER for zero, negative or fractional limits', () => {
      for (const bad of [
        { limit: 0 },
        { maxReports: -1 },
        { windowMs: 1.5 },
        { maxReports: 101 },
        { maxLength: 5000 },
      ]) {
        expect(() => reportCollector(bad), JSON.stringify(bad)).toThrow(
          expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_NUMBER' }),
        );
      }
    });

    it('throws ERR_BULWARK_PERIMETER_INVALID_OPTION for a logger without warn()', () => {
      expect(() => reportCollector({ logger: {} as never })).toThrow(
        expect.objectContaining({ code: 'ERR_BULWARK_PERIMETER_INVALID_OPTION' }),
      );
    });

    it('throws ERR_BULWARK_PERIMETER_NOT_CALLED when mounted without the call', async () => {
      const app = express();
      app.post('/csp-reports', reportCollector as never);
      app.use(jsonErrors);
      server = await listen(app);
      const res = await post(server.port, '[]', REPORTS);
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body)).toEqual({
        code: 'ERR_BULWARK_PERIMETER_NOT_CALLED',
        message: 'Internal Server Error',
      });
    });
  });
});
