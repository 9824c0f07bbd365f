import { isOwnedName } from '../../../src/domain/owned-names.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DomainState } from '../../../src/domain/types.js';
import { VmkeepError } from '../../../src/errors.js';
import { planScrub, simulateScrub, stillPresent, type ScrubDomainState, type ScrubRequest, type ScrubType } from '../../../src/domain/plan-scrub.js';

/** In-memory domain snapshots: checkpoints create their bitmaps unless told they were lost. */
class DomainBuilder {
  private readonly checkpoints: ScrubDomainState['checkpoints'] = [];
  private readonly disks = new Map<string, string[]>();

  constructor(
    private readonly state: DomainState = 'running',
    disks: string[] = ['vda'],
  ) {
    for (const d of disks) this.disks.set(d, []);
  }

  /** A checkpoint with a bitmap of its own name on `disks` (default all); `lostOn` disks lack the bitmap. */
  checkpoint(name: string, opts: { disks?: string[]; lostOn?: string[] } = {}): this {
    const disks = opts.disks ?? [...this.disks.keys()];
    this.checkpoints.push({
      name,
      parent: this.checkpoints.at(-1)?.name,
      bitmaps: disks.map((disk) => ({ disk, bitmap: name })),
    });
    for (const d of disks) if (!opts.lostOn?.includes(d)) this.disks.get(d)?.push(name);
    return this;
  }

  /** A bitmap no checkpoint refers to. */
  orphan(disk: string, name: string): this {
    this.disks.get(disk)!.push(name);
    return this;
  }

  build(): ScrubDomainState {
    return {
      domain: 'dom',
      state: this.state,
      jobActive: false,
      checkpoints: this.checkpoints.map((c) => ({ ...c, bitmaps: [...c.bitmaps] })),
      disks: [...this.disks].map(([target, bitmaps]) => ({
        target,
        path: `/images/${target}.qcow2`,
        node: this.state === 'shut off' ? undefined : `libvirt-${target}-format`,
        bitmaps: [...bitmaps],
      })),
    };
  }
}

const req = (scrubType: ScrubType, more: Partial<ScrubRequest> = {}): ScrubRequest => ({ scrubType, force: false, ...more });
const summary = (state: ScrubDomainState, request: ScrubRequest) =>
  planScrub(state, request).actions.map((a) => `${a.action} ${a.target}${a.disk ? `@${a.disk}` : ''}`);

/** A running domain with an owned chain, a foreign checkpoint, an owned and a foreign orphan. */
const mixed = (state: DomainState = 'running') =>
  new DomainBuilder(state)
    .checkpoint('virtnbdbackup.0')
    .checkpoint('virtnbdbackup.1')
    .checkpoint('manual')
    .orphan('vda', 'virtnbdbackup.7')
    .orphan('vda', 'foreign')
    .build();

describe('isOwnedName', () => {
  it('owns virtnbdbackup.N and vmkeep.*, nothing else', () => {
    expect(isOwnedName('virtnbdbackup.0')).toBe(true);
    expect(isOwnedName('virtnbdbackup.123')).toBe(true);
    expect(isOwnedName('vmkeep.2026-11-22')).toBe(true);
    expect(isOwnedName('virtnbdbackup.')).toBe(false);
    expect(isOwnedName('virtnbdbackup.1x')).toBe(false);
    expect(isOwnedName('xvirtnbdbackup.1')).toBe(false);
    expect(isOwnedName('vmkeep')).toBe(false);
    expect(isOwnedName('backup-vda')).toBe(false);
  });
});

