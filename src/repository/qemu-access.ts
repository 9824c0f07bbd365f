/** Letting QEMU (user libvirt-qemu) reach images in a chain folder. */
import { chmod, chown, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/**
 * QEMU opens images by path as another user: the chain folder and the domain folder become 0711
 * (traversable, not listable) and the output folder gets o+x. Returns a function that makes the
 * chain and domain folders 0700 again; the output folder keeps o+x (other domains' jobs may be
 * opening their files at the same time).
 */
export async function openChainToQemu(chainDir: string): Promise<() => Promise<void>> {
  const domainDir = dirname(chainDir);
  const outputDir = dirname(domainDir);
  const mode = (await stat(outputDir)).mode & 0o7777;
  if ((mode & 0o001) === 0) await chmod(outputDir, mode | 0o001);
  await chmod(domainDir, 0o711);
  await chmod(chainDir, 0o711);
  return async () => {
    await chmod(chainDir, 0o700).catch(() => undefined);
    await chmod(domainDir, 0o700).catch(() => undefined);
  };
}

/**
 * Why QEMU cannot reach a folder it must write into:
 * - `not-traversable`: a folder on the way is not searchable for QEMU's user and groups;
 * - `not-mounted-for-qemu`: QEMU runs in its own mount namespace (libvirt's default,
 *   `namespaces = ["mount"]` in qemu.conf) and sees another folder at this path, because the file
 *   system holding it was mounted after QEMU started (where the host's mounts do not propagate).
 */
export type QemuReachProblem = { kind: 'not-traversable'; folder: string; user: string } | { kind: 'not-mounted-for-qemu'; folder: string; mountPoint: string };

/** A QEMU process's identity: effective uid, gid and supplementary groups (from /proc). */
interface QemuIdentity {
  uid: number;
  gid: number;
  groups: number[];
}

/** The pid of a domain's QEMU on this host (libvirt's system instance); undefined when not running here. */
export async function qemuPidOf(domain: string): Promise<number | undefined> {
  const text = await readFile(join('/run/libvirt/qemu', `${domain}.pid`), 'utf8').catch(() => undefined);
  const pid = text === undefined ? NaN : Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  // A stale pid file may name another process now: QEMU's command line carries `-name guest=NAME`
  // (commas doubled).
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
  const guest = `guest=${domain.replaceAll(',', ',,')}`;
  return argv.some((a) => a === guest || a.startsWith(`${guest},`)) ? pid : undefined;
}

/** Parse the Uid/Gid/Groups lines of /proc/PID/status (the effective ids). Pure. */
export function parseProcStatusIds(text: string): QemuIdentity | undefined {
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim().split(/\s+/).filter(Boolean).map(Number);
  const uid = field('Uid')?.[1];
  const gid = field('Gid')?.[1];
  if (uid === undefined || gid === undefined || Number.isNaN(uid) || Number.isNaN(gid)) return undefined;
  return { uid, gid, groups: (field('Groups') ?? []).filter((g) => !Number.isNaN(g)) };
}

/**
 * May `who` search (traverse) a folder with this mode and owner? Mode bits only. A group-class x
 * bit for a group QEMU is not in counts as yes: with a POSIX ACL those bits are the ACL's mask, and
 * an ACL entry may grant QEMU's user; the job itself then says whether it can. Pure.
 */
export function maySearch(mode: number, owner: number, group: number, who: QemuIdentity): boolean {
  if (who.uid === 0) return true;
  if (owner === who.uid) return (mode & 0o100) !== 0;
  if ((mode & 0o010) !== 0) return true;
  if (group === who.gid || who.groups.includes(group)) return false;
  return (mode & 0o001) !== 0;
}

/**
 * Can the QEMU process `pid` reach `folder` (which vmkeep has made or will make `o+x` itself)?
 * Looks through QEMU's own root (`/proc/PID/root`), so it sees QEMU's mount namespace, and checks
 * every folder above with QEMU's user and groups. undefined when it can, or when it cannot be told
 * (no such process, /proc unreadable).
 */
export async function findQemuReachProblem(pid: number, folder: string): Promise<QemuReachProblem | undefined> {
  const abs = resolve(folder);
  const who = parseProcStatusIds(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''));
  if (!who) return undefined;
  const ours = await stat(abs).catch(() => undefined);
  if (!ours) return undefined;
  const root = `/proc/${pid}/root`;
  const theirs = await stat(root + abs).catch((e: NodeJS.ErrnoException) => e.code);
  if (theirs === 'ENOENT' || (typeof theirs === 'object' && (theirs.dev !== ours.dev || theirs.ino !== ours.ino))) {
    return { kind: 'not-mounted-for-qemu', folder: abs, mountPoint: await mountPointOf(abs) };
  }
  for (const dir of ancestors(abs)) {
    const s = await stat(root + dir).catch(() => undefined);
    if (!s) return undefined;
    if (!maySearch(s.mode, s.uid, s.gid, who)) return { kind: 'not-traversable', folder: dir, user: await userName(who.uid) };
  }
  return undefined;
}

