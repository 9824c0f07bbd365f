/** Parsers for QMP answers obtained through `virsh qemu-monitor-command`. */
import { VmkeepError } from '../errors.js';
import type { DiskBitmap } from './types.js';

/** One node of `query-named-block-nodes` with what vmkeep needs. */
export interface BlockNode {
  nodeName: string;
  driver: string;
  file: string;
  bitmaps: DiskBitmap[];
  /** The image behind the node as QEMU sees it (query-named-block-nodes' `image`), when given. */
  virtualSize?: number | undefined;
  actualSize?: number | undefined;
  /** The backing file QEMU opened under this node (an overlay's base), when it has one. */
  backingFile?: string | undefined;
}

/** The `return` member of a QMP reply; throws when QEMU answered with an error. */
export function qmpReturn(stdout: string): unknown {
  let reply: unknown;
  try {
    reply = JSON.parse(stdout);
  } catch (cause) {
    throw new VmkeepError('failure', `QEMU monitor reply is not JSON: ${stdout.slice(0, 120)}`, { cause });
  }
  if (reply && typeof reply === 'object' && 'error' in reply) {
    const e = (reply as { error: { class?: string; desc?: string } }).error;
    throw new VmkeepError('failure', `QEMU monitor error ${e.class ?? ''}: ${e.desc ?? 'unknown'}`);
  }
  if (!reply || typeof reply !== 'object' || !('return' in reply)) {
    throw new VmkeepError('failure', 'QEMU monitor reply has no "return" member');
  }
  return reply.return;
}

interface RawBitmap {
  name?: string;
  count?: number;
  recording?: boolean;
  persistent?: boolean;
  inconsistent?: boolean;
}

interface RawNode {
  'node-name'?: string;
  drv?: string;
  file?: string;
  'dirty-bitmaps'?: RawBitmap[];
  backing_file?: unknown;
  image?: { 'virtual-size'?: unknown; 'actual-size'?: unknown; 'backing-filename'?: unknown };
}

const size = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** `query-named-block-nodes` (flat) → nodes with their dirty bitmaps. */
export function parseNamedBlockNodes(stdout: string): BlockNode[] {
  const ret = qmpReturn(stdout);
  if (!Array.isArray(ret)) throw new VmkeepError('failure', 'query-named-block-nodes did not return a list');
  return (ret as RawNode[]).map((n) => ({
    nodeName: n['node-name'] ?? '',
    driver: n.drv ?? '',
    file: n.file ?? '',
    virtualSize: size(n.image?.['virtual-size']),
    actualSize: size(n.image?.['actual-size']),
    // backing_file_depth says 0 even over a backing file (libvirt opens each layer as its own node).
    backingFile: text(n.backing_file) ?? text(n.image?.['backing-filename']),
    bitmaps: (n['dirty-bitmaps'] ?? []).map((b) => ({
      name: b.name ?? '',
      count: typeof b.count === 'number' ? b.count : undefined,
      recording: b.recording,
      persistent: b.persistent,
      inconsistent: b.inconsistent === true,
    })),
  }));
}

/** The format nodes (qcow2, raw...) over the image at `path`: not the protocol nodes (drv "file", "host_device") under them. */
export function formatNodesOf(nodes: readonly BlockNode[], path: string): BlockNode[] {
  return nodes.filter((n) => n.file === path && n.driver !== 'file' && n.driver !== 'host_device');
}

/**
 * Bitmaps of the image at `path` as QEMU holds them: from the format node (qcow2) whose file is
 * that path. Protocol nodes (drv "file") carry no bitmaps of interest.
 */
export function bitmapsForImage(nodes: readonly BlockNode[], path: string): DiskBitmap[] | undefined {
  const matches = formatNodesOf(nodes, path);
  if (matches.length === 0) return undefined;
  const seen = new Map<string, DiskBitmap>();
  for (const n of matches) for (const b of n.bitmaps) if (!seen.has(b.name)) seen.set(b.name, b);
  return [...seen.values()];
}

/** The qcow2 format node whose file is the image: the node that holds its bitmaps (QMP adds and removes them there). */
export function formatNodeName(nodes: readonly BlockNode[], path: string): string | undefined {
  return nodes.find((n) => n.file === path && n.driver === 'qcow2')?.nodeName;
}

/**
 * The image's virtual and allocated size as QEMU reports them for the format node of `path`:
 * the same figures `qemu-img info` gives (QEMU computes both the same way), without a process.
 */
export function imageSizesFromNodes(nodes: readonly BlockNode[], path: string): { virtualSize: number; actualSize: number | undefined } | undefined {
  const n = formatNodesOf(nodes, path).find((x) => x.virtualSize !== undefined);
  return n && n.virtualSize !== undefined ? { virtualSize: n.virtualSize, actualSize: n.actualSize } : undefined;
}

/** A guest block device of `query-block`: its qdev path and the top image inserted in it. */
export interface BlockDevice {
  qdev: string;
  file: string;
}

/** `query-block` → devices with a medium (empty drives are left out). */
export function parseQueryBlock(stdout: string): BlockDevice[] {
  const ret = qmpReturn(stdout);
  if (!Array.isArray(ret)) throw new VmkeepError('failure', 'query-block did not return a list');
  return (ret as Array<{ qdev?: string; inserted?: { file?: string } }>)
    .filter((d) => typeof d.qdev === 'string' && typeof d.inserted?.file === 'string')
    .map((d) => ({ qdev: d.qdev!, file: d.inserted!.file! }));
}
