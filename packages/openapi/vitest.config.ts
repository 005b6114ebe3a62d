// Test project for @bulwark/openapi, run by the root Vitest config.
import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.js';

export default mergeConfig(
  shared,
  defineProject({ test: { name: 'openapi', include: ['src/**/*.test.ts'] } }),
);
