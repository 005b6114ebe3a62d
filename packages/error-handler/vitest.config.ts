// Test project for @bulwark/error-handler, run by the root Vitest config.
import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.js';

export default mergeConfig(
  shared,
  defineProject({ test: { name: 'error-handler', include: ['src/**/*.test.ts'] } }),
);
