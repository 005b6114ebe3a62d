// Access tokens: HS256 JWTs the app verifies, and the signing used by the token command and tests.
import { createSecretKey, type KeyObject } from 'node:crypto';
import jsonwebtoken from 'jsonwebtoken';

export const TOKEN_ISSUER = 'iot-app';
export const TOKEN_AUDIENCE = 'iot-api';

/** The secret as a KeyObject, so jsonwebtoken does not parse it on every call. */
export function tokenKey(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret, 'utf8'));
}

/**
 * Signs an access token. Customers carry `tenant_id`; operators carry `scope_type: 'operator'`
 * and no tenant. Permissions are not in the token: they are loaded from the grants on each use.
 */
export function signToken(
  key: KeyObject,
  {
    subject,
    tenantId,
    ttlSec = 3600,
  }: { subject: string; tenantId: string | null; ttlSec?: number },
): string {
  const claims = tenantId
    ? { tenant_id: tenantId, scope_type: 'customer' }
    : { scope_type: 'operator' };
  return jsonwebtoken.sign(claims, key, {
    algorithm: 'HS256',
    subject,
    issuer: TOKEN_ISSUER,
    audience: TOKEN_AUDIENCE,
    expiresIn: ttlSec,
  });
}
