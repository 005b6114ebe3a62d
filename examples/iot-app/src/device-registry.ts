// Registering and deleting devices in a tenant: ids are per tenant, and a deleted id stays retired there.
import { type Db, sql } from '@bulwark/db-safety';
import { HttpProblem } from '@bulwark/error-handler';
import { deviceIdentity, identityFits } from './device-identity.js';

export interface NewDevice {
  id: string;
  name: string;
  type?: string;
  location?: string;
  tags?: string[];
}

/** The columns a device is answered with. */
export const DEVICE_COLUMNS = sql`id, name, type, location, tags, created_at AS "createdAt", updated_at AS "updatedAt"`;

const taken = () =>
  HttpProblem.conflict('Your tenant already has, or had, a device with this id. Pick another id.');

/**
 * Registers a device in the tenant of `tx`. Another tenant's devices, live or deleted, play no
 * part: the answer is the same whether they use the id or not. Refused: an id whose MQTT identity
 * (`<tenant>.<id>`) would not fit a certificate CN (422), and one the tenant uses or used (409).
 */
export async function registerDevice(
  tx: Db,
  tenantId: string,
  device: NewDevice,
): Promise<Record<string, unknown>> {
  if (!identityFits(tenantId, device.id)) {
    throw HttpProblem.unprocessableEntity('The device id is too long for its MQTT identity.', {
      code: 'validation_failed',
      errors: [
        {
          location: 'body',
          pointer: '/id',
          message: `must fit in the 64-character MQTT identity ${deviceIdentity(tenantId, '<id>')}`,
        },
      ],
    });
  }
  const retired = await tx.maybeOne(
    sql`SELECT 1 AS found FROM iot.retired_devices WHERE id = ${device.id}`,
  );
  if (retired) throw taken();
  const row = await tx.maybeOne<Record<string, unknown>>(sql`
    INSERT INTO iot.devices (id, tenant_id, name, type, location, tags)
    VALUES (${device.id}, ${tenantId}, ${device.name}, ${device.type ?? 'sensor'}, ${device.location ?? ''}, ${device.tags ?? []})
    ON CONFLICT (tenant_id, id) DO NOTHING
    RETURNING ${DEVICE_COLUMNS}`);
  if (!row) throw taken();
  return row;
}

/**
 * Deletes a device with its telemetry, alerts and memberships, and retires its id in the tenant:
 * a device that still holds the certificate for `<tenant>.<id>` can never have its data stored
 * again. Resolves `false` when the tenant has no such device.
 */
export async function deleteDevice(tx: Db, tenantId: string, id: string): Promise<boolean> {
  const gone = await tx.query(sql`DELETE FROM iot.devices WHERE id = ${id}`);
  if (!gone.rowCount) return false;
  await tx.query(sql`
    INSERT INTO iot.retired_devices (tenant_id, id) VALUES (${tenantId}, ${id})
    ON CONFLICT (tenant_id, id) DO NOTHING`);
  return true;
}
