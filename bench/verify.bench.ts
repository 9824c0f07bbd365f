/**
 * Checksums on every core:
 * - `vmkeep verify` of a push chain holding 2 GiB, with 2 cores against 1 (target ≥ 1.7×
 *   faster). vmkeep starts one checksum thread per core it may run on (os.availableParallelism(),
 *   which follows the CPU affinity), so the 1-core runs are the same CLI under `taskset -c 0`
 *   and the 2-core runs under `taskset -c 0,1`: no setting of vmkeep's own is involved, and
 *   whatever else verify runs (qemu-img check) gets the same cores. Interleaved rounds, after one
 *   untimed run, so both sides read the chain from the page cache;
 * - the chunk checksum's cost per GiB with 1 and 2 worker threads: vmkeep's digestChunks over a
 *   1 GiB file of random bytes, already in the page cache (vmkeep's code on a real file, no
 *   libvirt), interleaved.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { digestChunks } from '../src/util/chunk-digest.js';
import { cleanupAll, createTestDomain, hostDomainType, writeGuestData } from '../test/helpers/libvirt.js';
import { backupOne, fill, fmtMs, fmtRatio, interleaved, MiB, scratchDir, syncDisks, timed, BIN, type BenchOptions } from './lib.js';
import { median, type BenchRow } from './row.js';

interface VerifyDoc {
  chains: Array<{ filesChecked: number; problems: unknown[]; phases?: Array<{ name: string; ms: number }> }>;
}

/** verify of a push chain (a 2 GiB full and one small incremental), `taskset -c 0` against `taskset -c 0,1`. */
export async function runVerifyCoresBench(opts: BenchOptions): Promise<BenchRow[]> {
  if (availableParallelism() < 2)
    return [
      { name: 'verify with 2 cores against 1', measured: 'not run: this machine gives vmkeep 1 core', target: '≥ 1.7×', met: false, source: 'real libvirt' },
    ];
  const { disk, data, rounds } = opts.quick ? { disk: 256, data: 160, rounds: 2 } : { disk: 4096, data: 2048, rounds: 5 };
  const dom = await createTestDomain({ start: true, disks: [{ target: 'vda', sizeMiB: disk }] });
  const work = scratchDir('verify');
  const lockDir = mkdtempSync(join(work, 'locks-'));
  const out = join(work, 'out');
  const env = { VMKEEP_LOCK_DIR: lockDir };
  const one: number[] = [];
  const two: number[] = [];
  const checkOne: number[] = [];
  const checkTwo: number[] = [];
  let files = 0;
  try {
    await fill(dom, 0, data, 0x30);
    await backupOne(['--engine', 'push', '--domains', dom.name, '--output', out], 'full', env);
    await writeGuestData(dom, 'vda', { pattern: 0x99, offset: (disk - 8) * MiB, length: 4 * MiB });
    await backupOne(['--engine', 'push', '--domains', dom.name, '--output', out], 'inc', env);
    await syncDisks();
    const verify = async (cpus: string, into: number[], check: number[]) => {
      const r = await timed('taskset', ['-c', cpus, process.execPath, BIN, 'verify', '--domains', dom.name, '--output', out, '--json'], env);
      const doc = JSON.parse(r.stdout) as VerifyDoc;
      if (doc.chains.length !== 1 || doc.chains[0]!.problems.length !== 0) throw new Error(`verify did not find one sound chain: ${r.stdout.slice(0, 2000)}`);
      files = doc.chains[0]!.filesChecked;
      into.push(r.ms);
      check.push(doc.chains[0]!.phases?.find((p) => p.name === 'check')?.ms ?? NaN);
      return r.ms;
    };
    // One untimed run: the chain is in the page cache for both sides from here on.
    await verify('0,1', [], []);
    for (let round = 0; round < rounds; round++) {
      await interleaved(
        round,
        () => verify('0', one, checkOne),
        () => verify('0,1', two, checkTwo),
      );
    }
  } finally {
    await cleanupAll();
    rmSync(work, { recursive: true, force: true });
  }
  const speedup = median(one) / median(two);
  const size = data >= 1024 ? `${data / 1024} GiB` : `${data} MiB`;
  return [
    {
      name: `vmkeep verify of a push chain holding ${size} (${files} files): 1-core time / 2-core time (taskset; ${rounds} interleaved rounds, chain in the page cache)`,
      measured: `${speedup.toFixed(2)}× faster with 2 cores (1 core ${fmtMs(median(one))}, 2 cores ${fmtMs(median(two))})`,
      target: '≥ 1.7×',
      met: speedup >= 1.7,
      source: 'real libvirt',
      note: `the check phase (files, chunk checksums, qemu-img check) took ${fmtMs(median(checkOne))} on 1 core, ${fmtMs(median(checkTwo))} on 2; runs 1 core ${one.map(fmtMs).join(', ')}; 2 cores ${two.map(fmtMs).join(', ')}; domain type ${hostDomainType()}`,
    },
  ];
}

/** digestChunks over a 1 GiB file in the page cache with 1 and 2 worker threads: seconds per GiB. */
export async function runChecksumBench(opts: BenchOptions): Promise<BenchRow[]> {
  const { mib, rounds } = opts.quick ? { mib: 192, rounds: 2 } : { mib: 1024, rounds: 5 };
  const dir = scratchDir('checksum');
  const file = join(dir, 'data');
  try {
    const fd = openSync(file, 'w');
    for (let i = 0; i < mib; i += 16) writeSync(fd, randomBytes(16 * MiB));
    closeSync(fd);
    // Just written, so in the page cache; flushed, so no writeback runs beside the hashing.
    await syncDisks();
    const per = { 1: [] as number[], 2: [] as number[] };
    const time = async (workers: 1 | 2) => {
      const t0 = performance.now();
      const [d] = await digestChunks([file], { workers });
      const ms = performance.now() - t0;
      if (d!.chunks.length !== Math.ceil((mib * MiB) / d!.chunkSize)) throw new Error('digestChunks returned the wrong number of chunks');
      per[workers].push(ms);
      return ms;
    };
    await time(2);
    per[2].length = 0;
    for (let round = 0; round < rounds; round++) {
      await interleaved(
        round,
        () => time(1),
        () => time(2),
      );
    }
    const gib = mib / 1024;
    const s1 = median(per[1]) / 1000 / gib;
    const s2 = median(per[2]) / 1000 / gib;
    const note = `vmkeep's digestChunks (64 MiB chunks) over ${mib} MiB of random bytes in the page cache, median of ${rounds} interleaved; no libvirt involved`;
    return [
      {
        name: 'chunk checksums (sha256 per 64 MiB), 1 worker thread: cost per GiB',
        measured: `${s1.toFixed(2)} s/GiB`,
        target: '',
        met: undefined,
        source: 'real files',
        note,
      },
      {
        name: 'chunk checksums (sha256 per 64 MiB), 2 worker threads: cost per GiB',
        measured: `${s2.toFixed(2)} s/GiB (${fmtRatio(s1 / s2)} faster than 1)`,
        target: '',
        met: undefined,
        source: 'real files',
        note,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
