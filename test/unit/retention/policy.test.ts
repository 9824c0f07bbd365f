import { describe, expect, it } from 'vitest';
import { VmkeepError } from '../../../src/errors.js';
import { describePolicy, findPolicyWarnings, hasAnyRule, parsePolicy } from '../../../src/retention/index.js';

describe('parsePolicy', () => {
  it('builds a frozen policy from raw CLI options', () => {
    const policy = parsePolicy({ keepLast: 2, keepDaily: '7', keepWithin: '3d', keepTiers: ['1w:1m', '1d:1w'] });
    expect(Object.isFrozen(policy)).toBe(true);
    expect(Object.isFrozen(policy.keepTiers)).toBe(true);
    expect(policy.keepLast).toBe(2);
    expect(policy.keepDaily).toBe(7);
    expect(policy.keepWithin?.text).toBe('3d');
    // Tiers come out youngest AGE first whatever the order given.
    expect(policy.keepTiers?.map((t) => t.text)).toEqual(['1d:1w', '1w:1m']);
  });

  it('accepts a single tier as text and null as absent', () => {
    const policy = parsePolicy({ keepTiers: '0d:6m', keepLast: null });
    expect(policy.keepTiers?.map((t) => t.text)).toEqual(['0d:6m']);
    expect(policy.keepLast).toBeUndefined();
  });

  it('defaults groupBy to month when the VMSnap rule is on', () => {
    expect(parsePolicy({ vmsnapRule: true }).groupBy).toBe('month');
    expect(parsePolicy({ vmsnapRule: true, groupBy: 'quarter' }).groupBy).toBe('quarter');
    expect(parsePolicy({ groupBy: 'year' })).toEqual({ groupBy: 'year' });
  });

  it.each([
    [{ keepLast: -1 }, 'keepLast: must not be negative'],
    [{ keepDaily: 1.5 }, 'keepDaily: expected a whole number'],
    [{ keepWeekly: 'many' }, 'keepWeekly: expected a whole number'],
    [{ groupBy: 'week' }, 'groupBy: expected one of month, quarter, bi-annual, year'],
    [{ vmsnapRule: 'yes' }, 'vmsnapRule: expected true or false'],
    [{ keepWithin: '3x' }, 'bad keepWithin "3x"'],
    [{ keepTiers: ['1w'] }, 'bad keep tier "1w"'],
    [{ keepTiers: ['1w:1q'] }, 'bad age in keep tier "1w:1q"'],
    [{ keepTiers: ['1x:1m'] }, 'bad interval in keep tier "1x:1m"'],
    [{ keepTiers: ['1w:1m', '2w:1m'] }, 'keep tiers 1w:1m and 2w:1m have the same age'],
    [{ keepDayly: 3 }, 'unknown retention option keepDayly'],
  ])('rejects %j', (raw, message) => {
    let error: unknown;
    try {
      parsePolicy(raw);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(VmkeepError);
    expect((error as VmkeepError).code).toBe('usage');
    expect((error as VmkeepError).message).toContain(message);
    expect((error as VmkeepError).message).not.toContain('\n');
  });

  it('treats 0 as "rule off", and a policy without rules as keep-everything', () => {
    expect(hasAnyRule(parsePolicy({ keepLast: 0 }))).toBe(false);
    expect(hasAnyRule(parsePolicy({ groupBy: 'month' }))).toBe(false);
    expect(hasAnyRule(parsePolicy({ keepLast: 1 }))).toBe(true);
    expect(describePolicy(parsePolicy({}))).toBe('no retention rule: nothing is pruned');
  });
});

describe('describePolicy', () => {
  it('puts every rule in words, one a line, with the combination and the safety rules', () => {
    const lines = describePolicy(parsePolicy({ vmsnapRule: true, keepLast: 3, keepWeekly: 4, keepWithin: '2d', keepTiers: ['0d:1y'] })).split('\n');
    expect(lines).toContain(
      "vmsnap-rule (monthly): keep the current month's chains; earlier monthly chains go once the current month " + 'is 15 days old and has a complete chain',
    );
    expect(lines).toContain('keep-last 3: the 3 newest points');
    expect(lines).toContain('keep-weekly 4: the newest point of each of the last 4 ISO weeks that have one');
    expect(lines).toContain('keep-within 2d: every point newer than 2d before now');
    expect(lines).toContain('tier 0d:1y: no point older than 1y');
    expect(lines.some((l) => l.includes('ORed'))).toBe(true);
  });
});

describe('findPolicyWarnings', () => {
  it("warns about do-snapshot's own unsatisfiable example -k 2w:1w -k 1w:1m", () => {
    const warnings = findPolicyWarnings(parsePolicy({ keepTiers: ['2w:1w', '1w:1m'] }));
    expect(warnings).toEqual([
      'tier 1w:1m can never keep one point per 1w: the younger tier 2w:1w already thins points older than 1w ' +
        'to one per 2w, so points older than 1m end up one per 2w',
    ]);
  });

  it('is quiet when intervals grow with age', () => {
    expect(findPolicyWarnings(parsePolicy({ keepTiers: ['3d:1d', '1w:1w', '1m:2m', '0d:6m'] }))).toEqual([]);
  });

  it('warns about tiers behind a delete-all tier', () => {
    const warnings = findPolicyWarnings(parsePolicy({ keepTiers: ['0d:6m', '1m:1y'] }));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toBe('tier 1m:1y never sees a point: tier 0d:6m already deletes every point older than 6m');
  });
});
