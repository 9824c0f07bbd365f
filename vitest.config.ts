import { defineConfig } from 'vitest/config';
import DurationSequencer from './test/run/sequencer.js';

// Files that must not share libvirt with another integration file: faults-libvirtd kills and
// restarts libvirtd under every other test, and verify-boot asserts that status shows what a
// killed verify --boot left and that its own next command removes it (another file's backup,
// verify or scrub would remove it first).
const ALONE = ['test/integration/faults-libvirtd.test.ts', 'test/integration/verify-boot.test.ts'];

// Three projects in two groups. unit: parsers on recorded fixtures, pure planners, executors
// with a fake runner. integration: the built CLI against a real libvirtd. Each integration file
// owns its domains, folders and lock directory, so three files run at once: they spend much of
// their time waiting on QEMU, libvirtd and disks, and on two cores two files at once kept the
// CPUs only 60-76 % busy (measured on a quiet machine). The second group runs after the first,
// on two workers: integration-alone's files, one at a time (the whole-host lock,
// test/run/whole-host-lock.ts), with the unit files beside them (they never touch libvirt).
// test/run/sequencer.ts starts the longest files first.
export default defineConfig({
  test: {
    sequence: { sequencer: DurationSequencer },
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
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: ALONE,
          globalSetup: ['test/integration/global-setup.ts'],
          // Room for three files sharing the cores: the slowest case takes about 150 s alone.
          testTimeout: 450_000,
          hookTimeout: 180_000,
          maxWorkers: 3,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration-alone',
          include: ALONE,
          globalSetup: ['test/integration/global-setup.ts'],
          setupFiles: ['test/run/whole-host-lock.ts'],
          // Room for the unit files beside them on the other core.
          testTimeout: 450_000,
          hookTimeout: 180_000,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
