/**
 * Verify domains (`verify --boot`) and their scratch folders: naming, tear-down, and the sweep
 * that removes what a killed run left.
 *
 * Words:
 * - verify domain: `vmkeep-verify-<domain>-<point>`, defined from a restore point's saved XML
 *   and booted from overlays or a scratch restore; its metadata names its scratch folder and the
 *   pid of the run that made it.
 * - scratch root: `.vmkeep-boot-verify` in the output folder (or in --scratch-dir); each run has
 *   its own folder in it, `run-<pid>-<random>`, holding overlays, scratch restores, serial logs.
 * - leftover: a verify domain or run folder whose run is gone (killed with -9, the host lost
 *   power). The next run that touches the output folder or the host removes it and says so.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, chmod } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ToolError, messageOf } from '../errors.js';
import { parseXml } from '../util/xml.js';
import type { VirshClient } from '../virsh/client.js';
import { VERIFY_DOMAIN_PREFIX } from './verify-domain-xml.js';

export const SCRATCH_ROOT_NAME = '.vmkeep-boot-verify';

/** libvirt's name limit is generous, but names end up in file names (NVRAM, logs): keep them short. */
const MAX_NAME = 120;

/** The verify domain's name for a point (characters libvirt and file names take; cut to a safe length). */
export function verifyDomainName(domain: string, point: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_.:-]+/g, '_');
  return `${VERIFY_DOMAIN_PREFIX}${clean(domain)}-${clean(point)}`.slice(0, MAX_NAME);
}

/** Is this a name vmkeep gives verify domains? */
export function isVerifyDomainName(name: string): boolean {
  return name.startsWith(VERIFY_DOMAIN_PREFIX);
}

/** Make this run's scratch folder under `root/.vmkeep-boot-verify` (traversable for QEMU's user). */
export async function makeRunScratch(root: string): Promise<string> {
  const parent = join(root, SCRATCH_ROOT_NAME);
  await mkdir(parent, { recursive: true, mode: 0o711 });
  await chmod(parent, 0o711);
  const dir = await mkdtemp(join(parent, `run-${process.pid}-`));
  await chmod(dir, 0o711);
  return dir;
}

/** Destroy (when running) and undefine a verify domain with its NVRAM; quiet when it is already gone. */
export async function removeVerifyDomain(virsh: VirshClient, name: string): Promise<void> {
  try {
    await virsh.destroy(name);
  } catch (e) {
    if (!(e instanceof ToolError)) throw e;
    // Not running, or not defined: the undefine says which.
  }
  try {
    await virsh.undefineWithNvram(name);
  } catch (e) {
    if (!(e instanceof ToolError) || !/failed to get domain|Domain not found|no domain with matching/i.test(e.stderr)) throw e;
  }
}

/** Who made a verify domain: what its metadata names. */
export interface VerifyOwner {
  /** The run's scratch folder (overlays, scratch restores, the serial log). */
  scratch: string;
  /** The pid of the vmkeep run that made it. */
  pid: number;
  /** The host that run ran on; absent in definitions written before it was recorded. */
  host?: string | undefined;
  /** The domain whose point it boots. */
  source?: string | undefined;
  /** The point it boots (`<chain>/<checkpoint>`). */
  point?: string | undefined;
}

/** The owner a verify domain's metadata names (its scratch folder and the pid of its run). */
export function readVerifyOwner(domainXml: string): VerifyOwner | undefined {
  const doc = parseXml(domainXml, 'domain XML') as { domain?: { metadata?: Record<string, unknown> } };
  const meta = doc.domain?.metadata;
  if (!meta || typeof meta !== 'object') return undefined;
  for (const [key, value] of Object.entries(meta)) {
    if (!key.endsWith(':verify') && key !== 'verify') continue;
    const v = value as Record<string, unknown>;
    const field = (name: string) => {
      const entry = Object.entries(v).find(([k]) => k === name || k.endsWith(`:${name}`));
      const raw = entry?.[1];
      return typeof raw === 'object' && raw !== null ? String((raw as Record<string, unknown>)['#text'] ?? '') : raw === undefined ? '' : String(raw);
    };
    const pid = Number(field('pid'));
    const scratch = field('scratch');
    const optional = (name: string) => (field(name) === '' ? undefined : field(name));
    if (scratch && Number.isInteger(pid)) return { scratch, pid, host: optional('host'), source: optional('source'), point: optional('point') };
  }
  return undefined;
}

/** Is a run with this pid still alive? (Its own pid counts as alive: its domains are in use.) */
export async function isRunAlive(pid: number): Promise<boolean> {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A pid reused by an unrelated program is not a vmkeep run.
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return cmdline === undefined || /vmkeep|node/.test(cmdline);
}

/**
 * Is the run that made a verify domain gone? Only a run of this host can be told gone: a pid
 * another host recorded means nothing here (vmkeep on another machine may be booting it now
 * through --connect), so such a domain is left alone.
 */
