// Test project for @bulwark/rate-limit, run by the root Vitest config.
import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.js';

export default mergeConfig(
  shared,
  defineProject({ test: { name: 'rate-limit', include: ['src/**/*.test.ts'] } }),
);
