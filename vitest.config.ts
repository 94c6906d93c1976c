// Test runner settings: real sockets and real processes make tests slower than unit tests,
// so timeouts are generous and files run in parallel forks on two cores.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Suites of their own (npm run test:viz-demo, test:dashboard, test:compose): a whole demo under load;
    // npm run test:kubernetes: a real kube-apiserver per file.
    exclude: ['test/viz/demo/**', 'test/viz/dashboard/**', 'test/kubernetes/**', 'test/compose/**', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // expect.poll waits for a state to come (a counter reaching its value); its default 1 s is
    // less than a scrape can take on a loaded 2-core machine, so it waits up to 10 s.
    expect: { poll: { timeout: 10_000 } },
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
