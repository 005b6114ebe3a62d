// Shared pieces of the attack corpus: raw HTTP, the no-leak check, problem+json shape, the app under attack.
import { createHmac } from 'node:crypto';
import { connect } from 'node:net';
import { createAppWorkspace, redisPrefix, type TestDatabase } from '@bulwark/test-utils';
import { createApp, type IotApp, loadConfig, signToken, tokenKey } from 'iot-app';
import pg from 'pg';

export interface RawAnswer {
  status: number;
  /** Header names in lower case; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** The raw header block, to check for injected lines. */
  head: string;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are inspected field by field.
  body: any;
}

/** Decodes a chunked transfer-encoded body. */
function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/**
 * Sends bytes exactly as given over a fresh socket and reads the answer until the server closes
 * it. Used where fetch would refuse or normalise the request (CRLF, invalid bytes, `..`).
 */
export function rawRequest(port: number, request: Buffer | string, timeoutMs = 10_000) {
  return new Promise<RawAnswer>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (err) => {
      // A reset after a complete answer is the server closing a refused request: keep the answer.
      if (chunks.length === 0) {
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const data = Buffer.concat(chunks);
      const split = data.indexOf('\r\n\r\n');
      if (split < 0) {
        reject(new Error(`no HTTP answer: ${JSON.stringify(data.toString('latin1'))}`));
        return;
      }
      const head = data.subarray(0, split).toString('latin1');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const status = Number(statusLine.split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] ? `${headers[name]}, ${value}` : value;
      }
      let payload: Buffer = data.subarray(split + 4);
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) payload = dechunk(payload);
      else if (headers['content-length'] !== undefined) {
        payload = payload.subarray(0, Number(headers['content-length']));
      }
      const text = payload.toString('utf8');
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      resolve({ status, headers, head, text, body });
    });
    socket.write(request);
  });
}

