/** Parsers for `qemu-img` JSON outputs. */
import { VmkeepError } from '../errors.js';
import type { DiskBitmap } from './types.js';

/** What `qemu-img info --output=json` says about one image. */
export interface ImageInfo {
  filename: string;
  format: string;
  virtualSize: number;
  actualSize: number | undefined;
  backingFilename: string | undefined;
  /** Persistent bitmaps stored in the image (qcow2 only). */
  bitmaps: DiskBitmap[];
  /** qcow2 "corrupt" flag. */
  corrupt: boolean;
}

interface RawInfo {
  filename?: string;
  format?: string;
  'virtual-size'?: number;
  'actual-size'?: number;
  'backing-filename'?: string;
  'format-specific'?: {
    type?: string;
    data?: { bitmaps?: Array<{ name?: string; flags?: string[] }>; corrupt?: boolean };
  };
}

/** `qemu-img info --output=json` → ImageInfo. */
export function parseImageInfo(stdout: string): ImageInfo {
  let raw: RawInfo;
  try {
    raw = JSON.parse(stdout) as RawInfo;
  } catch (cause) {
    throw new VmkeepError('failure', `qemu-img info output is not JSON: ${stdout.slice(0, 120)}`, { cause });
  }
  if (typeof raw !== 'object' || raw === null) throw new VmkeepError('failure', `qemu-img info output is not a JSON object: ${stdout.slice(0, 120)}`);
  for (const key of ['virtual-size', 'actual-size'] as const) {
    const v = raw[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
      throw new VmkeepError('failure', `qemu-img info gave ${key} ${JSON.stringify(v)}, not a size in bytes`);
    }
  }
  const data = raw['format-specific']?.data;
  return {
    filename: raw.filename ?? '',
    format: raw.format ?? 'unknown',
    virtualSize: raw['virtual-size'] ?? 0,
    actualSize: raw['actual-size'],
    backingFilename: raw['backing-filename'],
    bitmaps: (data?.bitmaps ?? []).map((b) => ({
      name: b.name ?? '',
      count: undefined,
      recording: undefined,
      persistent: true,
      // "in-use" on an image no QEMU holds means the bitmap was not saved cleanly.
      inconsistent: (b.flags ?? []).includes('in-use'),
    })),
    corrupt: data?.corrupt === true,
  };
}

/** Result of `qemu-img check --output=json`. */
export interface ImageCheck {
  ok: boolean;
  corruptions: number;
  leaks: number;
  checkErrors: number;
}

/** `qemu-img check --output=json` → ImageCheck (qemu-img exits 2/3 for problems; parse anyway). */
export function parseImageCheck(stdout: string): ImageCheck {
  const raw = JSON.parse(stdout) as { corruptions?: number; leaks?: number; 'check-errors'?: number };
  const corruptions = raw.corruptions ?? 0;
  const leaks = raw.leaks ?? 0;
  const checkErrors = raw['check-errors'] ?? 0;
  return { ok: corruptions === 0 && checkErrors === 0, corruptions, leaks, checkErrors };
}

/** `qemu-img map --output=json`: the bytes of data extents at depth 0 (in the image itself, not a backing file). */
export function parseMapDataBytes(stdout: string): number {
  let extents: Array<{ length?: number; depth?: number; data?: boolean }>;
  try {
    extents = JSON.parse(stdout) as typeof extents;
  } catch (cause) {
    throw new VmkeepError('failure', `qemu-img map output is not JSON: ${stdout.slice(0, 120)}`, { cause });
  }
  if (!Array.isArray(extents)) throw new VmkeepError('failure', 'qemu-img map output is not a list of extents');
  return extents.filter((e) => e.depth === 0 && e.data === true).reduce((sum, e) => sum + (e.length ?? 0), 0);
}

/** One extent of `qemu-img map --output=json`. */
export interface MapExtent {
  start: number;
  length: number;
  /** Allocated somewhere in the chain (data or a zero cluster); false where reads fall through to nothing. */
  present: boolean;
  data: boolean;
}

/** `qemu-img map --output=json` → its extents. */
export function parseMapExtents(stdout: string): MapExtent[] {
  let raw: Array<{ start?: number; length?: number; present?: boolean; data?: boolean; zero?: boolean }>;
  try {
    raw = JSON.parse(stdout) as typeof raw;
  } catch (cause) {
    throw new VmkeepError('failure', `qemu-img map output is not JSON: ${stdout.slice(0, 120)}`, { cause });
  }
  if (!Array.isArray(raw)) throw new VmkeepError('failure', 'qemu-img map output is not a list of extents');
  // qemu-img before 6.0 has no `present`: there a data extent is present, and nothing else is known.
  return raw.map((e) => ({ start: e.start ?? 0, length: e.length ?? 0, present: e.present ?? e.data === true, data: e.data === true }));
}

/**
 * Bytes where `source` has data and `copy` has nothing allocated: what a copy that should hold
 * all of `source` lacks (zero clusters count as held; they read as zeros either way).
 */
export function missingDataBytes(source: readonly MapExtent[], copy: readonly MapExtent[]): number {
  const held = copy.filter((e) => e.present).sort((a, b) => a.start - b.start);
  let missing = 0;
  for (const s of source.filter((e) => e.data)) {
    let covered = 0;
    for (const h of held) {
      const from = Math.max(s.start, h.start);
      const to = Math.min(s.start + s.length, h.start + h.length);
      if (to > from) covered += to - from;
    }
    missing += s.length - covered;
  }
  return missing;
}
