// The viz's demo tests: one whole demo under load, so a suite of its own (`npm run test:viz-demo`,
// run by .ci/run after the main suite, under the heavy lock on a shared machine).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/viz/demo/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 240_000,
    // expect.poll waits for a state to come (a counter reaching its value); its default 1 s is
    // less than a scrape can take on a loaded 2-core machine, so it waits up to 10 s.
    expect: { poll: { timeout: 10_000 } },
    pool: 'forks',
    maxWorkers: 1,
    reporters: ['default'],
  },
});
