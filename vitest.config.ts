import { defineConfig } from 'vitest/config';

// Files that must not share the machine with another integration file: faults-libvirtd kills
// and restarts libvirtd under every other test, and verify-boot asserts that status shows what a
// killed verify --boot left and that its own next command removes it (another file's backup,
// verify or scrub would remove it first).
const ALONE = ['test/integration/faults-libvirtd.test.ts', 'test/integration/verify-boot.test.ts'];

// Three projects. unit: parsers on recorded fixtures, pure planners, executors with a fake
// runner. integration: the built CLI against a real libvirtd. Each integration file owns its
// domains, folders and lock directory, so two files run at once beside the unit files: on two
// cores one file alone leaves the machine about half idle while it waits on QEMU and disks.
// integration-alone runs after them, one file at a time.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Some unit tests start real processes (sh, the CLI's --help): while integration files
          // run beside them on two cores, 5 s is not enough and says nothing.
          testTimeout: 30_000,
          setupFiles: ['test/unit/setup-env.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: ALONE,
          globalSetup: ['test/integration/global-setup.ts'],
          // Room for two files sharing the cores: the slowest case takes about 150 s alone.
          testTimeout: 450_000,
          hookTimeout: 180_000,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration-alone',
          include: ALONE,
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
