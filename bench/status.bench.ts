/**
 * Status fan-out: 50 domains must not cost 50 times one. A runner that answers every virsh call
 * after a fixed latency (as a busy libvirtd does) stands in for the tools, so the figure measures
 * vmkeep's concurrency, not this machine's libvirtd.
 */
import { readFileSync } from 'node:fs';
import { createContext } from '../src/app/context.js';
import { ToolError } from '../src/errors.js';
import type { RunOptions, RunResult, Runner } from '../src/runner/runner.js';
import { runStatus } from '../src/status/run-status.js';
import { createMemoryLogger } from '../src/util/log.js';
import { toRow } from './retention.bench.js';
import type { BenchRow } from './row.js';

const LATENCY_MS = 20;
const NO_METADATA = readFileSync(new URL('../../fixtures/virsh/metadata-none.stderr', import.meta.url), 'utf8');

function slowRunner(domains: string[]): Runner {
  return {
    async run(_tool: string, argv: readonly string[], _o?: RunOptions): Promise<RunResult> {
      await new Promise((r) => setTimeout(r, LATENCY_MS));
      const ok = (stdout: string): RunResult => ({ stdout, stderr: '', exitCode: 0 });
      if (argv.includes('list')) return ok(domains.map((n, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')} ${n}\n`).join(''));
      if (argv.includes('domstate')) return ok('shut off\n');
      if (argv.includes('checkpoint-list')) return ok('\n');
      if (argv.includes('dumpxml')) {
        const uuid = argv[argv.indexOf('--domain') + 1]!;
        const name = domains[Number(uuid.slice(-12))]!;
        return ok(
          `<domain type='kvm'><name>${name}</name><devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/${name}.qcow2'/><target dev='vda' bus='virtio'/></disk></devices></domain>`,
        );
      }
      // No tags on these domains: virsh's recorded answer (fixtures/virsh/metadata-none.stderr).
      if (argv.includes('metadata')) throw new ToolError({ tool: _tool, argv, exitCode: 1, stderr: NO_METADATA });
      if (argv[0] === 'info') return ok(JSON.stringify({ filename: argv.at(-1), format: 'qcow2', 'virtual-size': 1 << 30, 'actual-size': 1 << 20 }));
      throw new Error(`unexpected call ${argv.join(' ')}`);
    },
  };
}

async function timeStatus(count: number): Promise<number> {
  const names = Array.from({ length: count }, (_, i) => `vm-${i}`);
  const ctx = createContext({
    runner: slowRunner(names),
    uri: 'qemu:///system',
    now: () => new Date(),
    log: createMemoryLogger(),
    interactive: false,
    signal: new AbortController().signal,
  });
  const t0 = performance.now();
  await runStatus(ctx, { domains: undefined, output: undefined, colour: false });
  return performance.now() - t0;
}

/** One domain, then fifty: the ratio is what the target is about. */
export async function runStatusBench(): Promise<BenchRow[]> {
  const one = await timeStatus(1);
  const fifty = await timeStatus(50);
  const note = 'measures the fan-out code only: the product figure is in the real-libvirt table';
  return [
    toRow({ name: `status fan-out, 1 domain (fake runner, ${LATENCY_MS} ms per tool call)`, ms: one, target: 1000 }, 'fake runner', note),
    toRow(
      { name: `status fan-out, 50 domains (fake runner, ${LATENCY_MS} ms per call; under 10× one domain)`, ms: fifty, target: one * 10 },
      'fake runner',
      note,
    ),
  ];
}
