// Test project for @bulwark/rbac, run by the root Vitest config.
import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.js';

export default mergeConfig(
  shared,
  defineProject({ test: { name: 'rbac', include: ['src/**/*.test.ts'] } }),
);
