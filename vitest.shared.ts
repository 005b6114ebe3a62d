// Settings every Vitest project shares. Tests start real servers and services on a machine that
// may be busy, so these bound hangs generously; they never time behaviour.
import { defineConfig } from 'vitest/config';

export const shared = defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
});
