// Test project for the private modules the packages bundle, run by the root Vitest config.
import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../vitest.shared.js';

export default mergeConfig(
  shared,
  defineProject({ test: { name: 'internal', include: ['*.test.ts'] } }),
);
