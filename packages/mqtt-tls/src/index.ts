// Public API of @bulwark/mqtt-tls.
export {
  type AedesAuthorizer,
  type AedesAuthorizerOptions,
  type AedesClientLike,
  aedesAuthorizer,
} from './aedes.js';
export { backoffDelay, type ReconnectOptions } from './backoff.js';
export {
  type AddDeviceOptions,
  addDevice,
  type CertificateSet,
  type CreateCertificatesOptions,
  createCertificates,
  type DeviceCredentials,
  mosquittoPasswordLine,
  type RevokeDeviceOptions,
  revokeDevice,
  type ServiceCredentials,
  type ServiceDefinition,
  writeMosquittoConfig,
} from './certificates.js';
export { type ConnectSecureOptions, connectSecure } from './connect.js';
export { channels, type MqttLogger } from './diagnostics.js';
export {
  MqttConfigError,
  type MqttConfigErrorCode,
  MqttConnectionError,
  type MqttConnectionErrorCode,
  MqttPublishError,
  type MqttPublishErrorCode,
  MqttTopicError,
  type MqttTopicErrorCode,
} from './errors.js';
export {
  type MosquittoConfigOptions,
  type MosquittoFiles,
  mosquittoAcl,
  mosquittoConfig,
  type ServiceRights,
  servicesAcl,
  TLS12_CIPHERS,
  TLS13_CIPHERSUITES,
} from './mosquitto-config.js';
export { type PublishSafeOptions, publishSafe } from './publish.js';
export {
  assertPublishableTopic,
  authorizeTopic,
  compileTopicTemplate,
  DEVICE_TOPIC_ROOT,
  deviceTopic,
  isSafeIdentity,
  parseTopic,
  type TopicAction,
  type TopicLimits,
  type TopicTemplate,
} from './topics.js';