describe('planScrub on a running domain', () => {
  it("'*' deletes owned checkpoints children first, removes owned orphans, skips foreign names", () => {
    const plan = planScrub(mixed(), req('*'));
    expect(plan.actions.map((a) => `${a.action} ${a.target}${a.disk ? `@${a.disk}` : ''}`)).toEqual([
      'skip-checkpoint manual',
      'delete-checkpoint virtnbdbackup.1',
      'delete-checkpoint virtnbdbackup.0',
      'remove-bitmap virtnbdbackup.7@vda',
      'skip-bitmap foreign@vda',
    ]);
    expect(plan.actions[0]!.reason).toBe('not a vmkeep-owned name (use --force)');
    expect(plan.actions[1]!.reason).toBe('libvirt deletes the checkpoint and removes its bitmap virtnbdbackup.1 on vda in QEMU');
    expect(plan.actions[3]!.reason).toBe('no checkpoint refers to it');
    expect(plan.wanted).toEqual({
      checkpoints: ['virtnbdbackup.1', 'virtnbdbackup.0'],
      bitmaps: { vda: ['virtnbdbackup.1', 'virtnbdbackup.0', 'virtnbdbackup.7'] },
    });
  });

  it("'both' is the same as '*'", () => {
    expect(planScrub(mixed(), req('both'))).toEqual(planScrub(mixed(), req('*')));
  });

  it('--force takes foreign checkpoints and bitmaps too', () => {
    expect(summary(mixed(), req('*', { force: true }))).toEqual([
      'delete-checkpoint manual',
      'delete-checkpoint virtnbdbackup.1',
      'delete-checkpoint virtnbdbackup.0',
      'remove-bitmap virtnbdbackup.7@vda',
      'remove-bitmap foreign@vda',
    ]);
  });

  it("'checkpoint' deletes checkpoints (with their bitmaps) and leaves orphan bitmaps alone", () => {
    const plan = planScrub(mixed(), req('checkpoint'));
    expect(plan.actions.map((a) => `${a.action} ${a.target}`)).toEqual([
      'skip-checkpoint manual',
      'delete-checkpoint virtnbdbackup.1',
      'delete-checkpoint virtnbdbackup.0',
    ]);
    expect(simulateScrub(mixed(), plan).disks[0]!.bitmaps).toEqual(['manual', 'virtnbdbackup.7', 'foreign']);
  });

  it("'bitmap' removes orphans and deletes a checkpoint with its bitmap, saying why", () => {
    const plan = planScrub(mixed(), req('bitmap'));
    expect(plan.actions.map((a) => `${a.action} ${a.target}`)).toEqual([
      'skip-checkpoint manual',
      'delete-checkpoint virtnbdbackup.1',
      'delete-checkpoint virtnbdbackup.0',
      'remove-bitmap virtnbdbackup.7',
      'skip-bitmap foreign',
    ]);
    expect(plan.actions[1]!.reason).toBe(
      'its bitmap virtnbdbackup.1 on vda is to be removed and a checkpoint must not outlive its bitmap: ' +
        'libvirt deletes the checkpoint and removes its bitmap virtnbdbackup.1 on vda in QEMU',
    );
  });

  it('a checkpoint whose bitmap is gone gets a metadata-only delete (a plain delete would fail)', () => {
    const state = new DomainBuilder()
      .checkpoint('virtnbdbackup.0', { lostOn: ['vda'] })
      .checkpoint('virtnbdbackup.1')
      .build();
    const plan = planScrub(state, req('checkpoint'));
    expect(plan.actions.map((a) => `${a.action} ${a.target}`)).toEqual(['delete-checkpoint virtnbdbackup.1', 'delete-checkpoint-metadata virtnbdbackup.0']);
    expect(plan.actions[1]!.reason).toBe('its bitmap virtnbdbackup.0 on vda is already gone, so a plain delete would fail: drop the metadata only');
    expect(plan.wanted).toEqual({ checkpoints: ['virtnbdbackup.1', 'virtnbdbackup.0'], bitmaps: { vda: ['virtnbdbackup.1'] } });
  });

  it('a bitmap lost on one disk only: metadata first, then the bitmap still on the other disk', () => {
    const state = new DomainBuilder('running', ['vda', 'vdb']).checkpoint('virtnbdbackup.0', { lostOn: ['vda'] }).build();
    const plan = planScrub(state, req('*'));
    expect(plan.actions).toEqual([
      {
        action: 'delete-checkpoint-metadata',
        target: 'virtnbdbackup.0',
        reason: 'its bitmap virtnbdbackup.0 on vda is already gone, so a plain delete would fail: drop the metadata only',
      },
      {
        action: 'remove-bitmap',
        target: 'virtnbdbackup.0',
        disk: 'vdb',
        checkpoint: 'virtnbdbackup.0',
        reason: 'bitmap of checkpoint virtnbdbackup.0, removed in QEMU after its metadata',
      },
    ]);
  });

  it("'bitmap' leaves a dangling checkpoint alone and points at --scrubType checkpoint", () => {
    const state = new DomainBuilder().checkpoint('virtnbdbackup.0', { lostOn: ['vda'] }).build();
    const plan = planScrub(state, req('bitmap'));
    expect(plan.actions).toEqual([
      {
        action: 'skip-checkpoint',
        target: 'virtnbdbackup.0',
        reason: 'it has no bitmap left to remove; --scrubType checkpoint drops its metadata',
      },
    ]);
    expect(plan.wanted).toEqual({ checkpoints: [], bitmaps: {} });
  });

  it('ignores checkpoint bitmaps on disks vmkeep does not track (libvirt skips unplugged disks itself)', () => {
    const state = new DomainBuilder().checkpoint('virtnbdbackup.0', { disks: ['vda', 'vdz'] }).build();
    const plan = planScrub(state, req('*'));
    expect(plan.actions.map((a) => a.action)).toEqual(['delete-checkpoint']);
    expect(plan.wanted.bitmaps).toEqual({ vda: ['virtnbdbackup.0'] });
  });

  it('treats a paused domain like a running one', () => {
    expect(planScrub(mixed('paused'), req('*')).actions).toEqual(planScrub(mixed('running'), req('*')).actions);
  });

  it('deletes children before parents in a branching tree', () => {
    const state: ScrubDomainState = {
      domain: 'dom',
      state: 'running',
      jobActive: false,
      checkpoints: [
        { name: 'virtnbdbackup.0', parent: undefined, bitmaps: [{ disk: 'vda', bitmap: 'virtnbdbackup.0' }] },
        { name: 'virtnbdbackup.1', parent: 'virtnbdbackup.0', bitmaps: [{ disk: 'vda', bitmap: 'virtnbdbackup.1' }] },
        { name: 'virtnbdbackup.2', parent: 'virtnbdbackup.0', bitmaps: [{ disk: 'vda', bitmap: 'virtnbdbackup.2' }] },
        { name: 'virtnbdbackup.3', parent: 'virtnbdbackup.1', bitmaps: [{ disk: 'vda', bitmap: 'virtnbdbackup.3' }] },
      ],
      disks: [{ target: 'vda', path: '/i', node: 'n', bitmaps: ['virtnbdbackup.0', 'virtnbdbackup.1', 'virtnbdbackup.2', 'virtnbdbackup.3'] }],
    };
    const order = planScrub(state, req('checkpoint')).actions.map((a) => a.target);
    const parent = new Map(state.checkpoints.map((c) => [c.name, c.parent]));
    for (const [i, name] of order.entries()) {
      const p = parent.get(name);
      if (p !== undefined) expect(order.indexOf(p)).toBeGreaterThan(i);
    }
  });

  it('has nothing to do on a clean domain', () => {
    const plan = planScrub(new DomainBuilder().build(), req('*'));
    expect(plan.actions).toEqual([]);
    expect(plan.wanted).toEqual({ checkpoints: [], bitmaps: {} });
  });
});

