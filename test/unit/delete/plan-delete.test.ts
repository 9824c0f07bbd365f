/** planDelete: which points merge, which go as newest, which chains go whole, and what is refused. */
import { describe, expect, it } from 'vitest';
import { planDelete, renderDeletePlan, type DeletableChain } from '../../../src/delete/plan-delete.js';

const cp = (n: number) => `virtnbdbackup.${n}`;
function chain(folder: string, n: number, extra: Partial<DeletableChain> = {}, protectedPoints: number[] = []): DeletableChain {
  return {
    folder,
    legacy: false,
    protected: false,
    state: 'complete',
    engine: 'virtnbdbackup',
    points: Array.from({ length: n }, (_, i) => ({ checkpoint: cp(i), protected: protectedPoints.includes(i) })),
    ...extra,
  };
}
const plan = (chains: DeletableChain[], at: string[], whole: string[] = []) => planDelete(chains, { domain: 'vm1', at, chains: whole });

describe('planDelete', () => {
  it('inner runs merge into the next point not named; named points at the end go newest first', () => {
    const p = plan([chain('c1', 6)], ['c1/virtnbdbackup.1', 'c1/virtnbdbackup.2', 'c1/virtnbdbackup.4', 'c1/virtnbdbackup.5']);
    expect(p.merges).toEqual([{ chain: 'c1', dropped: [cp(1), cp(2)], into: cp(3), newParent: cp(0), reasons: [`deleted: merged into ${cp(3)}`] }]);
    expect(p.removeNewest).toEqual([
      { chain: 'c1', checkpoint: cp(5) },
      { chain: 'c1', checkpoint: cp(4) },
    ]);
    expect(renderDeletePlan(p)[0]).toBe(`vm1: merge c1: ${cp(1)}, ${cp(2)} into ${cp(3)} (which then rests on ${cp(0)})`);
  });

  it('every point named, or --chain: the chain goes whole', () => {
    expect(plan([chain('c1', 2)], ['c1/virtnbdbackup.0', 'c1/virtnbdbackup.1']).removeChains).toEqual(['c1']);
    expect(plan([chain('c1', 2)], [], ['c1']).removeChains).toEqual(['c1']);
  });

  it("a push chain's full merges into its child; a virtnbdbackup chain's full is refused", () => {
    expect(plan([chain('c1', 3, { engine: 'push' })], ['c1/virtnbdbackup.0']).merges[0]).toMatchObject({ dropped: [cp(0)], into: cp(1), newParent: undefined });
    expect(() => plan([chain('c1', 3)], ['c1/virtnbdbackup.0'])).toThrow(/is the full of a virtnbdbackup chain/);
  });

  it('refuses protected points and chains, unknown ones, legacy folders and nothing named, as usage errors', () => {
    const refused = (fn: () => unknown, message: RegExp) =>
      expect(fn).toThrow(expect.objectContaining({ code: 'usage', message: expect.stringMatching(message) }));
    refused(() => plan([chain('c1', 3, {}, [1])], ['c1/virtnbdbackup.1']), /c1\/virtnbdbackup\.1 is protected/);
    refused(() => plan([chain('c1', 3, { protected: true })], ['c1/virtnbdbackup.1']), /c1 is protected/);
    refused(() => plan([chain('c1', 3, {}, [1])], [], ['c1']), /holds protected points \(virtnbdbackup\.1\)/);
    refused(() => plan([chain('c1', 3)], ['c1/virtnbdbackup.7']), /no point virtnbdbackup\.7 in c1/);
    refused(() => plan([chain('c1', 3)], ['c2/virtnbdbackup.1']), /no chain "c2"/);
    refused(() => plan([chain('c1', 3, { legacy: true })], ['c1/virtnbdbackup.1']), /no vmkeep manifest/);
    refused(() => plan([chain('c1', 3, { state: 'in-progress' })], ['c1/virtnbdbackup.1']), /is in-progress/);
    refused(() => plan([chain('c1', 3)], []), /name what to delete/);
  });
});
