// The viz's demo tests: one whole demo under load, so a suite of its own (`npm run test:viz-demo`,
// run by .ci/run after the main suite, under the heavy lock on a shared machine).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/viz/demo/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 240_000,
    pool: 'forks',
    maxWorkers: 1,
    reporters: ['default'],
  },
});