describe('planScrub on a shut-off domain', () => {
  it('drops metadata, then removes the bitmap from the image, checkpoint by checkpoint', () => {
    const plan = planScrub(mixed('shut off'), req('*'));
    expect(plan.actions.map((a) => `${a.action} ${a.target}${a.disk ? `@${a.disk}` : ''}${a.checkpoint ? ` (of ${a.checkpoint})` : ''}`)).toEqual([
      'skip-checkpoint manual',
      'delete-checkpoint-metadata virtnbdbackup.1',
      'remove-bitmap virtnbdbackup.1@vda (of virtnbdbackup.1)',
      'delete-checkpoint-metadata virtnbdbackup.0',
      'remove-bitmap virtnbdbackup.0@vda (of virtnbdbackup.0)',
      'remove-bitmap virtnbdbackup.7@vda',
      'skip-bitmap foreign@vda',
    ]);
    expect(plan.actions[1]!.reason).toBe('libvirt cannot delete a checkpoint of a shut-off domain: drop its metadata, then remove its bitmap from the image');
    expect(plan.actions[2]!.reason).toBe('bitmap of checkpoint virtnbdbackup.1, removed from the image after its metadata');
  });

  it('a dangling checkpoint only loses its metadata', () => {
    const state = new DomainBuilder('shut off').checkpoint('virtnbdbackup.0', { lostOn: ['vda'] }).build();
    expect(summary(state, req('checkpoint'))).toEqual(['delete-checkpoint-metadata virtnbdbackup.0']);
  });
});

