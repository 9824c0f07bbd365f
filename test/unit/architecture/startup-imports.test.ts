/**
 * What every CLI start loads: the modules src/cli/main.ts reaches through static imports (type
 * imports and dynamic import() excluded; those load only when a command runs). zod and the
 * config schema built with it load only with a config file (main.ts's loadConfigFor) or when a
 * flag's value is checked: `status --help` or a `status` without a config must not pay for them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../../src');

/** Files (relative to src/) and packages reached from `entry` by static, non-type imports. */
function staticReach(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(resolve(SRC, file), 'utf8');
    // `import x from 'y'`, `import { a } from 'y'`, `import 'y'`, `export { a } from 'y'`; not `import type`, not `import(...)`.
    for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      if (!spec.startsWith('.')) {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
        continue;
      }
      const target = relative(SRC, resolve(dirname(resolve(SRC, file)), spec)).replace(/\.js$/, '.ts');
      if (existsSync(resolve(SRC, target))) visit(target);
    }
  };
  visit(entry);
  return { files, packages };
}

describe('what a CLI start loads', () => {
  const reach = staticReach('cli/main.ts');

  it('reaches the command specs (the walk follows imports)', () => {
    expect(reach.files.has('cli/commands/status.ts')).toBe(true);
    expect(reach.packages.has('yargs')).toBe(true);
  });

  it('does not load zod or the config schema', () => {
    expect([...reach.packages].filter((p) => p === 'zod')).toEqual([]);
    expect([...reach.files].filter((f) => f === 'config/schema.ts' || f === 'config/notify-schema.ts')).toEqual([]);
  });
});

describe('what a status run loads on top of a start', () => {
  // main.ts imports these for any command on the local host, then the status command's code.
  const run = ['app/context.ts', 'runner/runner.ts', 'cli/reporting.ts', 'status/run-status.ts'].map(staticReach);

  it('reaches the domain reader (the walk follows imports)', () => {
    expect(run.some((r) => r.files.has('domain/read-domain.ts'))).toBe(true);
  });

  it('does not load zod, the manifests or backup: they are for status --output (status/folder-view.ts) and other commands', () => {
    expect(run.flatMap((r) => [...r.packages]).filter((p) => p === 'zod')).toEqual([]);
    const files = run.flatMap((r) => [...r.files]);
    expect(files.filter((f) => f === 'repository/manifest.ts' || f.startsWith('backup/') || f.startsWith('fleet/'))).toEqual([]);
  });
});
