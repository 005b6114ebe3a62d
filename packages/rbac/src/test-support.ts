// Shared by this package's tests: an Express app with a problem-details renderer, and event capture.
import { createHash, createHmac } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { type Listening, listen } from '@bulwark/test-utils';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { staticApiKeys } from './static-keys.js';
import type { ApiKeyVerifier } from './types.js';

/** Renders http-errors the way @bulwark/error-handler does, so tests see the client's view. */
export const renderErrors: ErrorRequestHandler = (err, _req, res, _next) => {
  const status = typeof err.status === 'number' ? err.status : 500;
  for (const [name, value] of Object.entries((err.headers ?? {}) as Record<string, string>))
    res.set(name, value);
  res.status(status).json({
    status,
    code: err.code ?? 'internal_error',
    detail: err.expose ? err.message : 'Internal server error',
    ...(err.details ? { details: err.details } : {}),
  });
};

/** An app where `GET|POST /thing` runs `chain` and then echoes `req.auth`. */
export function appWith(...chain: RequestHandler[]): express.Express {
  const app = express();
  app.use(express.json());
  app.all('/thing', ...chain, (req, res) => {
    res.status(req.method === 'POST' ? 201 : 200).json({ auth: req.auth ?? null });
  });
  app.use(renderErrors);
  return app;
}

/** Starts `app` on a free loopback port. */
export function serve(app: express.Express): Promise<Listening> {
  return listen(app);
}

/** Collects messages published on `bulwark:rbac:<event>` until `stop()`. */
export function capture(event: 'authenticated' | 'auth-failed' | 'denied') {
  const messages: Record<string, unknown>[] = [];
  const name = `bulwark:rbac:${event}`;
  const onMessage = (message: unknown) => messages.push(message as Record<string, unknown>);
  subscribe(name, onMessage);
  return { messages, stop: () => unsubscribe(name, onMessage) };
}

/** A JSON response body as a plain record. */
export async function bodyOf(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** An HS256 JWT from issuer `test` for audience `api`, valid for a minute; `claims` go over those. */
export function signToken(secret: Buffer, claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'HS256' })}.${b64({ iss: 'test', aud: 'api', exp: now + 60, ...claims })}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** authenticate()'s `jwt` option that accepts what `signToken(secret, ...)` signs. */
export function jwtFor(secret: Buffer) {
  return { algorithms: ['HS256' as const], secret, issuer: 'test', audience: 'api' };
}

/** staticApiKeys() with one key `ci`, stored as its SHA-256 hash: tenant acme, devices:read. */
export function ciApiKey(apiKey: string): RequestHandler & ApiKeyVerifier {
  return staticApiKeys({
    keys: [
      {
        id: 'ci',
        hash: `$sha256$${createHash('sha256').update(apiKey).digest('base64').replace(/=+$/, '')}`,
        tenantId: 'acme',
        permissions: ['devices:read'],
      },
    ],
  });
}
