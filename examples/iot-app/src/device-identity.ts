// A device's MQTT identity (its certificate CN and topic level): the tenant and the device id, so a certificate belongs to one tenant.
import { isSafeIdentity } from '@bulwark/mqtt-tls';
import { isDeviceId } from '@bulwark/validators';

/**
 * The identity a device's certificate carries, `<tenantId>.<deviceId>`. Device ids have no `.`,
 * so the last `.` splits it back; the same device id in two tenants is two identities, and a
 * certificate issued for one tenant's device can never speak for another's.
 */
export function deviceIdentity(tenantId: string, deviceId: string): string {
  return `${tenantId}.${deviceId}`;
}

/** True when the device's identity fits in a certificate CN and a topic level (64 characters). */
export function identityFits(tenantId: string, deviceId: string): boolean {
  return isSafeIdentity(deviceIdentity(tenantId, deviceId));
}

/** The tenant and device id an identity names, or `null` for one that is not a device's. */
export function parseDeviceIdentity(
  identity: string,
): { tenantId: string; deviceId: string } | null {
  const dot = identity.lastIndexOf('.');
  if (dot < 1 || !isSafeIdentity(identity)) return null;
  const tenantId = identity.slice(0, dot);
  const deviceId = identity.slice(dot + 1);
  return isDeviceId(deviceId) ? { tenantId, deviceId } : null;
}
