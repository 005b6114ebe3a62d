-- The built-in roles viewer, operator and admin (Full Admin), and the permissions they hold.
INSERT INTO bulwark_rbac.permissions (name, description) VALUES
  ('*', 'Every permission'),
  ('devices:read', 'List and view devices'),
  ('devices:write', 'Create, update and delete devices'),
  ('devices:command', 'Send commands to devices'),
  ('telemetry:read', 'Read telemetry'),
  ('alerts:read', 'List and view alerts'),
  ('alerts:write', 'Acknowledge, create, update and delete alerts'),
  ('rules:read', 'View alert rules'),
  ('rules:write', 'Create, update and delete alert rules'),
  ('users:read', 'List users and their roles'),
  ('users:write', 'Invite, update and remove users, grant and revoke roles'),
  ('api_keys:read', 'List API keys (never their secrets)'),
  ('api_keys:write', 'Issue, rotate and revoke API keys'),
  ('audit:read', 'Read the audit log');

INSERT INTO bulwark_rbac.roles (name, description, built_in) VALUES
  ('viewer', 'Read-only access to a tenant', true),
  ('operator', 'Day-to-day operation of a tenant''s devices, alerts and rules', true),
  ('admin', 'Full Admin: every permission in a tenant', true);

INSERT INTO bulwark_rbac.role_permissions (role, permission) VALUES
  ('viewer', 'devices:read'),
  ('viewer', 'telemetry:read'),
  ('viewer', 'alerts:read'),
  ('viewer', 'rules:read'),
  ('operator', 'devices:read'),
  ('operator', 'devices:write'),
  ('operator', 'devices:command'),
  ('operator', 'telemetry:read'),
  ('operator', 'alerts:read'),
  ('operator', 'alerts:write'),
  ('operator', 'rules:read'),
  ('operator', 'rules:write'),
  ('operator', 'users:read'),
  ('admin', '*');
