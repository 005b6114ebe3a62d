// Root test config: one Vitest project per package, the private internal/ modules, and the
// cross-package suites in test/.
import { defineConfig, mergeConfig } from 'vitest/config';
import { shared } from './vitest.shared.js';

export default mergeConfig(
  shared,
  defineConfig({
    test: {
      projects: [
        'packages/*/vitest.config.ts',
        'internal/vitest.config.ts',
        'test/helpers/vitest.config.ts',
        'test/vitest.config.ts',
        'test/browser/vitest.config.ts',
      ],
    },
  }),
);
