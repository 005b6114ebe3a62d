// Test project for @bulwark/db-safety, run by the root Vitest config.
import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.js';

export default mergeConfig(
  shared,
  defineProject({ test: { name: 'db-safety', include: ['src/**/*.test.ts'] } }),
);
