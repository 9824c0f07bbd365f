import { defineConfig } from 'vitest/config';

// Two tiers that run as separate projects: unit (parsers on recorded fixtures, pure planners,
// executors with a fake runner) and integration (the built CLI against a real libvirtd).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Some unit tests start real processes (sh, the CLI's --help): while the integration
          // project runs beside them on two cores, 5 s is not enough and says nothing.
          testTimeout: 30_000,
          setupFiles: ['test/unit/setup-env.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          // Real domains share one libvirtd and two cores: run files one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
