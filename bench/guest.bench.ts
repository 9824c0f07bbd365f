/**
 * What a user sees, measured on the booting test guest (scripts/build-test-guest.sh; a real
 * small Linux running qemu-ga and its checksummed journal, several fsynced lines a second):
 * - `verify --boot` of one point: the push chain's newest point (an overlay on the chain)
 *   against the virtnbdbackup chain's (a scratch restore), the same guest, interleaved rounds;
 *   the whole CLI run and the time to the passing `agent` check (firstAnswerMs);
 * - the quiesce cost: how long the guest's writes stop per point with --quiesce, for each
 *   engine. Each journal line carries the guest's uptime, read just before the line is appended
 *   and fsynced, so a write held by the freeze shows as a gap between two lines' uptimes. The
 *   figure is the longest gap among the lines written during the backup run, less the usual gap
 *   between lines before it (the workload's own pace). vmkeep's own account (the push freezer's
 *   "writes blocked" figure, the freeze phase) goes into the notes beside it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createTestGuest, GUEST_JOURNAL_PATH, guestExec, waitForAgent, waitForGuestReady, type TestGuest } from '../test/helpers/guest.js';
import { cleanupAll, virsh } from '../test/helpers/libvirt.js';
import { backupOne, fmtMs, fmtRatio, interleaved, scratchDir, syncDisks, vmkeep, type BenchOptions } from './lib.js';
import { median, type BenchRow } from './row.js';

type Engine = 'push' | 'virtnbdbackup';

async function bootedGuest(label: string): Promise<TestGuest> {
  const guest = await createTestGuest({ label });
  await waitForGuestReady(guest);
  await waitForAgent(guest);
  return guest;
}

interface BootPoint {
  engine: string;
  disks: string;
  result: string;
  reason?: string;
  durationMs: number;
  firstAnswerMs?: number;
}

/** verify --boot of one point per engine, `agent` check, the push overlay against the virtnbdbackup scratch restore. */
export async function runBootVerifyBench(opts: BenchOptions): Promise<BenchRow[]> {
  const rounds = opts.quick ? 1 : 3;
  const work = scratchDir('boot');
  const env = { VMKEEP_LOCK_DIR: mkdtempSync(join(work, 'locks-')) };
  const runs: Record<Engine, Array<{ ms: number; point: BootPoint }>> = { push: [], virtnbdbackup: [] };
  let guest: TestGuest | undefined;
  try {
    guest = await bootedGuest('bench-boot');
    const g = guest;
    const out = { push: join(work, 'push'), virtnbdbackup: join(work, 'virtnbdbackup') };
    await backupOne(['--engine', 'push', '--domains', g.name, '--output', out.push], 'full', env);
    await backupOne(['--engine', 'virtnbdbackup', '--domains', g.name, '--output', out.virtnbdbackup], 'full', env);
    const boot = async (engine: Engine) => {
      await syncDisks();
      const r = await vmkeep(['verify', '--boot', '--domains', g.name, '--output', out[engine], '--check', 'agent', '--boot-timeout', '300', '--json'], env);
      const doc = JSON.parse(r.stdout) as { points: BootPoint[]; domainType?: string };
      const p = doc.points[0];
      if (doc.points.length !== 1 || p?.result !== 'ok' || p.engine !== engine)
        throw new Error(`verify --boot of the ${engine} chain did not prove one point: ${r.stdout.slice(0, 2000)}`);
      runs[engine].push({ ms: r.ms, point: p });
      return r.ms;
    };
    for (let round = 0; round < rounds; round++) {
      await interleaved(
        round,
        () => boot('push'),
        () => boot('virtnbdbackup'),
      );
    }
  } finally {
    await cleanupAll();
    rmSync(work, { recursive: true, force: true });
  }
  const rows: BenchRow[] = [];
  for (const engine of ['push', 'virtnbdbackup'] as const) {
    const rs = runs[engine];
    const wall = median(rs.map((r) => r.ms));
    const answer = median(rs.map((r) => r.point.firstAnswerMs ?? NaN));
    rows.push({
      name: `verify --boot of one point, ${engine} chain (${rs[0]?.point.disks ?? '?'}), agent check, booting test guest (median of ${rounds}, interleaved)`,
      measured: `${fmtMs(wall)} whole run; agent answered after ${fmtMs(answer)}`,
      target: '',
      met: undefined,
      source: 'real libvirt',
      note: `runs ${rs.map((r) => `${fmtMs(r.ms)} (answer ${fmtMs(r.point.firstAnswerMs ?? NaN)})`).join(', ')}; the guest boots under TCG (domain type qemu) unless the host's KVM can boot it`,
    });
  }
  const p = median(runs.push.map((r) => r.ms));
  const v = median(runs.virtnbdbackup.map((r) => r.ms));
  rows.push({
    name: 'verify --boot of one point: virtnbdbackup chain time / push chain time',
    measured: fmtRatio(v / p),
    target: '',
    met: undefined,
    source: 'real libvirt',
    note: 'the push point boots on an overlay of the chain (nothing copied); the virtnbdbackup point is restored into a scratch folder first',
  });
  return rows;
}

/** The guest's uptime in seconds, read inside the guest. */
async function guestUptime(guest: TestGuest): Promise<number> {
  const r = await guestExec(guest, '/bin/cat', ['/proc/uptime']);
  const up = Number(r.stdout.trim().split(/\s+/)[0]);
  if (r.exitCode !== 0 || !Number.isFinite(up)) throw new Error(`cannot read the uptime of ${guest.name}: ${r.stdout}${r.stderr}`);
  return up;
}

