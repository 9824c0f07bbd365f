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
