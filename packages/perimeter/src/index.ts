// Public API of @bulwark/perimeter.
export {
  createAppServer,
  type RequestClasses,
  requestClasses,
  type ServableApp,
} from './app-server.js';
export {
  assertSafeConfig,
  type ConfigFinding,
  type ConfigReport,
  checkConfig,
  type SafeConfigInput,
} from './check-config.js';
export { type CorsPolicyOptions, corsPolicy } from './cors-policy.js';
export {
  type CspDirectives,
  type CspOverrideOptions,
  type CspOverrides,
  cspNonce,
  cspOverride,
  pageContentSecurityPolicy,
} from './csp.js';
export { type CsrfProtectionOptions, csrfProtection } from './csrf-protection.js';
export { PerimeterConfigError, type PerimeterLogger, perimeterChannels } from './errors.js';
export {
  type Closer,
  type GracefulShutdownOptions,
  gracefulShutdown,
  type ShutdownController,
} from './graceful-shutdown.js';
export { type HardenServerOptions, hardenServer } from './harden-server.js';
export { type IpAllowlistOptions, ipAllowlist } from './ip-allowlist.js';
export {
  type OverloadGuard,
  type OverloadGuardOptions,
  type OverloadReason,
  type OverloadState,
  overloadGuard,
} from './overload-guard.js';
export {
  type ReadSecretOptions,
  readSecret,
  type SecretContext,
  type SecretWeakness,
  secretWeakness,
} from './read-secret.js';
export {
  type CollectedReport,
  type ReportCollectorOptions,
  reportCollector,
} from './report-collector.js';
export { type RequestTimeoutOptions, requestTimeout } from './request-timeout.js';
export {
  apiContentSecurityPolicy,
  defaultPermissionsPolicy,
  docsContentSecurityPolicy,
  type HstsOptions,
  type PagesOptions,
  type SecureHeadersOptions,
  secureHeaders,
  type TrustedTypesOption,
} from './secure-headers.js';
export { type TrustedHostsOptions, trustedHosts } from './trusted-hosts.js';
