// Root test config: one Vitest project per package, plus the cross-package suites in test/.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'test/helpers/vitest.config.ts', 'test/vitest.config.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
});
