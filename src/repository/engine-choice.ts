/**
 * Which engine writes a domain's next restore point under `--engine auto` (the default), and why.
 *
 * Pure: the facts are gathered by the caller (backup before a domain's run; status, list and
 * --dry-run to say what the next run will do), so every command gives the same answer.
 *
 * - An engine forced by --engine or the config file is used as given.
 * - A chain the next run continues is continued by the engine that wrote it: a push chain by
 *   push, a virtnbdbackup chain (and a VMSnap folder) by virtnbdbackup. Switching would start a
 *   second full chain in the same period.
 * - A new chain is written by push (QEMU writes plain qcow2 images, several times faster) when
 *   libvirt is local, supports push-mode backup with checkpoints, and QEMU can reach the output
 *   folder; by virtnbdbackup otherwise, and for everything push does not do: a remote host (QEMU
 *   would write on the remote machine), VMSnap-compatible runs (a VMSnap tree, the `vmsnap`
 *   command, --groupBy without a vmkeep config), --raw with a raw disk, --compress.
 */

export type EngineName = 'virtnbdbackup' | 'push';

export interface EngineFacts {
  /** --engine push|virtnbdbackup, or the config file's `engine`; undefined for auto. */
  forced?: { engine: EngineName; by: string } | undefined;
  /** The chain the next run continues (the current period's, with points), and who wrote it. */
  continues?: { folder: string; engine: EngineName } | undefined;
  /** The libvirt connection is to another machine (qemu+ssh://...). */
  remote: boolean;
  /** Why the run is VMSnap-compatible (a VMSnap tree, the vmsnap command, --groupBy with no config); undefined when not. */
  vmsnapCompatible?: string | undefined;
  compress: boolean;
  /** --raw and the domain has a raw disk to copy. */
  rawDisk: boolean;
  /** Why libvirt cannot do push-mode backup with checkpoints here; undefined when it can. */
  pushUnsupported?: string | undefined;
  /** Why QEMU cannot reach the output folder; undefined when it can. */
  qemuCannotReach?: string | undefined;
}

export interface EngineChoice {
  engine: EngineName;
  /** One clause, in vmkeep's words: "continues chain X, written by push". */
  reason: string;
}

/** The engine for a domain's next run, and why (see the rules above). */
export function chooseEngine(f: EngineFacts): EngineChoice {
  if (f.forced) return { engine: f.forced.engine, reason: `${f.forced.by} says ${f.forced.engine}` };
  if (f.continues) return { engine: f.continues.engine, reason: `continues chain ${f.continues.folder}, written by ${f.continues.engine}` };
  const v = (reason: string): EngineChoice => ({ engine: 'virtnbdbackup', reason });
  if (f.remote) return v('a new chain on a remote host: push would have QEMU write the images on that host');
  if (f.vmsnapCompatible !== undefined) return v(`a new chain in VMSnap's format (${f.vmsnapCompatible})`);
  if (f.compress) return v('a new chain with --compress (push writes plain qcow2 images)');
  if (f.rawDisk) return v('a new chain with --raw and a raw disk (a raw disk has no bitmap for a push checkpoint)');
  if (f.pushUnsupported !== undefined) return v(`a new chain, and push is not available: ${f.pushUnsupported}`);
  if (f.qemuCannotReach !== undefined) return v(`a new chain, and push cannot write there: ${f.qemuCannotReach}`);
  return { engine: 'push', reason: 'a new chain on local libvirt with push-mode backup and checkpoints, into a folder QEMU can reach' };
}
