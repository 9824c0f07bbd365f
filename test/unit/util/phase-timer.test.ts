/** The phase recorder on a clock the test moves by hand: nesting, repeats, failures, concurrency. */
import { describe, expect, it } from 'vitest';
import { PhaseTimer, describePhases } from '../../../src/util/phase-timer.js';

/** A clock that only moves when told to. */
function manualClock() {
  let t = 1000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('PhaseTimer', () => {
  it('adds each phase up in the order it first ran; a repeated phase is summed', async () => {
    const c = manualClock();
    const p = new PhaseTimer(c.now);
    await p.time('lock', () => c.advance(5));
    await p.time('engine', async () => c.advance(300));
    await p.time('lock', () => c.advance(2));
    expect(p.list()).toEqual([
      { name: 'lock', ms: 7 },
      { name: 'engine', ms: 300 },
    ]);
  });

  it('a phase inside another is taken out of the outer one: the phases sum to the wall time, not more', async () => {
    const c = manualClock();
    const p = new PhaseTimer(c.now);
    const start = c.now();
    await p.time('engine', async () => {
      c.advance(100);
      await p.time('freeze', async () => {
        c.advance(20);
        await p.time('manifest', () => c.advance(3));
      });
      c.advance(50);
    });
    const wall = c.now() - start;
    expect(p.list()).toEqual([
      { name: 'manifest', ms: 3 },
      { name: 'freeze', ms: 20 },
      { name: 'engine', ms: 150 },
    ]);
    expect(p.list().reduce((n, x) => n + x.ms, 0)).toBe(wall);
  });

  it('a step that throws still has its time recorded, and the error goes on', async () => {
    const c = manualClock();
    const p = new PhaseTimer(c.now);
    await expect(
      p.time('engine', () => {
        c.advance(40);
        throw new Error('job failed');
      }),
    ).rejects.toThrow('job failed');
    expect(p.list()).toEqual([{ name: 'engine', ms: 40 }]);
  });

  it("two domains' timers running at once keep their own phases (one's nesting is not the other's)", async () => {
    const a = new PhaseTimer();
    const b = new PhaseTimer();
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await Promise.all([
      a.time('engine', async () => {
        await wait(30);
        await a.time('checksums', () => wait(10));
      }),
      b.time('engine', () => wait(30)),
    ]);
    // b's engine phase is not shortened by a's checksums, which ran in another flow.
    expect(a.list().map((x) => x.name)).toEqual(['checksums', 'engine']);
    expect(b.list().map((x) => x.name)).toEqual(['engine']);
    expect(b.list()[0]!.ms).toBeGreaterThanOrEqual(25);
    for (const x of [...a.list(), ...b.list()]) expect(x.ms).toBeGreaterThanOrEqual(0);
  });

  it('the one-line breakdown names the phases in words, largest first, and leaves out what took no time', async () => {
    expect(
      describePhases([
        { name: 'lock', ms: 0 },
        { name: 'checksums', ms: 1250 },
        { name: 'engine', ms: 12_345 },
        { name: 'manifest', ms: 8 },
      ]),
    ).toBe('engine job 12.3 s, checksums 1.25 s, manifest 8 ms');
    expect(describePhases([{ name: 'lock', ms: 0 }])).toBe('no phase took a millisecond');
  });
});