/** The folders above `abs`, from `/` down (not `abs` itself). */
function ancestors(abs: string): string[] {
  const out: string[] = [];
  for (let d = dirname(abs); ; d = dirname(d)) {
    out.unshift(d);
    if (d === dirname(d)) return out;
  }
}

/** Where the file system holding `abs` is mounted, as vmkeep sees it: the top folder on its device. */
async function mountPointOf(abs: string): Promise<string> {
  const dev = (await stat(abs)).dev;
  let top = abs;
  for (let d = dirname(abs); d !== top; top = d, d = dirname(d)) {
    const s = await stat(d).catch(() => undefined);
    if (!s || s.dev !== dev) break;
  }
  return top;
}

/** A uid's name from /etc/passwd, or `uid N`. */
async function userName(uid: number): Promise<string> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const line = passwd.split('\n').find((l) => l.split(':')[2] === String(uid));
  return line?.split(':')[0] || `uid ${uid}`;
}

/** The problem in vmkeep's words: what QEMU cannot do for which domain, why, and the ways out. */
export function describeQemuReachProblem(problem: QemuReachProblem, domain: string, output: string): string {
  if (problem.kind === 'not-traversable') {
    return (
      `QEMU (user ${problem.user}) cannot traverse ${problem.folder}, on the way to ${output}, and the push engine has QEMU write ${domain}'s images itself. ` +
      `Let it through (chmod o+x ${problem.folder}), back up into a folder QEMU can reach, or use --engine virtnbdbackup`
    );
  }
  return (
    `the QEMU of ${domain} cannot see ${output}: the file system mounted at ${problem.mountPoint} was mounted after the domain started, and QEMU runs in its own ` +
    `mount namespace where later mounts do not appear (the push engine has QEMU write the images itself). Restart the domain (shut it down and ` +
    `start it) so its QEMU sees the mount, use --engine virtnbdbackup, or mount backup disks before starting VMs`
  );
}

/** Owner and mode of a path, to put back once QEMU no longer reads it. */
export interface PathMode {
  path: string;
  uid: number;
  gid: number;
  mode: number;
}

/** Read the owners and modes of paths (libvirt's dynamic ownership changes those of images QEMU opens). */
export async function readPathModes(paths: readonly string[]): Promise<PathMode[]> {
  const modes: PathMode[] = [];
  for (const path of paths) {
    const st = await stat(path);
    modes.push({ path, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 });
  }
  return modes;
}

/** Put owners and modes back, files before folders (reverse order of reading); a path gone since is skipped. Returns what failed, in words. */
export async function restorePathModes(modes: readonly PathMode[]): Promise<string[]> {
  const failed: string[] = [];
  for (const m of [...modes].reverse()) {
    try {
      await chown(m.path, m.uid, m.gid);
      await chmod(m.path, m.mode);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      failed.push(`could not put back owner ${m.uid}:${m.gid} and mode ${m.mode.toString(8)} of ${m.path}: ${(e as Error).message}`);
    }
  }
  return failed;
}
