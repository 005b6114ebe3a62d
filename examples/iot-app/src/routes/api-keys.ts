// The tenant's API keys: list, issue, rotate and revoke. Only a user manages keys, and a key never outdoes its issuer.
import type { ApiKeys } from '@bulwark/rbac';
import type { Request } from 'express';
import { apiKeyList, issuedApiKey, rotatedApiKeys } from './responses.js';
import { type RouteSpec, valid } from './route-table.js';
import { emptyQuery, name, params, timestamp, uuid } from './schemas.js';
import { notFound, type Tenant, tenantOf } from './tenant.js';

/** The caller, for `@bulwark/rbac` to keep a new key within its permissions and lifetime. */
const caller = (req: Request) => req.auth!;

const scopes = {
  type: 'array',
  minItems: 1,
  maxItems: 20,
  uniqueItems: true,
  items: { type: 'string', pattern: '^[a-z][a-z0-9_-]*(:[a-z][a-z0-9_.-]*)+$', maxLength: 100 },
} as const;

/**
 * The key routes. `createApiKeys()` in app.ts refuses, with the caller as `by`: an API key as the
 * caller (403 `api_key_cannot_manage_keys`), scopes the caller lacks (403
 * `api_key_scope_exceeds_issuer`), operator permissions (403 `api_key_scope_reserved`), and an
 * expiry after 90 days (422 `api_key_lifetime_exceeded`).
 */
export function apiKeyRoutes(tenant: Tenant, apiKeys: ApiKeys): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/api-keys',
      summary: "List the tenant's API keys (never their secrets)",
      permission: 'api_keys:read',
      schemas: { query: emptyQuery },
      success: { status: 200, description: 'The keys', schema: apiKeyList },
      handler: async (req, res) => {
        res.json({ items: await apiKeys.list(tenantOf(req)) });
      },
    },
    {
      method: 'post',
      path: '/api-keys',
      summary: 'Issue an API key (shown once; expires within 90 days; a user token only)',
      permission: 'api_keys:write',
      schemas: {
        query: emptyQuery,
        body: {
          type: 'object',
          properties: { name, scopes, expiresAt: timestamp },
          required: ['name', 'scopes'],
          additionalProperties: false,
        },
      },
      success: {
        status: 201,
        description: 'The key, shown only in this response',
        schema: issuedApiKey,
      },
      handler: async (req, res) => {
        const b = valid<{ name: string; scopes: string[]; expiresAt?: string }>(req, 'body');
        const issued = await apiKeys.issue(tenantOf(req), {
          name: b.name,
          scopes: b.scopes,
          ...(b.expiresAt ? { expiresAt: new Date(b.expiresAt) } : {}),
          by: caller(req),
        });
        tenant.audit(req, 'CREATE', 'api_key', issued.id, { scopes: issued.scopes });
        res.setHeader('Cache-Control', 'no-store');
        res.status(201).json(issued);
      },
    },
    {
      method: 'post',
      path: '/api-keys/rotate',
      summary:
        "Rotate the tenant's API keys: issue a replacement (shown once) and revoke the old ones",
      permission: 'api_keys:write',
      schemas: {
        query: emptyQuery,
        body: {
          type: 'object',
          properties: {
            keyId: uuid,
            graceSec: { type: 'integer', minimum: 0, maximum: 604_800 },
          },
          additionalProperties: false,
        },
      },
      success: {
        status: 201,
        description: 'The new key, shown only in this response, and the revoked ones',
        schema: rotatedApiKeys,
      },
      errors: [404],
      handler: async (req, res) => {
        const b = valid<{ keyId?: string; graceSec?: number }>(req, 'body');
        const result = await apiKeys.rotate(tenantOf(req), {
          ...(b.keyId ? { keyId: b.keyId } : {}),
          graceSec: b.graceSec ?? 0,
          by: caller(req),
        });
        tenant.audit(req, 'ROTATE', 'api_key', result.key.id, {
          revoked: result.revoked.map((r) => r.id),
        });
        res.setHeader('Cache-Control', 'no-store');
        res.status(201).json(result);
      },
    },
    {
      method: 'delete',
      path: '/api-keys/:keyId',
      summary: 'Revoke an API key at once',
      permission: 'api_keys:write',
      schemas: { params: params({ keyId: uuid }), query: emptyQuery },
      success: { status: 204, description: 'Revoked' },
      errors: [404],
      handler: async (req, res) => {
        const { keyId } = valid<{ keyId: string }>(req, 'params');
        const revoked = await apiKeys.revoke(keyId, {
          tenantId: tenantOf(req),
          by: caller(req),
        });
        if (!revoked) throw notFound('The API key');
        tenant.audit(req, 'DELETE', 'api_key', keyId);
        res.status(204).end();
      },
    },
  ];
}
