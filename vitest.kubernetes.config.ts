// The Kubernetes suite (`npm run test:kubernetes`, run by .ci/run after the main suite): each file
// starts a real kube-apiserver in a network namespace of its own (test/helpers/kube-cluster.ts).
// The global setup builds the control plane first (cached; a cold build prints its progress and
// takes minutes), so no test's timeout has to cover a build.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/kubernetes/**/*.test.ts'],
    globalSetup: ['test/kubernetes/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // expect.poll waits for a state to come (a counter reaching its value); its default 1 s is
    // less than a scrape can take on a loaded 2-core machine, so it waits up to 10 s.
    expect: { poll: { timeout: 10_000 } },
    pool: 'forks',
    // Two clusters at once would take about 1 GB and both cores: one file at a time.
    maxWorkers: 1,
    reporters: ['default'],
  },
});
