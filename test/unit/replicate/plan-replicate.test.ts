import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { filesOfPoint, planReplication, type ExistingSnapshot, type SourceChain } from '../../../src/replicate/plan-replicate.js';
import { countSkipped } from '../../../src/replicate/run-replicate.js';

/** A chain folder with `n` points: vda.full.data, vda.inc.virtnbdbackup.N.data, shared files. */
function chain(n: number, over: Partial<SourceChain> = {}): SourceChain {
  const points = Array.from({ length: n }, (_, i) => ({
    checkpoint: `virtnbdbackup.${i}`,
    time: new Date(Date.UTC(2026, 10, 1 + i)).toISOString(),
    dataFiles: [i === 0 ? 'vda.full.data' : `vda.inc.virtnbdbackup.${i}.data`],
  }));
  return {
    host: 'hv1',
    domain: 'web',
    chain: 'vmsnap-backup-monthly-2026-11',
    dir: '/b/web/vmsnap-backup-monthly-2026-11',
    state: 'complete',
    newest: true,
    hasManifest: true,
    files: [
      'vmkeep-manifest.json',
      'web.cpt',
      ...points.map((p, i) => [...p.dataFiles, `checkpoints/virtnbdbackup.${i}.xml`]).flat(),
      'vda.inc.virtnbdbackup.9.data.partial',
    ],
    points,
    ...over,
  };
}

describe('planReplication', () => {
  it('a new chain: every point, oldest first, each with the previous point as parent', () => {
    const plan = planReplication([chain(3)], [], { chains: 'all' });
    expect(plan.send.map((s) => s.point.checkpoint)).toEqual(['virtnbdbackup.0', 'virtnbdbackup.1', 'virtnbdbackup.2']);
    expect(plan.send.map((s) => s.parentOf?.checkpoint)).toEqual([undefined, 'virtnbdbackup.0', 'virtnbdbackup.1']);
    expect(plan.send[1]!.files).toContain('/b/web/vmsnap-backup-monthly-2026-11/vda.full.data');
    expect(plan.send[1]!.files).not.toContain('/b/web/vmsnap-backup-monthly-2026-11/vda.inc.virtnbdbackup.2.data');
  });

  it('skips broken chains, unfinished runs, VMSnap folders, and (with --chains complete) the growing chain, saying why', () => {
    const plan = planReplication(
      [
        chain(2, { chain: 'a', state: 'broken', newest: false }),
        chain(2, { chain: 'b', state: 'in-progress', newest: false }),
        chain(2, { chain: 'c', hasManifest: false, newest: false }),
        chain(2, { chain: 'd', newest: false }),
        chain(2, { chain: 'e' }),
      ],
      [],
      { chains: 'complete' },
    );
    expect(plan.send.map((s) => s.point.chain)).toEqual(['d', 'd']);
    expect(plan.skipped.map((s) => [s.point.chain, s.reason.split(' ')[0]])).toEqual([
      ['a', 'chain'],
      ['b', 'a'],
      ['c', 'no'],
      ['e', 'chain'],
    ]);
  });

  it('a point the manifest says was sent to this repository, now gone from it, was pruned there: not sent again', () => {
    const c = chain(2);
    const pruned = { ...c, points: c.points.map((p) => ({ ...p, replicas: [{ repository: '/r', snapshot: 'abcdef0123' }] })) };
    const plan = planReplication([pruned], [], { chains: 'all', repository: '/r' });
    expect(plan.send).toEqual([]);
    expect(plan.skipped.map((s) => s.reason)).toEqual([expect.stringContaining('pruned there'), expect.stringContaining('pruned there')]);
    // Another repository still gets them.
    expect(planReplication([pruned], [], { chains: 'all', repository: '/other' }).send).toHaveLength(2);
  });

  it('properties: sent and present split the eligible points; planning again after sending sends nothing; a point never carries later data', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }), fc.array(fc.boolean(), { maxLength: 30 }), (sizes, have) => {
        const chains = sizes.map((n, i) => chain(n, { chain: `c${i}`, dir: `/b/web/c${i}`, newest: i === sizes.length - 1 }));
        const all = chains.flatMap((c) => c.points.map((p) => ({ host: c.host, domain: c.domain, chain: c.chain, checkpoint: p.checkpoint })));
        const existing: ExistingSnapshot[] = all.filter((_, i) => have[i] === true).map((point, i) => ({ id: `s${i}`, point }));
        const plan = planReplication(chains, existing, { chains: 'all' });
        expect(plan.send.length + plan.present.length).toBe(all.length);
        expect(plan.present.length).toBe(existing.length);
        const after = [...existing, ...plan.send.map((s, i) => ({ id: `n${i}`, point: s.point }))];
        expect(planReplication(chains, after, { chains: 'all' }).send).toEqual([]);
        for (const c of chains) {
          c.points.forEach((_, i) => {
            const files = filesOfPoint(c, i);
            c.points.forEach((q, j) => {
              for (const f of q.dataFiles) expect(files.includes(f)).toBe(j <= i);
            });
            expect(files.some((f) => f.endsWith('.partial'))).toBe(false);
          });
        }
      }),
    );
  });
});

describe('countSkipped', () => {
  it('counts skipped chains and skipped points apart: two points of one chain are not two chains', () => {
    const sent = (i: number) => ({ repository: '/r', snapshot: `${i}`.repeat(64) });
    const pruned = chain(3, { newest: false });
    const withMarks = { ...pruned, points: pruned.points.map((p, i) => (i < 2 ? { ...p, replicas: [sent(i)] } : p)) };
    const plan = planReplication(
      [withMarks],
      [{ id: 'c'.repeat(64), point: { host: 'hv1', domain: 'web', chain: pruned.chain, checkpoint: 'virtnbdbackup.2' } }],
      { chains: 'all', repository: '/r' },
    );
    expect(plan.skipped).toHaveLength(2);
    expect(countSkipped(plan)).toBe(', 2 points skipped');
    const both = planReplication([withMarks, chain(1, { chain: 'x', state: 'broken' })], [], { chains: 'all', repository: '/r' });
    expect(countSkipped(both)).toBe(', 1 chain and 2 points skipped');
    expect(countSkipped({ skipped: [] })).toBe('');
  });
});
