export { listen, type Listening } from './http.js';
export { freePort, waitForPort } from './ports.js';
export { createTestDatabase, type TestDatabase } from './postgres.js';
export { createTestPki, type TestPki } from './pki.js';
export { startMosquitto, tlsListenerConfig, type MosquittoOptions, type RunningMosquitto } from './mosquitto.js';
export { redisPrefix, startRedisServer, type RunningRedis } from './redis.js';
export { requireService, serviceAvailable, SERVICES, type ServiceName } from './services.js';
