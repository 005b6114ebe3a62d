// Test project for @bulwark/mqtt-tls, run by the root Vitest config.
import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.js';

export default mergeConfig(
  shared,
  defineProject({ test: { name: 'mqtt-tls', include: ['src/**/*.test.ts'] } }),
);
