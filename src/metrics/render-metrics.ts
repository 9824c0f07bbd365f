/** The Prometheus text exposition format for node_exporter's textfile collector. Pure. */
import type { RunHistory, RunResult } from '../repository/run-history.js';

/** node_exporter's textfile collector reads *.prom files. */
export const DEFAULT_TEXTFILE_NAME = 'vmkeep.prom';

export interface MetricsInput {
  host: string;
  /** When the file was made (vmkeep's clock). */
  now: Date;
  domains: readonly RunHistory[];
  /** libvirt consistency per domain (status's verdict); domains libvirt does not know are absent. */
  consistent: ReadonlyMap<string, boolean>;
  /** The output folder's forecast: when its filesystem is full (null: no date to give). */
  output?: { path: string; fullAt: string | null } | undefined;
  /** Guest data bytes each domain's next backup is expected to copy (absent: unknown). */
  nextBackupBytes?: ReadonlyMap<string, number> | undefined;
}

/** Label values: backslash, double quote and newline escaped, as the format requires. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labels(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabelValue(v)}"`)
    .join(',')}}`;
}

function num(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 1000) / 1000);
}

const seconds = (iso: string) => Date.parse(iso) / 1000;
const RESULTS: readonly RunResult[] = ['success', 'failure', 'interrupted'];

interface Family {
  name: string;
  help: string;
  rows: Array<[Record<string, string>, number]>;
}

/** Render every family with HELP and TYPE (all gauges); a family with no samples is left out. */
export function renderMetrics(input: MetricsInput): string {
  const fam = (name: string, help: string): Family => ({ name, help, rows: [] });
  const f = {
    lastSuccess: fam('vmkeep_last_success_timestamp_seconds', 'Start time of the newest successful backup run of the domain (its newest restore point).'),
    lastRun: fam('vmkeep_last_run_timestamp_seconds', 'Time of the newest backup run of the domain, successful or not.'),
    lastRunDuration: fam('vmkeep_last_run_duration_seconds', 'How long the newest backup run took (only when it succeeded; a failed run records no duration).'),
    lastRunBytes: fam('vmkeep_last_run_bytes', 'Guest data bytes the newest backup run copied (0 when it failed).'),
    lastRunResult: fam('vmkeep_last_run_result', 'Result of the newest backup run: 1 for its result, 0 for the others.'),
    points: fam('vmkeep_restore_points', 'Restore points of the domain in the output folder.'),
    chains: fam('vmkeep_chains', 'Backup chains (a full and its incrementals) of the domain in the output folder.'),
    repoBytes: fam('vmkeep_repository_bytes', "Bytes on disk of the domain's chains in the output folder."),
    consistent: fam('vmkeep_consistent', '1 when libvirt checkpoints and QEMU bitmaps agree (vmkeep status), else 0.'),
    lastVerify: fam(
      'vmkeep_last_verify_timestamp_seconds',
      'Time of the verify that decides the domain: the newest failed one of a chain still present, else the newest of any chain.',
    ),
    lastVerifyOk: fam('vmkeep_last_verify_ok', '0 while a chain still present failed its last vmkeep verify, else 1.'),
    bootVerifyOk: fam('vmkeep_boot_verify_success', '1 when the newest boot proof (vmkeep verify --boot) of a point still present passed, else 0.'),
    bootVerifyTime: fam('vmkeep_boot_verify_timestamp_seconds', 'When the newest boot proof (vmkeep verify --boot) of the domain ran.'),
    bootVerifySeconds: fam('vmkeep_boot_verify_seconds', "How long the newest boot proof took, from the verify domain's start to its last check."),
    replicated: fam('vmkeep_replication_last_timestamp_seconds', 'When the newest restore point held by this restic repository was sent (vmkeep replicate).'),
    replicationLag: fam(
      'vmkeep_replication_lag_seconds',
      'How far the repository trails: newest local point time minus newest replicated point time (0: up to date).',
    ),
    notReplicated: fam('vmkeep_replication_points_not_sent', 'Local restore points of the domain never sent to this repository.'),
    nextBackup: fam(
      'vmkeep_domain_next_backup_bytes',
      "Guest data bytes the domain's next backup is expected to copy (QEMU's dirty bitmaps, else its recent incrementals).",
    ),
    // A time, not a count of days left: Prometheus wants base units (promtool check metrics
    // refuses "days"), and a countdown written once a day by cron is a day stale by evening,
    // while the date it counts down to stays right. Alert on `... - time() < 14 * 86400`.
    fullAt: fam(
      'vmkeep_output_full_timestamp_seconds',
      "When the output folder's filesystem is full at its current net growth (absent: not enough history, or it does not grow).",
    ),
    written: fam('vmkeep_textfile_timestamp_seconds', 'When vmkeep wrote this file.'),
  };
  for (const d of [...input.domains].sort((a, b) => a.domain.localeCompare(b.domain))) {
    const l = { host: input.host, domain: d.domain };
    if (d.lastSuccess) f.lastSuccess.rows.push([l, seconds(d.lastSuccess.time)]);
    if (d.lastRun) {
      f.lastRun.rows.push([l, seconds(d.lastRun.time)]);
      if (d.lastRun.durationSeconds !== undefined) f.lastRunDuration.rows.push([l, d.lastRun.durationSeconds]);
      f.lastRunBytes.rows.push([l, d.lastRun.bytes ?? 0]);
      for (const r of RESULTS) f.lastRunResult.rows.push([{ ...l, result: r }, d.lastRun.result === r ? 1 : 0]);
    }
    f.points.rows.push([l, d.restorePoints]);
    f.chains.rows.push([l, d.chains]);
    f.repoBytes.rows.push([l, d.repositoryBytes]);
    const c = input.consistent.get(d.domain);
    if (c !== undefined) f.consistent.rows.push([l, c ? 1 : 0]);
    if (d.lastVerify) {
      f.lastVerify.rows.push([l, seconds(d.lastVerify.time)]);
      f.lastVerifyOk.rows.push([l, d.lastVerify.ok ? 1 : 0]);
    }
    const next = input.nextBackupBytes?.get(d.domain);
    if (next !== undefined) f.nextBackup.rows.push([l, next]);
    if (d.lastBootVerify) {
      f.bootVerifyOk.rows.push([l, d.lastBootVerify.result === 'ok' ? 1 : 0]);
      f.bootVerifyTime.rows.push([l, seconds(d.lastBootVerify.time)]);
      f.bootVerifySeconds.rows.push([l, d.lastBootVerify.durationSeconds]);
    }
    for (const r of d.replication ?? []) {
      const rl = { ...l, repository: r.repository };
      // A repository that holds none of the points has no send time and no lag to report: no row beats a wrong one.
      if (r.lastReplicated !== null) f.replicated.rows.push([rl, seconds(r.lastReplicated)]);
      if (r.lagSeconds !== null) f.replicationLag.rows.push([rl, r.lagSeconds]);
      f.notReplicated.rows.push([rl, r.pointsNotReplicated]);
    }
  }
  if (input.output && input.output.fullAt !== null) f.fullAt.rows.push([{ host: input.host, output: input.output.path }, seconds(input.output.fullAt)]);
  f.written.rows.push([{ host: input.host }, input.now.getTime() / 1000]);
  const out: string[] = [];
  for (const family of Object.values(f)) {
    if (family.rows.length === 0) continue;
    out.push(`# HELP ${family.name} ${family.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${family.name} gauge`);
    for (const [l, v] of family.rows) out.push(`${family.name}${labels(l)} ${num(v)}`);
  }
  return `${out.join('\n')}\n`;
}
