import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globals: true,
    include: ['test/**/*.test.ts'],
    // Dawn is a native addon: one process per test file is the robust choice (no worker threads).
    pool: 'forks',
    // Generous: on a fresh machine lavapipe compiles every pipeline with LLVM on first use (seconds
    // each for the matmul variants; Mesa caches them on disk afterwards), so a first run is several
    // times slower than later ones: a training test that takes 11 s warm took over 120 s cold.
    testTimeout: 600_000,
    hookTimeout: 300_000,
  },
});