export async function isOwnerGone(owner: VerifyOwner): Promise<boolean> {
  if (owner.host !== undefined && owner.host !== hostname()) return false;
  return !(await isRunAlive(owner.pid));
}

/** A verify domain whose run is gone, and what its metadata says. */
export interface VerifyLeftover {
  name: string;
  owner: VerifyOwner;
}

/**
 * Verify domains on this libvirt whose run is gone, found without changing anything (status
 * shows them; the sweep removes them). `problems`: why a domain, or the list, could not be read.
 */
export async function findVerifyLeftovers(
  virsh: VirshClient,
  /** libvirt's domain names, when the caller has just listed them. */
  listed?: readonly string[],
): Promise<{ leftovers: VerifyLeftover[]; problems: string[]; listed: boolean }> {
  const leftovers: VerifyLeftover[] = [];
  const problems: string[] = [];
  let names: string[];
  try {
    names = [...(listed ?? (await virsh.listDomainNames()))];
  } catch (e) {
    return { leftovers, problems: [`could not look for verify domains left by an interrupted verify --boot: ${messageOf(e)}`], listed: false };
  }
  for (const found of await readVerifyDomains(virsh, names)) {
    if (found.error !== undefined) problems.push(`could not read verify domain ${found.name}: ${found.error}`);
    else if (found.owner && (await isOwnerGone(found.owner))) leftovers.push({ name: found.name, owner: found.owner });
  }
  return { leftovers, problems, listed: true };
}

/**
 * The `vmkeep-verify-*` names among `names`, each with the owner its metadata names (undefined:
 * no verify metadata, a user's domain with such a name) or why its definition could not be read.
 */
export async function readVerifyDomains(
  virsh: VirshClient,
  names: readonly string[],
): Promise<Array<{ name: string; owner?: VerifyOwner | undefined; error?: string }>> {
  const read = [];
  for (const name of names.filter(isVerifyDomainName)) {
    try {
      read.push({ name, owner: readVerifyOwner(await virsh.domainXml(name, true)) });
    } catch (e) {
      read.push({ name, error: messageOf(e) });
    }
  }
  return read;
}

/** What status says about a leftover verify domain until a run removes it. */
export function verifyLeftoverWarning(leftover: VerifyLeftover): string {
  const { name, owner } = leftover;
  const of = owner.point === undefined ? '' : ` (booting point ${owner.point}${owner.source === undefined ? '' : ` of ${owner.source}`})`;
  return `verify domain ${name}${of} was left by an interrupted verify --boot (pid ${owner.pid}, no longer running): the next backup, verify or scrub on this host removes it and its scratch folder ${owner.scratch}`;
}

/**
 * Remove what killed `verify --boot` runs left: verify domains whose run is gone (with their
 * scratch folders), and run folders under each scratch root whose run is gone. Returns one
 * sentence per thing removed; failures to remove are said too, and never throw. With
 * `libvirtOptional`, a libvirt that cannot be asked is no news (a command that needs only the
 * output folder may run where no libvirtd is).
 */
export async function sweepVerifyLeftovers(
  virsh: VirshClient,
  scratchRoots: readonly string[],
  options: { libvirtOptional?: boolean } = {},
): Promise<string[]> {
  const said: string[] = [];
  const found = await findVerifyLeftovers(virsh);
  if (found.listed || options.libvirtOptional !== true) said.push(...found.problems);
  // One line per thing left: a removed domain's line names its run's whole folder when that goes too.
  const removed: Array<{ name: string; pid: number; scratch: string }> = [];
  for (const { name, owner } of found.leftovers) {
    try {
      await removeVerifyDomain(virsh, name);
      await rm(owner.scratch, { recursive: true, force: true });
      removed.push({ name, pid: owner.pid, scratch: owner.scratch });
    } catch (e) {
      said.push(`could not remove verify domain ${name} left by an interrupted verify --boot: ${messageOf(e)}`);
    }
  }
  const folders: string[] = [];
  for (const root of scratchRoots) {
    const parent = join(root, SCRATCH_ROOT_NAME);
    const entries = await readdir(parent).catch(() => [] as string[]);
    for (const entry of entries) {
      const m = /^run-(\d+)-/.exec(entry);
      if (!m || (await isRunAlive(Number(m[1])))) continue;
      const folder = join(parent, entry);
      try {
        await rm(folder, { recursive: true, force: true });
      } catch (e) {
        said.push(`could not remove scratch folder ${folder}: ${messageOf(e)}`);
        continue;
      }
      const owners = removed.filter((r) => r.scratch.startsWith(`${folder}/`));
      for (const r of owners) r.scratch = folder;
      if (owners.length === 0) folders.push(`removed scratch folder ${folder}, left by an interrupted verify --boot (pid ${m[1]})`);
    }
  }
  for (const r of removed)
    said.push(`removed verify domain ${r.name} and its scratch folder ${r.scratch}, left by an interrupted verify --boot (pid ${r.pid})`);
  return [...said, ...folders];
}
