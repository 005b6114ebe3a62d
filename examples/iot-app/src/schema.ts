// The app's tables, row-level security policies and grants, applied once per database.

/** Migrations in order; each runs once, in one transaction, recorded in `iot.migrations`. */
export function appMigrations(appRole: string): { name: string; sql: string }[] {
  const role = `"${appRole}"`;
  const tenantTables = [
    'devices',
    'device_groups',
    'device_group_members',
    'maintenance_windows',
    'alert_rules',
    'alerts',
    'notification_channels',
    'telemetry',
  ];
  const policies = tenantTables
    .map(
      (table) => `
ALTER TABLE iot.${table} ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON iot.${table}
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));`,
    )
    .join('\n');
  return [
    {
      name: '001_schema',
      sql: `
CREATE TABLE iot.devices (
  id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
  tenant_id text NOT NULL REFERENCES bulwark_rbac.tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  type text NOT NULL DEFAULT 'sensor' CHECK (length(type) <= 50),
  location text NOT NULL DEFAULT '' CHECK (length(location) <= 200),
  tags text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_tenant ON iot.devices (tenant_id, id);

CREATE TABLE iot.device_groups (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id text NOT NULL REFERENCES bulwark_rbac.tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);

CREATE TABLE iot.device_group_members (
  tenant_id text NOT NULL REFERENCES bulwark_rbac.tenants (id) ON DELETE CASCADE,
  group_id uuid NOT NULL REFERENCES iot.device_groups (id) ON DELETE CASCADE,
  device_id text NOT NULL REFERENCES iot.devices (id) ON DELETE CASCADE,
  PRIMARY KEY (group_id, device_id)
);

CREATE TABLE iot.maintenance_windows (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id text NOT NULL REFERENCES bulwark_rbac.tenants (id) ON DELETE CASCADE,
  device_id text REFERENCES iot.devices (id) ON DELETE CASCADE,
  starts_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL,
  reason text NOT NULL DEFAULT '' CHECK (length(reason) <= 200),
  CHECK (ends_at > starts_at)
);

CREATE TABLE iot.alert_rules (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id text NOT NULL REFERENCES bulwark_rbac.tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  device_id text REFERENCES iot.devices (id) ON DELETE CASCADE,
  metric text NOT NULL CHECK (length(metric) <= 128),
  operator text NOT NULL CHECK (operator IN ('gt', 'gte', 'lt', 'lte')),
  threshold double precision NOT NULL,
  severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  enabled boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);

CREATE TABLE iot.alerts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id text NOT NULL REFERENCES bulwark_rbac.tenants (id) ON DELETE CASCADE,
  device_id text NOT NULL REFERENCES iot.devices (id) ON DELETE CASCADE,
  rule_id uuid REFERENCES iot.alert_rules (id) ON DELETE SET NULL,
  severity text NOT NULL,
  metric text NOT NULL,
  value double precision NOT NULL,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'closed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  acknowledged_at timestamptz,
  acknowledged_by text,
  closed_at timestamptz,
  closed_by text
);
CREATE INDEX alerts_tenant_time ON iot.alerts (tenant_id, created_at DESC);

CREATE TABLE iot.notification_channels (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id text NOT NULL REFERENCES bulwark_rbac.tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  type text NOT NULL CHECK (type IN ('email', 'webhook')),
  target text NOT NULL CHECK (length(target) <= 500),
  enabled boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);

CREATE TABLE iot.telemetry (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES bulwark_rbac.tenants (id) ON DELETE CASCADE,
  device_id text NOT NULL REFERENCES iot.devices (id) ON DELETE CASCADE,
  metric text NOT NULL CHECK (length(metric) <= 128),
  value double precision NOT NULL,
  recorded_at timestamptz NOT NULL,
  received_via text NOT NULL CHECK (received_via IN ('http', 'mqtt'))
);
CREATE INDEX telemetry_device_time ON iot.telemetry (device_id, recorded_at DESC, id DESC);
${policies}

-- The MQTT ingest knows only the device id (its certificate CN); this finds the tenant without
-- opening the table to the app role.
CREATE FUNCTION iot.device_tenant(device text) RETURNS text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
  AS $$ SELECT tenant_id FROM iot.devices WHERE id = device $$;
REVOKE ALL ON FUNCTION iot.device_tenant(text) FROM PUBLIC;

GRANT USAGE ON SCHEMA iot, bulwark_rbac TO ${role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA iot TO ${role};
REVOKE INSERT, UPDATE, DELETE ON iot.migrations FROM ${role};
GRANT USAGE ON ALL SEQUENCES IN SCHEMA iot TO ${role};
GRANT EXECUTE ON FUNCTION iot.device_tenant(text) TO ${role};
GRANT SELECT ON bulwark_rbac.tenants, bulwark_rbac.users, bulwark_rbac.roles,
  bulwark_rbac.permissions, bulwark_rbac.role_permissions, bulwark_rbac.user_roles TO ${role};
GRANT SELECT, INSERT, UPDATE ON bulwark_rbac.api_keys TO ${role};
GRANT SELECT, INSERT ON bulwark_rbac.audit_log TO ${role};
`,
    },
    {
      // A device id names a device within its tenant. The MQTT identity of a device is
      // <tenant>.<device id>, so a certificate speaks for one tenant's device only, and a deleted
      // id stays retired in its tenant so a device still holding its certificate cannot come back.
      name: '002_device_ids_per_tenant',
      sql: `
ALTER TABLE iot.device_group_members DROP CONSTRAINT device_group_members_device_id_fkey;
ALTER TABLE iot.maintenance_windows DROP CONSTRAINT maintenance_windows_device_id_fkey;
ALTER TABLE iot.alert_rules DROP CONSTRAINT alert_rules_device_id_fkey;
ALTER TABLE iot.alerts DROP CONSTRAINT alerts_device_id_fkey;
ALTER TABLE iot.telemetry DROP CONSTRAINT telemetry_device_id_fkey;
ALTER TABLE iot.devices DROP CONSTRAINT devices_pkey;
DROP INDEX iot.devices_tenant;
ALTER TABLE iot.devices ADD PRIMARY KEY (tenant_id, id);
-- With the tenant in every reference, a row can point at a device of its own tenant only.
ALTER TABLE iot.device_group_members ADD FOREIGN KEY (tenant_id, device_id)
  REFERENCES iot.devices (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE iot.maintenance_windows ADD FOREIGN KEY (tenant_id, device_id)
  REFERENCES iot.devices (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE iot.alert_rules ADD FOREIGN KEY (tenant_id, device_id)
  REFERENCES iot.devices (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE iot.alerts ADD FOREIGN KEY (tenant_id, device_id)
  REFERENCES iot.devices (tenant_id, id) ON DELETE CASCADE;
ALTER TABLE iot.telemetry ADD FOREIGN KEY (tenant_id, device_id)
  REFERENCES iot.devices (tenant_id, id) ON DELETE CASCADE;
DROP INDEX iot.telemetry_device_time;
CREATE INDEX telemetry_device_time ON iot.telemetry (tenant_id, device_id, recorded_at DESC, id DESC);

CREATE TABLE iot.retired_devices (
  tenant_id text NOT NULL REFERENCES bulwark_rbac.tenants (id) ON DELETE CASCADE,
  id text NOT NULL,
  retired_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
ALTER TABLE iot.retired_devices ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON iot.retired_devices
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT ON iot.retired_devices TO ${role};

-- The ingest reads the tenant from the device's identity; nothing looks a device up across tenants.
DROP FUNCTION iot.device_tenant(text);
`,
    },
  ];
}

