/**
 * The order vitest starts test files in (vitest.config.ts's `sequence.sequencer`).
 *
 * vitest orders files by their last duration, which only a machine that ran them before knows;
 * CI runs on a fresh machine, where vitest falls back to file size, a poor guess (a small file
 * that boots a guest took 140 s; the largest took 100 s). Files start here by the durations
 * recorded in test/run/durations.json (`npm run test:durations` writes it from a CI run's
 * report), longest first, so that no long file starts last and leaves one core idle at the end.
 * A file with no recorded duration starts first: it might be long.
 *
 * In the second group, the files that need the host's libvirt to themselves (project
 * integration-alone) share the two workers with the unit files: the longest whole-host file
 * starts first, the unit files fill the other worker beside it, and the other whole-host files
 * come last. The whole-host lock (test/run/whole-host-lock.ts) keeps two of them from running
 * at once whatever the order.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const ALONE_PROJECT = 'integration-alone';

function recordedDurations(): Map<string, number> {
  try {
    const raw = JSON.parse(readFileSync(new URL('./durations.json', import.meta.url), 'utf8')) as { files?: Record<string, number> };
    return new Map(Object.entries(raw.files ?? {}));
  } catch {
    return new Map();
  }
}

export default class DurationSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const durations = recordedDurations();
    const root = this.ctx.config.root;
    const ms = (spec: TestSpecification) => durations.get(relative(root, spec.moduleId)) ?? Number.POSITIVE_INFINITY;
    const longestFirst = (a: TestSpecification, b: TestSpecification) => ms(b) - ms(a) || a.moduleId.localeCompare(b.moduleId);
    const byGroup = new Map<number, TestSpecification[]>();
    for (const spec of files) {
      const group = spec.project.config.sequence.groupOrder;
      byGroup.set(group, [...(byGroup.get(group) ?? []), spec]);
    }
    const sorted: TestSpecification[] = [];
    for (const group of [...byGroup.keys()].sort((a, b) => a - b)) {
      const specs = byGroup.get(group)!.sort(longestFirst);
      const alone = specs.filter((s) => s.project.name === ALONE_PROJECT);
      const others = specs.filter((s) => s.project.name !== ALONE_PROJECT);
      sorted.push(...alone.slice(0, 1), ...others, ...alone.slice(1));
    }
    return sorted;
  }
}
