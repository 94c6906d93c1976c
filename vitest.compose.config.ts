// The compose suite: the demo on a real Docker engine (`npm run test:compose` runs
// test/compose/run.sh, which starts the engine and runs this inside its network namespace).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/compose/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // expect.poll waits for a state to come (a counter reaching its value); its default 1 s is
    // less than a scrape can take on a loaded 2-core machine, so it waits up to 10 s.
    expect: { poll: { timeout: 10_000 } },
    pool: 'forks',
    maxWorkers: 1,
    reporters: ['default'],
  },
});
