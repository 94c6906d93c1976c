// The compose suite: the demo on a real Docker engine (`npm run test:compose` runs
// test/compose/run.sh, which starts the engine and runs this inside its network namespace).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/compose/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
    reporters: ['default'],
  },
});
