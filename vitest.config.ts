import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globals: true,
    include: ['test/**/*.test.ts'],
    // Dawn is a native addon: one process per test file is the robust choice (no worker threads).
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
