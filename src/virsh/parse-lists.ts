/** Parsers for virsh's line-oriented outputs. */
import type { DomainState } from './types.js';

/** `virsh list --all --name` / `checkpoint-list --name`: one name a line, blank lines dropped. */
export function parseNameList(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

/** `virsh list --all --uuid --name`: "UUID NAME" lines (a name may contain spaces). */
export function parseUuidNameList(stdout: string): Array<{ uuid: string; name: string }> {
  const out: Array<{ uuid: string; name: string }> = [];
  for (const line of stdout.split('\n')) {
    const m = /^([0-9a-fA-F-]{36}) (.+)$/.exec(line.replace(/\s+$/, ''));
    if (m) out.push({ uuid: m[1]!.toLowerCase(), name: m[2]! });
  }
  return out;
}

/** `virsh domstate`: the state word(s) on the first line. */
export function parseDomState(stdout: string): DomainState {
  const word = stdout.trim().split('\n')[0]?.trim() ?? '';
  if (word === 'running' || word === 'paused' || word === 'shut off') return word;
  if (word === 'in shutdown' || word === 'idle' || word === 'blocked') return 'running';
  if (word === 'pmsuspended') return 'paused';
  return word === 'crashed' ? 'shut off' : 'other';
}

/** `virsh domjobinfo`: "Key: value" lines into a record (keys as printed). */
export function parseJobInfo(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line.trim());
    if (m) out[m[1]!.trim()] = m[2]!.trim();
  }
  return out;
}

/** Is a backup (or other) job running according to domjobinfo? */
export function jobIsActive(info: Record<string, string>): boolean {
  const type = (info['Job type'] ?? 'None').toLowerCase();
  return type !== 'none' && type !== 'completed' && type !== 'failed' && type !== 'cancelled';
}

/** A job's raw statistics (`virsh domjobinfo --rawstats`), the fields vmkeep reads. */
export interface JobStats {
  /** libvirt's virDomainJobType: none, bounded/unbounded (active), completed, failed, cancelled. */
  state: 'none' | 'active' | 'completed' | 'failed' | 'cancelled';
  /** Bytes of the disks' job done and in all (a backup job's real progress). */
  processedBytes: number | undefined;
  totalBytes: number | undefined;
  /** libvirt's error message of a failed job, when it gives one. */
  error: string | undefined;
}

const JOB_TYPES: Record<string, JobStats['state']> = { '0': 'none', '1': 'active', '2': 'active', '3': 'completed', '4': 'failed', '5': 'cancelled' };

/** `virsh domjobinfo --rawstats`: "Job type: 3" then "name: value" lines. */
export function parseJobStats(stdout: string): JobStats {
  const raw = parseJobInfo(stdout);
  const num = (k: string) => (raw[k] !== undefined && /^\d+$/.test(raw[k]) ? Number(raw[k]) : undefined);
  let state = JOB_TYPES[raw['Job type'] ?? '0'] ?? 'none';
  // A finished job libvirt still reports with success 0 did not succeed.
  if (state === 'completed' && raw['success'] === '0') state = 'failed';
  return { state, processedBytes: num('disk_processed'), totalBytes: num('disk_total'), error: raw['errmsg'] };
}
