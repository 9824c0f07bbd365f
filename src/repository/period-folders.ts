/**
 * Chain folder names. VMSnap's names are kept so existing VMSnap trees read as they are:
 * vmsnap-backup-monthly-2026-11, vmsnap-backup-quarterly-2026-Q4,
 * vmsnap-backup-bi-annually-2026-p2 (p2 from July 1), vmsnap-backup-yearly-2026.
 * A chain restarted within a period gets `.2`, `.3`... appended.
 */
import { startOfPeriod } from '../retention/periods.js';
import type { GroupBy } from '../retention/types.js';

const WORD: Readonly<Record<GroupBy, string>> = { month: 'monthly', quarter: 'quarterly', 'bi-annual': 'bi-annually', year: 'yearly' };

/** The period key used in folder names: 2026-11, 2026-Q4, 2026-p2, 2026. */
export function periodKey(date: Date, groupBy: GroupBy): string {
  const start = startOfPeriod(date, groupBy);
  const y = start.getFullYear();
  const m = start.getMonth();
  switch (groupBy) {
    case 'month':
      return `${y}-${String(m + 1).padStart(2, '0')}`;
    case 'quarter':
      return `${y}-Q${Math.floor(m / 3) + 1}`;
    case 'bi-annual':
      return `${y}-p${m < 6 ? 1 : 2}`;
    case 'year':
      return `${y}`;
  }
}

/** Folder of the first chain of the period containing `date`. */
export function periodFolderName(date: Date, groupBy: GroupBy, sequence = 1): string {
  const base = `vmsnap-backup-${WORD[groupBy]}-${periodKey(date, groupBy)}`;
  return sequence <= 1 ? base : `${base}.${sequence}`;
}

export interface ParsedChainFolder {
  groupBy: GroupBy;
  key: string;
  start: Date;
  sequence: number;
}

const FOLDER_RE = /^vmsnap-backup-(monthly|quarterly|bi-annually|yearly)-(\d{4})(?:-(\d{2}|Q[1-4]|p[12]))?(?:\.(\d+))?$/;

/** Parse a chain folder name back; undefined for names vmkeep does not give. */
export function parseChainFolderName(name: string): ParsedChainFolder | undefined {
  const m = FOLDER_RE.exec(name);
  if (!m) return undefined;
  const word = m[1]!;
  const year = Number(m[2]);
  const part = m[3];
  const sequence = m[4] ? Number(m[4]) : 1;
  const groupBy = (Object.keys(WORD) as GroupBy[]).find((g) => WORD[g] === word)!;
  let month: number;
  if (groupBy === 'month') {
    if (!part || !/^\d{2}$/.test(part)) return undefined;
    month = Number(part) - 1;
    if (month < 0 || month > 11) return undefined;
  } else if (groupBy === 'quarter') {
    if (!part?.startsWith('Q')) return undefined;
    month = (Number(part.slice(1)) - 1) * 3;
  } else if (groupBy === 'bi-annual') {
    if (!part?.startsWith('p')) return undefined;
    month = part === 'p1' ? 0 : 6;
  } else {
    if (part !== undefined) return undefined;
    month = 0;
  }
  const start = new Date(year, month, 1);
  return { groupBy, key: periodKey(start, groupBy), start, sequence };
}