describe('planScrub --checkpointName', () => {
  it('limits the plan to that checkpoint and its bitmap', () => {
    expect(summary(mixed(), req('*', { checkpointName: 'virtnbdbackup.0' }))).toEqual(['delete-checkpoint virtnbdbackup.0']);
    expect(summary(mixed('shut off'), req('bitmap', { checkpointName: 'virtnbdbackup.1' }))).toEqual([
      'delete-checkpoint-metadata virtnbdbackup.1',
      'remove-bitmap virtnbdbackup.1@vda',
    ]);
  });

  it('names an orphan bitmap too when bitmaps are in scope', () => {
    expect(summary(mixed(), req('bitmap', { checkpointName: 'virtnbdbackup.7' }))).toEqual(['remove-bitmap virtnbdbackup.7@vda']);
  });

  it('an unknown name is an error, with a hint when it is a bitmap and only checkpoints are in scope', () => {
    expect(() => planScrub(mixed(), req('*', { checkpointName: 'virtnbdbackup.99' }))).toThrow(
      new VmkeepError('failure', 'dom has no checkpoint and no orphan bitmap named "virtnbdbackup.99"'),
    );
    expect(() => planScrub(mixed(), req('checkpoint', { checkpointName: 'virtnbdbackup.7' }))).toThrow(
      'dom has no checkpoint named "virtnbdbackup.7" (a bitmap of that name is on vda: use --scrubType bitmap)',
    );
  });

  it('a foreign name is skipped without --force and then counts as not removed', () => {
    const state = mixed();
    const plan = planScrub(state, req('*', { checkpointName: 'manual' }));
    expect(summary(state, req('*', { checkpointName: 'manual' }))).toEqual(['skip-checkpoint manual']);
    expect(stillPresent(plan, simulateScrub(state, plan))).toEqual(['checkpoint manual']);
    expect(summary(state, req('*', { checkpointName: 'manual', force: true }))).toEqual(['delete-checkpoint manual']);
  });
});

describe('planScrub refuses', () => {
  it('a domain with a job running on it (a backup would lose its checkpoint)', () => {
    expect(() => planScrub({ ...mixed(), jobActive: true }, req('*'))).toThrow(
      'a job (a backup?) is running on dom: let it finish or abort it (virsh domjobabort) before scrubbing',
    );
  });

  it('a domain in another state', () => {
    const state = { ...mixed(), state: 'other' as const };
    expect(() => planScrub(state, req('*'))).toThrow('dom is neither running, paused nor shut off: cannot scrub it in this state');
  });
});

describe('planScrub invariants (property)', () => {
  const names = fc.constantFrom('virtnbdbackup.0', 'virtnbdbackup.1', 'virtnbdbackup.2', 'vmkeep.a', 'manual', 'foreign', 'x');
  const arbState: fc.Arbitrary<ScrubDomainState> = fc
    .record({
      state: fc.constantFrom<DomainState>('running', 'paused', 'shut off'),
      checkpoints: fc.uniqueArray(names, { maxLength: 5 }),
      lost: fc.array(fc.tuple(names, fc.constantFrom('vda', 'vdb')), { maxLength: 4 }),
      orphans: fc.array(fc.tuple(names, fc.constantFrom('vda', 'vdb')), { maxLength: 4 }),
    })
    .map(({ state, checkpoints, lost, orphans }) => {
      const b = new DomainBuilder(state, ['vda', 'vdb']);
      for (const c of checkpoints) b.checkpoint(c, { lostOn: lost.filter(([n]) => n === c).map(([, d]) => d) });
      const built = b.build();
      for (const [n, d] of orphans) {
        const disk = built.disks.find((x) => x.target === d)!;
        if (!disk.bitmaps.includes(n) && !checkpoints.includes(n)) disk.bitmaps.push(n);
      }
      return built;
    });
  const arbRequest: fc.Arbitrary<ScrubRequest> = fc.record({
    scrubType: fc.constantFrom<ScrubType>('checkpoint', 'bitmap', 'both', '*'),
    force: fc.boolean(),
  });

  it('never leaves a checkpoint pointing at a bitmap the plan removed', () => {
    fc.assert(
      fc.property(arbState, arbRequest, (state, request) => {
        const after = simulateScrub(state, planScrub(state, request));
        for (const cp of after.checkpoints) {
          for (const b of cp.bitmaps) {
            const had = state.disks.find((d) => d.target === b.disk)?.bitmaps.includes(b.bitmap);
            const has = after.disks.find((d) => d.target === b.disk)?.bitmaps.includes(b.bitmap);
            expect(!had || has).toBe(true);
          }
        }
      }),
    );
  });

  it('without --force touches only vmkeep-owned names, and a full plan leaves none of them', () => {
    fc.assert(
      fc.property(arbState, fc.constantFrom<ScrubType>('both', '*'), (state, scrubType) => {
        const plan = planScrub(state, { scrubType, force: false });
        for (const a of plan.actions) {
          if (!a.action.startsWith('skip')) expect(isOwnedName(a.target)).toBe(true);
        }
        const after = simulateScrub(state, plan);
        expect(after.checkpoints.filter((c) => isOwnedName(c.name))).toEqual([]);
        for (const d of after.disks) expect(d.bitmaps.filter(isOwnedName)).toEqual([]);
        expect(stillPresent(plan, after)).toEqual([]);
      }),
    );
  });
});
