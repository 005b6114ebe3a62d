// Test project for @bulwark/perimeter, run by the root Vitest config.
import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.js';

export default mergeConfig(
  shared,
  defineProject({ test: { name: 'perimeter', include: ['src/**/*.test.ts'] } }),
);
