/**
 * The layering, read from the import graph of src/: cli → commands → repository and domain →
 * tool clients → runner, with app (context, result type), errors and util at the bottom.
 * An import that points up, or folders that import each other in a circle, fail here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../../src');

/** Higher imports lower (or equal, without cycles). Every folder of src/ must be listed. */
const LAYER: Record<string, number> = {
  cli: 7,
  // commands
  status: 6,
  backup: 6,
  scrub: 6,
  restore: 6,
  verify: 6,
  prune: 6,
  boot: 6,
  mount: 6,
  check: 6,
  // several hosts in one run (runs other commands per host), and restic replication
  fleet: 6,
  replicate: 6,
  // reporting around a command: notifications and the metrics textfile (the CLI calls them)
  notify: 6,
  metrics: 6,
  // restore points, chains, their files and the disk-image restore: what several commands share
  points: 5,
  // the config file (schema, settings resolver, config check) and hooks, used by commands
  config: 4,
  hooks: 4,
  // repository, domain and the pure retention rules they use
  repository: 4,
  domain: 4,
  retention: 4,
  // what the CLI builds and every command receives
  app: 3,
  // tool clients
  virsh: 2,
  qemu: 2,
  virtnbd: 2,
  restic: 2,
  // the one door to external tools
  runner: 1,
  errors: 0,
  util: 0,
};

interface Edge {
  from: string;
  to: string;
  file: string;
  spec: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const folderOf = (file: string) => relative(SRC, file).split('/')[0]!.replace(/\.ts$/, '');

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    // Static imports, re-exports and dynamic import() alike.
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = resolve(dirname(file), m[1]!);
      const from = folderOf(file);
      const to = folderOf(target);
      if (from !== to) out.push({ from, to, file: relative(SRC, file), spec: m[1]! });
    }
  }
  return out;
}

describe('layering of src/', () => {
  const all = edges();

  it('finds the import graph (the check cannot pass on nothing)', () => {
    expect(all.length).toBeGreaterThan(50);
    expect(all.some((e) => e.from === 'cli' && e.to === 'backup')).toBe(true);
  });

  it('knows the layer of every folder', () => {
    const folders = new Set(sourceFiles(SRC).map(folderOf));
    expect([...folders].filter((f) => LAYER[f] === undefined)).toEqual([]);
  });

  it('has no import that points to a higher layer', () => {
    const upward = all.filter((e) => LAYER[e.to]! > LAYER[e.from]!).map((e) => `${e.file} imports ${e.spec} (${e.from} → ${e.to})`);
    expect(upward).toEqual([]);
  });

  it('has no folders that import each other in a circle', () => {
    const graph = new Map<string, Set<string>>();
    for (const e of all) {
      if (!graph.has(e.from)) graph.set(e.from, new Set());
      graph.get(e.from)!.add(e.to);
    }
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const path: string[] = [];
    const visit = (n: string) => {
      state.set(n, 'open');
      path.push(n);
      for (const m of graph.get(n) ?? []) {
        if (state.get(m) === 'open') cycles.push([...path.slice(path.indexOf(m)), m].join(' → '));
        else if (!state.has(m)) visit(m);
      }
      path.pop();
      state.set(n, 'done');
    };
    for (const n of graph.keys()) if (!state.has(n)) visit(n);
    expect(cycles).toEqual([]);
  });

  it('keeps execa in the runner and yargs in the CLI', () => {
    const importers = (pkg: string) =>
      sourceFiles(SRC)
        .filter((f) => new RegExp(`from ['"]${pkg}['"]|import\\(['"]${pkg}['"]\\)`).test(readFileSync(f, 'utf8')))
        .map((f) => relative(SRC, f));
    expect(importers('execa')).toEqual(['runner/runner.ts']);
    expect(importers('yargs').every((f) => f.startsWith('cli/'))).toBe(true);
  });
});