/** The uptimes of the journal's last lines ("SEQ BOOT UPTIME EPOCH PAYLOAD MD5"). */
async function journalUptimes(guest: TestGuest): Promise<number[]> {
  const r = await guestExec(guest, '/bin/sh', ['-c', `tail -n 3000 ${GUEST_JOURNAL_PATH}`]);
  if (r.exitCode !== 0) throw new Error(`cannot read the journal of ${guest.name}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .map((l) => Number(l.split(' ')[2]))
    .filter((n) => Number.isFinite(n) && n > 0);
}

interface Stop {
  /** Longest gap between two journal lines written during the run, less the usual gap (ms). */
  blockedMs: number;
  usualGapMs: number;
  /** The push freezer's own figure: guest frozen to thawed. */
  frozenMs?: number;
  freezePhaseMs?: number;
}

/** How long the journal stopped during a run that lasted from guest uptime `from` to `to`. */
function journalStop(uptimes: readonly number[], from: number, to: number): Pick<Stop, 'blockedMs' | 'usualGapMs'> {
  const before = uptimes.filter((u) => u < from).slice(-30);
  const gaps = (xs: readonly number[]) => xs.slice(1).map((x, i) => x - xs[i]!);
  const usual = before.length >= 3 ? median(gaps(before)) : 0.1;
  // The lines of the run, with the last line before it and the first after it: a stop that
  // began before the run's first line or ended after its last one still counts.
  const first = uptimes.findIndex((u) => u >= from);
  const afterIdx = uptimes.findIndex((u) => u > to);
  if (first < 0 || afterIdx < 0) throw new Error('the guest journal has no line after the backup run: it stopped writing');
  const window = uptimes.slice(Math.max(0, first - 1), afterIdx + 1);
  const longest = Math.max(...gaps(window));
  return { blockedMs: Math.max(0, (longest - usual) * 1000), usualGapMs: usual * 1000 };
}

/** --quiesce with each engine: a full and incrementals while the guest writes its journal; how long its writes stop per point. */
export async function runQuiesceBench(opts: BenchOptions): Promise<BenchRow[]> {
  const points = opts.quick ? 2 : 5;
  const work = scratchDir('quiesce');
  const env = { VMKEEP_LOCK_DIR: mkdtempSync(join(work, 'locks-')) };
  const stops: Record<Engine, Stop[]> = { push: [], virtnbdbackup: [] };
  let guest: TestGuest | undefined;
  try {
    guest = await bootedGuest('bench-quiesce');
    for (const engine of ['push', 'virtnbdbackup'] as const) {
      const out = join(work, engine);
      for (let k = 0; k < points; k++) {
        // A few seconds of the workload's own pace before the run, for the usual gap.
        await new Promise((r) => setTimeout(r, 3000));
        const from = await guestUptime(guest);
        const { result, stderr } = await backupOne(['--engine', engine, '--quiesce', '--domains', guest.name, '--output', out], k === 0 ? 'full' : 'inc', env);
        const to = await guestUptime(guest);
        if (result.quiesced !== true) throw new Error(`${engine} point ${k} was not quiesced: ${result.quiesceReason ?? 'no reason given'}`);
        // Lines after the run, so a stop at its very end is closed by one.
        await new Promise((r) => setTimeout(r, 1500));
        const stop = journalStop(await journalUptimes(guest), from, to);
        const frozen = /writes blocked (\d+) ms/.exec(stderr);
        const freezePhase = result.phases?.find((p) => p.name === 'freeze')?.ms;
        stops[engine].push({
          ...stop,
          ...(frozen ? { frozenMs: Number(frozen[1]) } : {}),
          ...(freezePhase !== undefined ? { freezePhaseMs: freezePhase } : {}),
        });
      }
    }
  } finally {
    if (guest) await virsh(['domfsthaw', guest.uuid]).catch(() => undefined);
    await cleanupAll();
    rmSync(work, { recursive: true, force: true });
  }
  return (['push', 'virtnbdbackup'] as const).map((engine) => {
    const s = stops[engine];
    const blocked = median(s.map((x) => x.blockedMs));
    const frozen = s.map((x) => x.frozenMs).filter((x): x is number => x !== undefined);
    const own = [
      frozen.length > 0
        ? `vmkeep's freezer: frozen to thawed ${frozen.map(fmtMs).join(', ')}`
        : engine === 'virtnbdbackup'
          ? 'virtnbdbackup freezes and thaws around its checkpoint itself'
          : '',
      `freeze phase ${s.map((x) => fmtMs(x.freezePhaseMs ?? NaN)).join(', ')}`,
    ].filter(Boolean);
    return {
      name: `quiesce cost, ${engine}: how long the guest's journal writes stop per point with --quiesce (a full and ${points - 1} incremental${points > 2 ? 's' : ''}, median)`,
      measured: `${fmtMs(blocked)} (per point ${s.map((x) => fmtMs(x.blockedMs)).join(', ')})`,
      target: engine === 'push' ? '≤ 1 s' : '',
      met: engine === 'push' ? blocked <= 1000 : undefined,
      source: 'real libvirt' as const,
      note: `longest gap between journal lines during the run less the usual gap (${fmtMs(median(s.map((x) => x.usualGapMs)))}), from the guest's uptimes; ${own.join('; ')}`,
    };
  });
}
