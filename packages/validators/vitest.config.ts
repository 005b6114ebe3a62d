// Test project for @bulwark/validators, run by the root Vitest config.
import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.js';

export default mergeConfig(
  shared,
  defineProject({ test: { name: 'validators', include: ['src/**/*.test.ts'] } }),
);
