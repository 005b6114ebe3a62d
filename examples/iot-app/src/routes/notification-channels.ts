// Notification channels of the caller's tenant: an email address or an https webhook, stored and checked.
import { sql } from '@bulwark/db-safety';
import { notificationChannel, page } from './responses.js';
import { type RouteSpec, valid } from './route-table.js';
import { emptyQuery, name, pageQuery, params, uuid } from './schemas.js';
import { invalidField, notFound, type Tenant, tenantOf } from './tenant.js';

interface ChannelBody {
  name: string;
  type: 'email' | 'webhook';
  target: string;
  enabled?: boolean;
}

function channelBody(create: boolean) {
  return {
    type: 'object',
    properties: {
      name,
      type: { type: 'string', enum: ['email', 'webhook'] },
      target: { type: 'string', minLength: 3, maxLength: 500 },
      enabled: { type: 'boolean' },
    },
    ...(create ? { required: ['name', 'type', 'target'] } : { minProperties: 1 }),
    additionalProperties: false,
  } as const;
}

/** A webhook must be HTTPS (no credentials in it); an email target must look like one. */
function checkTarget(type: string, target: string): void {
  let ok = false;
  if (type === 'email') ok = /^[^\s@]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$/.test(target);
  else {
    try {
      const url = new URL(target);
      ok = url.protocol === 'https:' && url.username === '' && url.password === '';
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    throw invalidField(
      'The target does not fit the channel type.',
      '/target',
      type === 'email' ? 'must be an email address' : 'must be an https URL without credentials',
    );
  }
}

const CHANNEL_COLUMNS = sql`id, name, type, target, enabled`;

export function notificationChannelRoutes(tenant: Tenant): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/notification-channels',
      summary: 'List notification channels',
      permission: 'channels:read',
      schemas: { query: pageQuery() },
      page: { maxLimit: 200 },
      success: {
        status: 200,
        description: 'A page of channels',
        schema: page(notificationChannel),
      },
      handler: async (req, res) => {
        await tenant.list(
          req,
          res,
          ({ limit, offset }) =>
            sql`SELECT ${CHANNEL_COLUMNS} FROM iot.notification_channels ORDER BY name LIMIT ${limit} OFFSET ${offset}`,
        );
      },
    },
    {
      method: 'post',
      path: '/notification-channels',
      summary: 'Create a notification channel',
      permission: 'channels:write',
      schemas: { query: emptyQuery, body: channelBody(true) },
      success: { status: 201, description: 'The channel', schema: notificationChannel },
      errors: [409],
      handler: async (req, res) => {
        const b = valid<ChannelBody>(req, 'body');
        checkTarget(b.type, b.target);
        const row = await tenant.transaction(req, (tx) =>
          tx.one<{ id: string }>(sql`
            INSERT INTO iot.notification_channels (tenant_id, name, type, target, enabled)
            VALUES (${tenantOf(req)}, ${b.name}, ${b.type}, ${b.target}, ${b.enabled ?? true})
            RETURNING ${CHANNEL_COLUMNS}`),
        );
        tenant.audit(req, 'CREATE', 'notification_channel', row.id);
        res.status(201).json(row);
      },
    },
    {
      method: 'patch',
      path: '/notification-channels/:channelId',
      summary: 'Update a notification channel',
      permission: 'channels:write',
      schemas: { params: params({ channelId: uuid }), query: emptyQuery, body: channelBody(false) },
      success: { status: 200, description: 'The channel', schema: notificationChannel },
      errors: [404, 409],
      handler: async (req, res) => {
        const { channelId } = valid<{ channelId: string }>(req, 'params');
        const b = valid<Partial<ChannelBody>>(req, 'body');
        const row = await tenant.transaction(req, async (tx) => {
          const current = await tx.maybeOne<{ type: string; target: string }>(
            sql`SELECT type, target FROM iot.notification_channels WHERE id = ${channelId} FOR UPDATE`,
          );
          if (!current) throw notFound('The channel');
          checkTarget(b.type ?? current.type, b.target ?? current.target);
          return tx.one(sql`
            UPDATE iot.notification_channels SET
              name = coalesce(${b.name ?? null}, name), type = coalesce(${b.type ?? null}, type),
              target = coalesce(${b.target ?? null}, target), enabled = coalesce(${b.enabled ?? null}::boolean, enabled)
            WHERE id = ${channelId} RETURNING ${CHANNEL_COLUMNS}`);
        });
        tenant.audit(req, 'UPDATE', 'notification_channel', channelId, { fields: Object.keys(b) });
        res.json(row);
      },
    },
    {
      method: 'delete',
      path: '/notification-channels/:channelId',
      summary: 'Delete a notification channel',
      permission: 'channels:write',
      schemas: { params: params({ channelId: uuid }), query: emptyQuery },
      success: { status: 204, description: 'Deleted' },
      errors: [404],
      handler: async (req, res) => {
        const { channelId } = valid<{ channelId: string }>(req, 'params');
        await tenant.remove(
          req,
          sql`DELETE FROM iot.notification_channels WHERE id = ${channelId}`,
          'The channel',
        );
        tenant.audit(req, 'DELETE', 'notification_channel', channelId);
        res.status(204).end();
      },
    },
  ];
}
