export {
  CHROMIUM_ARGS,
  type ChromiumLauncher,
  type ChromiumLaunchOptions,
  chromiumExecutable,
  launchChromium,
} from './chromium.js';
export { type Listening, listen } from './http.js';
export {
  type MosquittoOptions,
  type RunningMosquitto,
  startMosquitto,
  tlsListenerConfig,
} from './mosquitto.js';
export {
  expectObservatoryAPlus,
  type ObservatoryScan,
  prepareObservatory,
  scanObservatory,
} from './observatory.js';
export { type PgBouncerOptions, type RunningPgBouncer, startPgBouncer } from './pgbouncer.js';
export { createTestPki, type TestPki } from './pki.js';
export { freePort, waitForPort } from './ports.js';
export { createTestDatabase, type TestDatabase } from './postgres.js';
export {
  type RedisClusterOptions,
  type RedisNodeAddress,
  type RedisSentinelOptions,
  type RunningRedis,
  type RunningRedisCluster,
  type RunningRedisSentinel,
  redisPrefix,
  startRedisCluster,
  startRedisSentinel,
  startRedisServer,
} from './redis.js';
export { requireService, SERVICES, type ServiceName, serviceAvailable } from './services.js';
export { type AppWorkspace, createAppWorkspace } from './workspace.js';
