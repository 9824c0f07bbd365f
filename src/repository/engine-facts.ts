/**
 * The facts `--engine auto` decides on, read for one domain (see engine-choice.ts for the rules).
 * Read-only: backup asks before a domain's run, status, list and --dry-run to say what the next
 * run will use.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isRemoteUri } from '../app/hosts.js';
import type { ChainView } from './chains.js';
import type { EngineFacts, EngineName } from './engine-choice.js';
import type { GroupBy } from '../retention/types.js';
import { periodKey } from './period-folders.js';
import { describeQemuReachProblem, findQemuReachProblem, maySearch, qemuPidOf } from './qemu-access.js';

export interface EngineFactsInput {
  domain: string;
  uri: string;
  output: string;
  /** The domain's chains in the output folder (listChains). */
  chains: readonly ChainView[];
  groupBy: GroupBy;
  now: Date;
  forced: EngineName | undefined;
  compress: boolean;
  /** --raw and the domain has a raw disk to copy. */
  rawDisk: boolean;
  /** Why the run itself is VMSnap-compatible (the vmsnap command, --groupBy with no config). */
  vmsnapRun: string | undefined;
  /** Does libvirt do push-mode backup with checkpoints (asked once per run by the caller)? */
  pushSupported: () => Promise<boolean>;
}

/** The chain the next run continues: the current period's newest chain, if any. */
export function continuedChain(chains: readonly ChainView[], groupBy: GroupBy, now: Date): { folder: string; engine: EngineName } | undefined {
  const key = periodKey(now, groupBy);
  const current = chains.filter((c) => c.period?.groupBy === groupBy && c.period?.key === key).at(-1);
  if (!current || current.state === 'broken') return undefined;
  // A VMSnap folder (no manifest) is virtnbdbackup's.
  return { folder: current.folder, engine: current.manifest?.engine ?? 'virtnbdbackup' };
}

/** Gather the facts; asks libvirt and /proc only when the answer can still change the choice. */
export async function readEngineFacts(input: EngineFactsInput): Promise<EngineFacts> {
  const base: EngineFacts = {
    ...(input.forced ? { forced: { engine: input.forced, by: 'the engine setting (--engine or the config file)' } } : {}),
    ...(continuedChain(input.chains, input.groupBy, input.now) ? { continues: continuedChain(input.chains, input.groupBy, input.now) } : {}),
    remote: isRemoteUri(input.uri),
    vmsnapCompatible: input.vmsnapRun ?? (input.chains.some((c) => c.legacy) ? `${input.domain}'s folder is a VMSnap tree` : undefined),
    compress: input.compress,
    rawDisk: input.rawDisk,
  };
  if (base.forced || base.continues || base.remote || base.vmsnapCompatible || base.compress || base.rawDisk) return base;
  if (!(await input.pushSupported())) return { ...base, pushUnsupported: "libvirt's domcapabilities do not list push-mode backup" };
  const problem = await qemuReachProblem(input.domain, input.output);
  return problem === undefined ? base : { ...base, qemuCannotReach: problem };
}

/**
 * Can QEMU reach the output folder? A running domain's QEMU is asked through /proc (its user,
 * groups and mount namespace); a shut-off one will run as libvirt's QEMU user, checked the same
 * way on the host's folders.
 */
async function qemuReachProblem(domain: string, output: string): Promise<string | undefined> {
  const pid = await qemuPidOf(domain);
  if (pid !== undefined) {
    const p = await findQemuReachProblem(pid, output);
    return p && describeQemuReachProblem(p, domain, output);
  }
  const who = await qemuUserIdentity();
  if (!who) return undefined; // no QEMU user: QEMU runs as root
  for (let d = dirname(resolve(output)); ; d = dirname(d)) {
    const s = await stat(d).catch(() => undefined);
    if (s && !maySearch(s.mode, s.uid, s.gid, who)) return `QEMU (user ${QEMU_USER}) cannot traverse ${d}, on the way to ${output}`;
    if (d === dirname(d)) return undefined;
  }
}

const QEMU_USER = 'libvirt-qemu';

async function qemuUserIdentity(): Promise<{ uid: number; gid: number; groups: number[] } | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const entry = passwd
    .split('\n')
    .find((l) => l.split(':')[0] === QEMU_USER)
    ?.split(':');
  if (!entry) return undefined;
  const uid = Number(entry[2]);
  const gid = Number(entry[3]);
  const group = await readFile('/etc/group', 'utf8').catch(() => '');
  const groups = group
    .split('\n')
    .map((l) => l.split(':'))
    .filter((g) => (g[3] ?? '').split(',').includes(QEMU_USER))
    .map((g) => Number(g[2]));
  return { uid, gid, groups: [gid, ...groups] };
}
