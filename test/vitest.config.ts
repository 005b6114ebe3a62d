// Cross-package, install and end-to-end suites.
import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../vitest.shared.js';

export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: 'e2e',
      include: ['**/*.test.ts'],
      // The browser suite is its own project (browser/vitest.config.ts).
      exclude: ['**/node_modules/**', 'helpers/**', 'browser/**'],
    },
  }),
);
