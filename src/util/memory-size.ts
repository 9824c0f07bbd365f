/** Memory sizes as people write them: `2G`, `1536M`, `2GiB`, `1048576K`; KiB when no unit. */

const UNIT_KIB: Readonly<Record<string, number>> = { K: 1, M: 1024, G: 1024 ** 2, T: 1024 ** 3 };

/** A size in KiB, or undefined when the text is not one. Numbers are KiB. */
export function parseMemoryKiB(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?)?\s*$/i.exec(String(value));
  if (!m) return undefined;
  const unit = (m[2] ?? 'K')[0]!.toUpperCase();
  const kib = Math.round(Number(m[1]) * UNIT_KIB[unit]!);
  return Number.isFinite(kib) ? kib : undefined;
}

/** The smallest memory a verify guest may be capped to. */
export const MIN_BOOT_MEMORY_KIB = 32 * 1024;
