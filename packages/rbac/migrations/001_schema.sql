-- Tenants, users, roles, permissions, grants, API keys and the audit log, in schema bulwark_rbac.
CREATE TABLE bulwark_rbac.tenants (
  id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._-]{1,64}$'),
  name text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bulwark_rbac.users (
  subject text PRIMARY KEY CHECK (length(subject) BETWEEN 1 AND 256),
  tenant_id text REFERENCES bulwark_rbac.tenants (id) ON DELETE CASCADE,
  display_name text NOT NULL DEFAULT '',
  disabled_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bulwark_rbac.roles (
  name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,63}$'),
  description text NOT NULL DEFAULT '',
  built_in boolean NOT NULL DEFAULT false
);

CREATE TABLE bulwark_rbac.permissions (
  name text PRIMARY KEY
    CHECK (name ~ '^(\*|[a-z][a-z0-9_-]*(:[a-z][a-z0-9_.-]*)*(:\*)?)$' AND length(name) <= 200),
  description text NOT NULL DEFAULT ''
);

CREATE TABLE bulwark_rbac.role_permissions (
  role text NOT NULL REFERENCES bulwark_rbac.roles (name) ON DELETE CASCADE ON UPDATE CASCADE,
  permission text NOT NULL REFERENCES bulwark_rbac.permissions (name) ON DELETE CASCADE,
  PRIMARY KEY (role, permission)
);

-- A grant with a NULL tenant applies in every tenant (platform staff); others in one tenant.
CREATE TABLE bulwark_rbac.user_roles (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  subject text NOT NULL REFERENCES bulwark_rbac.users (subject) ON DELETE CASCADE,
  role text NOT NULL REFERENCES bulwark_rbac.roles (name) ON DELETE CASCADE ON UPDATE CASCADE,
  tenant_id text REFERENCES bulwark_rbac.tenants (id) ON DELETE CASCADE,
  granted_at timestamptz NOT NULL DEFAULT now(),
  granted_by text
);
CREATE UNIQUE INDEX user_roles_unique ON bulwark_rbac.user_roles (subject, role, coalesce(tenant_id, ''));
CREATE INDEX user_roles_role ON bulwark_rbac.user_roles (role);

CREATE TABLE bulwark_rbac.api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id text NOT NULL REFERENCES bulwark_rbac.tenants (id) ON DELETE CASCADE,
  name text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
  prefix text NOT NULL UNIQUE CHECK (prefix ~ '^[A-Za-z0-9]{12}$'),
  key_hash bytea NOT NULL CHECK (length(key_hash) = 32),
  pepper_id smallint NOT NULL DEFAULT 0,
  scopes text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text,
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  replaced_by uuid REFERENCES bulwark_rbac.api_keys (id) ON DELETE SET NULL
);
CREATE INDEX api_keys_tenant ON bulwark_rbac.api_keys (tenant_id, created_at DESC);

-- No foreign keys: an audit row must survive the tenant or user it names, and record unknown ones.
CREATE TABLE bulwark_rbac.audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  action text NOT NULL,
  resource_type text NOT NULL,
  resource_id text,
  actor text,
  tenant_id text,
  status text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}',
  trace_id text
);
CREATE INDEX audit_log_tenant_time ON bulwark_rbac.audit_log (tenant_id, occurred_at DESC);
CREATE INDEX audit_log_time ON bulwark_rbac.audit_log (occurred_at DESC);

-- Every change to grants notifies listeners, whoever made it (the library, psql, another app).
CREATE FUNCTION bulwark_rbac.notify_grant_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'user_roles' AND TG_LEVEL = 'ROW' THEN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
      PERFORM pg_notify('bulwark_rbac_grants', json_build_object('subject', OLD.subject)::text);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
      PERFORM pg_notify('bulwark_rbac_grants', json_build_object('subject', NEW.subject)::text);
    END IF;
  ELSIF TG_TABLE_NAME = 'users' AND TG_LEVEL = 'ROW' THEN
    PERFORM pg_notify('bulwark_rbac_grants', json_build_object('subject', OLD.subject)::text);
  ELSE
    PERFORM pg_notify('bulwark_rbac_grants', '*');
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER user_roles_changed AFTER INSERT OR UPDATE OR DELETE ON bulwark_rbac.user_roles
  FOR EACH ROW EXECUTE FUNCTION bulwark_rbac.notify_grant_change();
CREATE TRIGGER user_roles_truncated AFTER TRUNCATE ON bulwark_rbac.user_roles
  FOR EACH STATEMENT EXECUTE FUNCTION bulwark_rbac.notify_grant_change();
CREATE TRIGGER users_changed AFTER UPDATE OF disabled_at OR DELETE ON bulwark_rbac.users
  FOR EACH ROW EXECUTE FUNCTION bulwark_rbac.notify_grant_change();
CREATE TRIGGER role_permissions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bulwark_rbac.role_permissions
  FOR EACH STATEMENT EXECUTE FUNCTION bulwark_rbac.notify_grant_change();
