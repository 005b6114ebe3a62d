// Public entry of the example app, for tests and embedding.
export {
  APP_VERSION,
  createApp,
  type IotApp,
  REPORTS_PATH,
  StartupCheckError,
} from './app.js';
export { brokerAddressFile, runningBrokerAddress } from './broker-address.js';
export { type AppConfig, AppConfigError, devSecret, loadConfig } from './config.js';
export { DASHBOARD_SCOPES, issueDashboardKey } from './dashboard/dashboard.js';
export type { SecurityEvent, SecurityEvents } from './dashboard/security-events.js';
export { SESSION_AUDIENCE, SESSION_COOKIE, SESSION_TTL_SEC } from './dashboard/session.js';
export { type Database, DatabaseStartupError } from './database.js';
export { DEMO_DEVICES, DEMO_TENANTS, DEMO_USERS } from './demo-data.js';
export { deviceIdentity, parseDeviceIdentity } from './device-identity.js';
export {
  aclText,
  brokerConfig,
  ensurePki,
  type Pki,
  SERVICE_RIGHTS,
  writeBrokerConfig,
} from './pki.js';
export { RedisStartupError } from './redis.js';
export { listeningMessage, startingMessage, TOKEN_COMMAND } from './start-messages.js';
export { parseTelemetryPayload, type Reading } from './telemetry.js';
export { signToken, TOKEN_AUDIENCE, TOKEN_ISSUER, tokenKey } from './tokens.js';
