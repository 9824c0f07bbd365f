/**
 * vitest globalSetup for the integration project: removes test domains and images left by
 * earlier (crashed or killed) runs before the run, and anything this run left after it.
 * Domains owned by another test run that is still going are kept (see removeLeftoverTestDomains).
 */
import { removeLeftoverTestDomains, type LeftoverReport } from '../helpers/libvirt.js';

function describeReport(when: string, report: LeftoverReport): void {
  if (report.removedDomains.length > 0) {
    console.warn(`[vmkeep ${when}] removed leftover test domains: ${report.removedDomains.map((n) => JSON.stringify(n)).join(', ')}`);
  }
  if (report.keptDomains.length > 0) {
    console.warn(`[vmkeep ${when}] kept test domains of another live run: ${report.keptDomains.map((n) => JSON.stringify(n)).join(', ')}`);
  }
}

/** Before the run. */
export async function setup(): Promise<void> {
  describeReport('setup', await removeLeftoverTestDomains());
}

/** After the run, even when tests failed. */
export async function teardown(): Promise<void> {
  describeReport('teardown', await removeLeftoverTestDomains());
}
