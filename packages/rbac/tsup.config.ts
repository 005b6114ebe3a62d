// Build: ESM + CJS + type declarations for the library, and the ESM `bulwark-hash-secret` CLI.
import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    // The migrations are read relative to the module, through import.meta.url in both formats.
    shims: true,
    target: 'node20',
  },
  {
    entry: { cli: 'src/cli.ts' },
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
  },
]);
