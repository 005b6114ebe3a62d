// The dashboard's session: a 15-minute JWT for one API key, in a __Host- cookie the page's requests carry.
import type { KeyObject } from 'node:crypto';
import type { Response } from 'express';
import jsonwebtoken from 'jsonwebtoken';
import { TOKEN_ISSUER } from '../tokens.js';

/** The session cookie: `__Host-` makes browsers require Secure, Path=/ and no Domain. */
export const SESSION_COOKIE = '__Host-iot-session';
/** Audience of session tokens: never accepted by the JSON API, whose tokens say `iot-api`. */
export const SESSION_AUDIENCE = 'iot-dashboard';
/** Lifetime of a session, in seconds; signing in again starts a new one. */
export const SESSION_TTL_SEC = 15 * 60;

const ATTRIBUTES = 'Path=/; HttpOnly; Secure; SameSite=Strict';

/** The identity a session stands for: one API key of one tenant, with that key's scopes. */
export interface SessionKey {
  keyId: string;
  tenantId: string;
  scopes: readonly string[];
}

/**
 * Signs a session token. The subject is the key (`api-key:<id>`, as `authenticate()` names a key
 * caller) and the key's scopes travel as `permissions`, so the session can do what the key can
 * and nothing more.
 */
export function signSession(key: KeyObject, session: SessionKey): string {
  return jsonwebtoken.sign(
    {
      tenant_id: session.tenantId,
      scope_type: 'customer',
      permissions: [...session.scopes],
    },
    key,
    {
      algorithm: 'HS256',
      subject: `api-key:${session.keyId}`,
      issuer: TOKEN_ISSUER,
      audience: SESSION_AUDIENCE,
      expiresIn: SESSION_TTL_SEC,
    },
  );
}

export function setSessionCookie(res: Response, token: string): void {
  res.append('Set-Cookie', `${SESSION_COOKIE}=${token}; ${ATTRIBUTES}; Max-Age=${SESSION_TTL_SEC}`);
}

export function clearSessionCookie(res: Response): void {
  res.append('Set-Cookie', `${SESSION_COOKIE}=; ${ATTRIBUTES}; Max-Age=0`);
}

/** The API key id of a session subject (`api-key:<id>`), or `undefined` for any other subject. */
export function sessionKeyId(subject: string | undefined): string | undefined {
  const match = subject === undefined ? null : /^api-key:([0-9a-f-]{36})$/i.exec(subject);
  return match?.[1];
}