/**
 * Permissions this app adds to the ones `@bulwark/rbac` ships, and which built-in roles get them.
 * `operatorOnly` ones belong to platform staff: no tenant's API key may carry them.
 */
export const APP_PERMISSIONS: {
  name: string;
  description: string;
  roles: string[];
  operatorOnly?: boolean;
}[] = [
  { name: 'telemetry:write', description: 'Send telemetry over HTTP', roles: ['operator'] },
  {
    name: 'telemetry:export',
    description: 'Export telemetry as CSV',
    roles: ['viewer', 'operator'],
  },
  {
    name: 'channels:read',
    description: 'View notification channels',
    roles: ['viewer', 'operator'],
  },
  {
    name: 'channels:write',
    description: 'Create, update and delete notification channels',
    roles: ['operator'],
  },
  {
    name: 'system:read',
    description: 'Read system health (operators)',
    roles: [],
    operatorOnly: true,
  },
  {
    name: 'metrics:read',
    description: 'Read Prometheus metrics (operators)',
    roles: [],
    operatorOnly: true,
  },
];

/** The permissions of platform staff, never put on a tenant's API key. */
export const OPERATOR_PERMISSIONS = APP_PERMISSIONS.filter((p) => p.operatorOnly).map(
  (p) => p.name,
);
