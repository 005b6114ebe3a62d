// Demo tenants, users, devices and alert rules, inserted idempotently on start in development.
import type pg from 'pg';

/** The demo users: subject, tenant (`null` for the platform operator) and role. */
export const DEMO_USERS = [
  { subject: 'viewer@acme', tenantId: 'acme', role: 'viewer' },
  { subject: 'operator@acme', tenantId: 'acme', role: 'operator' },
  { subject: 'admin@acme', tenantId: 'acme', role: 'admin' },
  { subject: 'viewer@globex', tenantId: 'globex', role: 'viewer' },
  { subject: 'operator@globex', tenantId: 'globex', role: 'operator' },
  { subject: 'admin@globex', tenantId: 'globex', role: 'admin' },
  { subject: 'ops@platform', tenantId: null, role: 'admin' },
] as const;

export const DEMO_TENANTS = [
  { id: 'acme', name: 'Acme Corp' },
  { id: 'globex', name: 'Globex' },
] as const;

/** The demo devices; each one's certificate CN is `<tenantId>.<id>` (see `deviceIdentity`). */
export const DEMO_DEVICES = [
  { id: 'acme-sensor-1', tenantId: 'acme', name: 'Boiler room', tags: ['boiler', 'floor_1'] },
  { id: 'acme-sensor-2', tenantId: 'acme', name: 'Cold store', tags: ['cold_chain'] },
  { id: 'globex-sensor-1', tenantId: 'globex', name: 'Lobby', tags: ['hvac'] },
] as const;

/** Inserts what is missing; running it again changes nothing. */
export async function seedDemoData(db: pg.Pool): Promise<void> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    for (const t of DEMO_TENANTS) {
      await client.query(
        'INSERT INTO bulwark_rbac.tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING',
        [t.id, t.name],
      );
    }
    for (const u of DEMO_USERS) {
      await client.query(
        'INSERT INTO bulwark_rbac.users (subject, tenant_id, display_name) VALUES ($1, $2, $1) ON CONFLICT (subject) DO NOTHING',
        [u.subject, u.tenantId],
      );
      await client.query(
        'INSERT INTO bulwark_rbac.user_roles (subject, role, tenant_id, granted_by) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
        [u.subject, u.role, u.tenantId, 'demo-data'],
      );
    }
    for (const d of DEMO_DEVICES) {
      await client.query(
        // A demo device that was deleted stays deleted: its id is retired in its tenant.
        `INSERT INTO iot.devices (id, tenant_id, name, tags)
         SELECT $1::text, $2::text, $3::text, $4::text[] WHERE NOT EXISTS
           (SELECT 1 FROM iot.retired_devices WHERE tenant_id = $2 AND id = $1)
         ON CONFLICT (tenant_id, id) DO NOTHING`,
        [d.id, d.tenantId, d.name, d.tags],
      );
    }
    await client.query(
      `INSERT INTO iot.alert_rules (tenant_id, name, metric, operator, threshold, severity)
       VALUES ('acme', 'High temperature', 'temperature', 'gt', 80, 'critical'),
              ('globex', 'Low battery', 'battery', 'lt', 10, 'warning')
       ON CONFLICT (tenant_id, name) DO NOTHING`,
    );
    await client.query(
      `INSERT INTO iot.notification_channels (tenant_id, name, type, target)
       VALUES ('acme', 'On-call email', 'email', 'oncall@acme.example'),
              ('globex', 'Ops webhook', 'webhook', 'https://hooks.globex.example/iot')
       ON CONFLICT (tenant_id, name) DO NOTHING`,
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
