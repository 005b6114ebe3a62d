// The browser suite: the example app's pages in headless Chromium, driven by playwright-core.
import { defineProject, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.js';

export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: 'browser',
      include: ['**/*.test.ts'],
      // Each file starts an app and a browser; on a small machine they take turns.
      fileParallelism: false,
    },
  }),
);
