/**
 * The layering, read from the import graph of src/: cli → commands → points → repository and
 * domain → tool clients → runner, with app (context, result type), errors and util at the bottom.
 * An import that points up, folders that import each other in a circle, a command folder that
 * imports another (only fleet may call the commands), or files that import each other in a
 * circle, fail here. The rules are pure functions of the graph, and each is shown rejecting a
 * made-up graph that breaks it, so none of them can pass on nothing.
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
  delete: 6,
  boot: 6,
  mount: 6,
  check: 6,
  report: 6,
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

/** The command folders: none imports another, except fleet, which runs commands per host. */
const COMMANDS = Object.keys(LAYER).filter((f) => LAYER[f] === LAYER['backup']);
const MAY_CALL_COMMANDS = new Set(['fleet']);
/** Command-folder imports still being removed: none left. An entry here needs a reason and an end. */
const PENDING_COMMAND_EDGES = new Set<string>();

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

/** file → the files it imports (paths relative to src/, `.ts`), type-only imports included. */
function fileGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    // Static imports, re-exports and dynamic import() alike.
    const targets = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) =>
      relative(SRC, resolve(dirname(file), m[1]!)).replace(/\.js$/, '.ts'),
    );
    graph.set(relative(SRC, file), targets);
  }
  return graph;
}

/** Imports between folders, from a file graph. */
function folderEdges(graph: Map<string, string[]>): Edge[] {
  const out: Edge[] = [];
  for (const [file, targets] of graph) {
    for (const target of targets) {
      const from = topFolder(file);
      const to = topFolder(target);
      if (from !== to) out.push({ from, to, file, spec: target });
    }
  }
  return out;
}

const topFolder = (path: string) => path.split('/')[0]!.replace(/\.ts$/, '');

/** Every circle in a directed graph, as `a → b → a`. */
function findCycles(graph: ReadonlyMap<string, Iterable<string>>): string[] {
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
  return cycles;
}

/** Imports from one command folder into another that the rules do not allow. */
function commandEdges(edges: readonly Edge[], pending: ReadonlySet<string> = PENDING_COMMAND_EDGES): string[] {
  return edges
    .filter((e) => COMMANDS.includes(e.from) && COMMANDS.includes(e.to) && !MAY_CALL_COMMANDS.has(e.from) && !pending.has(`${e.from} → ${e.to}`))
    .map((e) => `${e.file} imports ${e.spec} (${e.from} → ${e.to})`);
}

function folderGraph(edges: readonly Edge[]): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const e of edges) {
    if (!graph.has(e.from)) graph.set(e.from, new Set());
    graph.get(e.from)!.add(e.to);
  }
  return graph;
}

describe('layering of src/', () => {
  const files = fileGraph();
  const all = folderEdges(files);

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
    expect(findCycles(folderGraph(all))).toEqual([]);
  });

  it('has no command folder that imports another (fleet excepted)', () => {
    expect(commandEdges(all)).toEqual([]);
  });

  it('has no files that import each other in a circle', () => {
    expect(files.size).toBeGreaterThan(100);
    expect(findCycles(files)).toEqual([]);
  });

  it('puts the shared restore-point layer below every command that uses it and above the repository', () => {
    for (const user of ['restore', 'verify', 'boot', 'mount', 'replicate']) {
      expect(all.some((e) => e.from === user && e.to === 'points')).toBe(true);
      expect(LAYER[user]).toBeGreaterThan(LAYER['points']!);
    }
    expect(LAYER['points']).toBeGreaterThan(LAYER['repository']!);
    expect(LAYER['points']).toBeGreaterThan(LAYER['domain']!);
  });

  it('rejects a made-up graph with an import between command folders', () => {
    const graph = new Map([
      ['verify/run-verify.ts', ['restore/chains.ts', 'points/chains.ts']],
      ['fleet/merge-results.ts', ['backup/run-backup.ts']],
      ['restore/run-restore.ts', ['points/plan-restore.ts']],
    ]);
    expect(commandEdges(folderEdges(graph))).toEqual(['verify/run-verify.ts imports restore/chains.ts (verify → restore)']);
    // A pending edge is allowed by name only, and only while it is listed.
    const pending = new Map([['backup/run-backup.ts', ['prune/prune-after-backup.ts']]]);
    expect(commandEdges(folderEdges(pending))).toEqual(['backup/run-backup.ts imports prune/prune-after-backup.ts (backup → prune)']);
    expect(commandEdges(folderEdges(pending), new Set(['backup → prune']))).toEqual([]);
  });

  it('rejects a made-up graph with files that import each other in a circle', () => {
    const graph = new Map([
      ['scrub/run-scrub.ts', ['scrub/render-scrub.ts', 'scrub/types.ts']],
      ['scrub/render-scrub.ts', ['scrub/run-scrub.ts']],
      ['scrub/types.ts', []],
    ]);
    expect(findCycles(graph)).toEqual(['scrub/run-scrub.ts → scrub/render-scrub.ts → scrub/run-scrub.ts']);
    graph.set('scrub/render-scrub.ts', ['scrub/types.ts']);
    expect(findCycles(graph)).toEqual([]);
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
