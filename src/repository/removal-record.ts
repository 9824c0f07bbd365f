/**
 * What prune removed, kept beside the domain's chains in `OUTPUT/<domain>/.vmkeep-removed.jsonl`:
 * one line per removed chain with its points' times and sizes. A removed chain leaves nothing
 * else behind, and the forecast needs both halves of the folder's history: the bytes written
 * (including those of chains pruned since) and the bytes prune gave back.
 */
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ChainView } from './chains.js';
import { domainDir } from './chains.js';

export const REMOVAL_RECORD_FILE = '.vmkeep-removed.jsonl';

const RemovalSchema = z.object({
  time: z.string().refine((s) => !Number.isNaN(Date.parse(s))),
  chain: z.string(),
  bytes: z.number().nonnegative(),
  points: z.array(z.object({ time: z.string().refine((s) => !Number.isNaN(Date.parse(s))), bytes: z.number().nonnegative() })),
});

/** One removed chain: when prune removed it, its bytes on disk, and each point's time and size. */
export type ChainRemoval = z.infer<typeof RemovalSchema>;

/**
 * Bytes each point's recorded files take (data, config, checkpoint), in the order of the chain's
 * points: what its run added to the folder (the manifest's record; else the size found on disk).
 * One pass over the manifest, not a search per point (a report does this for hundreds of
 * thousands of points).
 */
export function pointFileBytes(chain: ChainView): number[] {
  const recorded = new Map<string, number>();
  for (const p of chain.manifest?.points ?? [])
    if (!recorded.has(p.checkpoint))
      recorded.set(
        p.checkpoint,
        p.files.reduce((n, f) => n + f.size, 0),
      );
  const found = new Map<string, number | undefined>();
  for (const p of chain.points) if (!found.has(p.checkpoint)) found.set(p.checkpoint, p.dataBytes);
  return chain.points.map((p) => recorded.get(p.checkpoint) ?? found.get(p.checkpoint) ?? 0);
}

/** The record line of a chain about to be removed. */
export function describeRemoval(chain: ChainView, time: Date): ChainRemoval {
  const bytes = pointFileBytes(chain);
  return {
    time: time.toISOString(),
    chain: chain.folder,
    bytes: chain.sizeOnDisk,
    points: chain.points.map((p, i) => ({ time: p.time, bytes: bytes[i]! })),
  };
}

/** Append one removal to the domain's record (the caller holds the domain's lock). */
export async function recordRemoval(output: string, domain: string, removal: ChainRemoval): Promise<void> {
  await appendFile(join(domainDir(output, domain), REMOVAL_RECORD_FILE), `${JSON.stringify(removal)}\n`, { mode: 0o600 });
}

/**
 * The domain's removals, oldest first. A line that does not parse (a torn append after a crash)
 * is skipped: the forecast is an estimate and must not fail on one bad line.
 */
export async function readRemovals(output: string, domain: string): Promise<ChainRemoval[]> {
  let text: string;
  try {
    text = await readFile(join(domainDir(output, domain), REMOVAL_RECORD_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: ChainRemoval[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const parsed = RemovalSchema.safeParse(JSON.parse(line));
      if (parsed.success) out.push(parsed.data);
    } catch {
      // a torn line: skipped (see above)
    }
  }
  return out;
}