export interface RequestSpec {
  method: string;
  /** Sent as is on the request line. */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

/** Builds an HTTP/1.1 request with `Connection: close` and a correct `Content-Length`. */
export function buildRequest({ method, path, headers = {}, body }: RequestSpec): Buffer {
  const payload = body === undefined ? undefined : Buffer.from(body);
  const lines = [`${method} ${path} HTTP/1.1`];
  const names = Object.keys(headers).map((n) => n.toLowerCase());
  if (!names.includes('host')) lines.push('Host: 127.0.0.1');
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (payload && !names.includes('content-length')) {
    lines.push(`Content-Length: ${payload.length}`);
  }
  lines.push('Connection: close', '', '');
  const head = Buffer.from(lines.join('\r\n'), 'latin1');
  return payload ? Buffer.concat([head, payload]) : head;
}

/** Sends one request and reads the whole answer. */
export function send(port: number, spec: RequestSpec): Promise<RawAnswer> {
  return rawRequest(port, buildRequest(spec));
}

/** What must never appear in a response: filled in when the app starts. */
export const secrets: string[] = [];

const LEAKS: [string, RegExp][] = [
  [
    'stack frame',
    /\bat (?:async )?[\w.<>[\]]+ \(|\bat (?:file:\/\/)?\/[\w./-]+:\d+|\.(?:ts|js|mjs|cjs):\d+:\d+/,
  ],
  ['file path', /\/(?:work|home|root|tmp|usr|var|opt)\/[\w.-]+|node_modules|[A-Za-z]:\\\\/],
  [
    'SQL text',
    /\bselect\b[\s\S]{1,200}\bfrom\b|\binsert into\b|\bupdate\s+\w+\s+set\b|\bdelete from\b|\bwhere\s+\w+\s*=\s*\$\d/i,
  ],
  [
    'Postgres message',
    /relation "|column "|syntax error at or near|violates (?:foreign key|unique|check|not-null|row-level)|duplicate key value|invalid input syntax|permission denied for|current transaction is aborted|SQLSTATE|\bpg_catalog\b|bulwark_rbac|\biot\.\w+|ECONNREFUSED|terminating connection/i,
  ],
  ['internal error name', /\b(?:TypeError|ReferenceError|RangeError|SyntaxError|DatabaseError):/],
];

/** Environment values long and specific enough that seeing one in a response means a leak. */
function environmentValues(): string[] {
  return Object.entries(process.env)
    .filter(([name, value]) => value && value.length >= 12 && !/^(?:TERM|LANG|SHELL|_)$/.test(name))
    .map(([, value]) => value as string)
    .filter((value) => !/^(?:true|false|production|development|test)$/i.test(value));
}

/**
 * Asserts that an answer carries no stack frame, file path, SQL text, PostgreSQL message,
 * environment value or secret, in its headers or body. `sent` lists the strings the request
 * itself carried: an echo of the caller's own input is not a leak of the server's internals.
 */
export function assertNoLeak(answer: { head?: string; text: string }, sent: string[] = []): void {
  let text = `${answer.head ?? ''}\n${answer.text}`;
  for (const value of sent) {
    if (value.length === 0) continue;
    for (const form of [value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)]) {
      text = text.split(form).join(' ');
    }
  }
  for (const [what, pattern] of LEAKS) {
    const found = pattern.exec(text);
    if (found) {
      throw new Error(
        `answer leaks a ${what} (${JSON.stringify(found[0])}): ${text.slice(0, 600)}`,
      );
    }
  }
  for (const value of [...secrets, ...environmentValues()]) {
    if (text.includes(value)) {
      throw new Error(`answer leaks a secret or environment value: ${text.slice(0, 300)}`);
    }
  }
}

/** Asserts an RFC 9457 problem details answer with the status it was sent with. */
export function assertProblem(answer: RawAnswer): void {
  if (!/^application\/problem\+json/.test(answer.headers['content-type'] ?? '')) {
    throw new Error(
      `status ${answer.status} is not problem+json (${answer.headers['content-type']}): ${answer.text.slice(0, 300)}`,
    );
  }
  const body = answer.body as Record<string, unknown> | undefined;
  if (
    !body ||
    body.status !== answer.status ||
    typeof body.type !== 'string' ||
    typeof body.title !== 'string' ||
    typeof body.detail !== 'string' ||
    typeof body.code !== 'string' ||
    !/^[a-z][a-z0-9_]*$/.test(body.code) ||
    'stack' in body
  ) {
    throw new Error(
      `not a problem details body for ${answer.status}: ${answer.text.slice(0, 300)}`,
    );
  }
}

/** Asserts a refusal: a 4xx problem with no leak (never a 5xx). */
export function assertRefused(answer: RawAnswer, sent: string[] = []): void {
  if (answer.status < 400 || answer.status >= 500) {
    throw new Error(`expected a 4xx, got ${answer.status}: ${answer.text.slice(0, 300)}`);
  }
  assertProblem(answer);
  assertNoLeak(answer, sent);
}

/** Asserts an answer that is either a success or a clean refusal: never 5xx, never a leak. */
export function assertHandled(answer: RawAnswer, sent: string[] = []): void {
  if (answer.status >= 500 || answer.status < 200) {
    throw new Error(`expected 2xx or 4xx, got ${answer.status}: ${answer.text.slice(0, 300)}`);
  }
  if (answer.status >= 400) assertProblem(answer);
  assertNoLeak(answer, sent);
}

export function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

/** Signs a JWT by hand, so a test can set any header, algorithm and claim. */
export function handJwt(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  secret: string | Buffer,
): string {
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

export interface AppUnderAttack {
  iot: IotApp;
  url: string;
  port: number;
  db: TestDatabase;
  admin: pg.Client;
  token(subject: string, tenantId: string | null): string;
  /** Clears this app's rate-limit counters in Redis. */
  resetLimits(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the example app in process on a throwaway database with real Redis and the embedded
 * mTLS broker. Abuse bans and the global limit are raised so the corpus measures the handlers,
 * not the ban that would otherwise stop it after twenty failures (the ban has its own tests).
 * `env` overrides any of these, for a suite that attacks the limits themselves.
 */
export async function startAppUnderAttack(
  label: string,
  env: Record<string, string> = {},
): Promise<AppUnderAttack> {
  const workspace = await createAppWorkspace(label);
  const { db, dataDir } = workspace;
  const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = redisPrefix(label);
  let iot: IotApp | undefined;
  try {
    iot = await createApp(
      loadConfig({
        DATABASE_URL: db.url,
        REDIS_URL: redisUrl,
        REDIS_PREFIX: prefix,
        MQTT_PORT: '0',
        STATEMENT_TIMEOUT_MS: '500',
        DATA_DIR: dataDir,
        PORT: '0',
        LOG_LEVEL: 'silent',
        ABUSE_FAILURES: '1000000',
        RATE_LIMIT_GLOBAL: '1000000',
        ...env,
      }),
    );
    const { url } = await iot.start();
    const admin = new pg.Client({ connectionString: db.url });
    admin.on('error', () => {});
    await admin.connect();
    secrets.push(iot.config.jwtSecret, iot.config.apiKeyPepper, db.url);
    const key = tokenKey(iot.config.jwtSecret);
    const running = iot;
    return {
      iot: running,
      url,
      port: Number(new URL(url).port),
      db,
      admin,
      token: (subject, tenantId) => signToken(key, { subject, tenantId, ttlSec: 900 }),
      resetLimits: () => resetLimits(redisUrl, prefix).then(() => {}),
      async close() {
        await running.stop();
        await resetLimits(redisUrl, prefix);
        await admin.end();
        await workspace.remove();
      },
    };
  } catch (err) {
    await iot?.stop();
    await workspace.remove();
    throw err;
  }
}

/** Every row of every table in the app's schemas, as sorted JSON lines per table. */
export async function snapshotRows(client: pg.Client): Promise<Map<string, string[]>> {
  const tables = await client.query<{ name: string }>(
    `SELECT format('%I.%I', table_schema, table_name) AS name FROM information_schema.tables
     WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
     ORDER BY 1`,
  );
  const rows = new Map<string, string[]>();
  for (const { name } of tables.rows) {
    const result = await client.query(`SELECT to_jsonb(t) AS row FROM ${name} t`);
    rows.set(name, result.rows.map((r) => JSON.stringify(r.row)).sort());
  }
  return rows;
}

/** Sends one command to Redis over RESP and resolves with the raw reply. */
export function redisCommand(url: string, ...args: string[]): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port || 6379), hostname);
    const chunks: Buffer[] = [];
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      const reply = Buffer.concat(chunks).toString('utf8');
      if (reply.endsWith('\r\n')) {
        socket.end();
        resolve(reply);
      }
    });
    const parts = args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
    socket.write(`*${args.length}\r\n${parts}`);
  });
}

/** Deletes the rate-limit counters under `prefix`, so the corpus reaches the handlers. */
export function resetLimits(url: string, prefix: string): Promise<string> {
  return redisCommand(
    url,
    'EVAL',
    "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 1",
    '0',
    `${prefix}*`,
  );
}
