// The `--netns` demo suite (`npm run test:netns`, run by .ci/run after the main suite): the whole
// demo with a network namespace per pod, as root. One file, one demo: it takes a minute or two.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/netns/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 270_000,
    pool: 'forks',
    maxWorkers: 1,
    reporters: ['default'],
  },
});
