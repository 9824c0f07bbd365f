/**
 * Retention policies: validated once from the raw CLI/config options into a frozen object,
 * described for humans, and checked for tiers that can never be satisfied.
 */
import { z } from 'zod';
import { usageError } from '../errors.js';
import { isZeroDuration, nominalHours, parseDuration } from './duration.js';
import { GRACE_DAYS, GROUP_BY_VALUES, periodAdjective } from './periods.js';
import type { GroupBy, KeepTier, RawRetentionOptions, RetentionPolicy } from './types.js';

/** The count rules, in the order they are evaluated and described. */
export const COUNT_RULES = [
  { key: 'keepLast', name: 'keep-last', unit: 'points' },
  { key: 'keepHourly', name: 'keep-hourly', unit: 'hours' },
  { key: 'keepDaily', name: 'keep-daily', unit: 'days' },
  { key: 'keepWeekly', name: 'keep-weekly', unit: 'ISO weeks' },
  { key: 'keepMonthly', name: 'keep-monthly', unit: 'months' },
  { key: 'keepYearly', name: 'keep-yearly', unit: 'years' },
] as const;

export type CountRuleKey = (typeof COUNT_RULES)[number]['key'];

const absentAsUndefined = (value: unknown) => (value === null ? undefined : value);
const wholeNumber = z.preprocess(
  (value) => {
    const v = absentAsUndefined(value);
    return typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
  },
  z.int({ error: 'expected a whole number' }).min(0, { error: 'must not be negative' }).optional(),
);
const text = z.preprocess(absentAsUndefined, z.string({ error: 'expected text' }).optional());

const RAW_POLICY = z.strictObject({
  groupBy: z.preprocess(
    absentAsUndefined,
    z.enum(GROUP_BY_VALUES as [GroupBy, ...GroupBy[]], { error: `expected one of ${GROUP_BY_VALUES.join(', ')}` }).optional(),
  ),
  vmsnapRule: z.preprocess(absentAsUndefined, z.boolean({ error: 'expected true or false' }).optional()),
  keepLast: wholeNumber,
  keepHourly: wholeNumber,
  keepDaily: wholeNumber,
  keepWeekly: wholeNumber,
  keepMonthly: wholeNumber,
  keepYearly: wholeNumber,
  keepWithin: text,
  keepTiers: z.preprocess(absentAsUndefined, z.union([z.string(), z.array(z.string())], { error: 'expected INTERVAL:AGE text or a list of them' }).optional()),
});

/** Validate raw retention options into a frozen policy; bad values throw a usage error. */
export function parsePolicy(raw: RawRetentionOptions | Record<string, unknown>): RetentionPolicy {
  const result = RAW_POLICY.safeParse(raw ?? {});
  if (!result.success) throw usageError(describeIssue(result.error.issues[0]));
  const options = result.data;
  const policy: Record<string, unknown> = {};
  if (options.vmsnapRule) policy.vmsnapRule = true;
  if (options.groupBy !== undefined || options.vmsnapRule) policy.groupBy = options.groupBy ?? 'month';
  for (const { key } of COUNT_RULES) {
    if (options[key] !== undefined) policy[key] = options[key];
  }
  if (options.keepWithin !== undefined) policy.keepWithin = parseDuration(options.keepWithin, 'keepWithin');
  const tiers = options.keepTiers === undefined ? [] : [options.keepTiers].flat();
  if (tiers.length > 0) policy.keepTiers = sortTiers(tiers.map(parseTier));
  return Object.freeze(policy);
}

/** Parse a do-snapshot tier `INTERVAL:AGE`, e.g. `1w:1m` or `0d:6m`. */
export function parseTier(text: string): KeepTier {
  const parts = text.trim().split(':');
  if (parts.length !== 2) {
    throw usageError(`bad keep tier ${JSON.stringify(text)}: expected INTERVAL:AGE, ` + 'e.g. 1w:1m (one point a week among points older than a month)');
  }
  const interval = parseDuration(parts[0] ?? '', `interval in keep tier ${JSON.stringify(text)}`);
  const age = parseDuration(parts[1] ?? '', `age in keep tier ${JSON.stringify(text)}`);
  return Object.freeze({ interval, age, text: `${interval.text}:${age.text}` });
}

function sortTiers(tiers: KeepTier[]): readonly KeepTier[] {
  const sorted = [...tiers].sort((a, b) => nominalHours(a.age) - nominalHours(b.age));
  sorted.forEach((tier, i) => {
    const previous = sorted[i - 1];
    if (previous && nominalHours(previous.age) === nominalHours(tier.age)) {
      throw usageError(`keep tiers ${previous.text} and ${tier.text} have the same age: give each its own AGE`);
    }
  });
  return Object.freeze(sorted);
}

function describeIssue(issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return 'bad retention options';
  if (issue.code === 'unrecognized_keys') return `unknown retention option ${issue.keys.join(', ')}`;
  return `bad retention option ${issue.path.join('.') || '(options)'}: ${issue.message}`;
}

/** Does the policy hold any rule at all? Without one, nothing is pruned. */
export function hasAnyRule(policy: RetentionPolicy): boolean {
  return policy.vmsnapRule === true || hasPointRules(policy);
}

/** Does the policy pick points (keep-N, keep-within, tiers), not only whole periods? */
export function hasPointRules(policy: RetentionPolicy): boolean {
  return COUNT_RULES.some(({ key }) => (policy[key] ?? 0) > 0) || policy.keepWithin !== undefined || (policy.keepTiers ?? []).length > 0;
}

/** Warnings about rules that cannot do what they say (e.g. an older tier asking for more points). */
export function findPolicyWarnings(policy: RetentionPolicy): string[] {
  const warnings: string[] = [];
  const tiers = policy.keepTiers ?? [];
  tiers.forEach((tier, i) => {
    const younger = tiers.slice(0, i);
    const deleting = younger.find((t) => isZeroDuration(t.interval));
    if (deleting) {
      warnings.push(`tier ${tier.text} never sees a point: ` + `tier ${deleting.text} already deletes every point older than ${deleting.age.text}`);
      return;
    }
    const sparsest = younger.reduce<KeepTier | undefined>(
      (best, t) => (best === undefined || nominalHours(t.interval) > nominalHours(best.interval) ? t : best),
      undefined,
    );
    const interval = nominalHours(tier.interval);
    if (sparsest && interval > 0 && interval < nominalHours(sparsest.interval)) {
      warnings.push(
        `tier ${tier.text} can never keep one point per ${tier.interval.text}: ` +
          `the younger tier ${sparsest.text} ` +
          `already thins points older than ${sparsest.age.text} to one per ${sparsest.interval.text}, ` +
          `so points older than ${tier.age.text} end up one per ${sparsest.interval.text}`,
      );
    }
  });
  return warnings;
}

/** The policy in words, one rule a line, for `--dry-run`, `status` and simulations. */
export function describePolicy(policy: RetentionPolicy): string {
  return policyLines(policy).join('\n');
}

/** What every policy also does, whatever its rules (said once under a plan's policies). */
export const POLICY_FOOTER: readonly string[] = Object.freeze([
  'a chain stays if any rule keeps one of its points (rules are ORed, as in restic)',
  'always kept: the newest complete chain, chains in progress, protected chains and points, ' + 'and every chain of a domain whose latest backup failed',
]);

/** describePolicy as separate lines (what plans and simulation results carry). */
export function policyLines(policy: RetentionPolicy): string[] {
  if (!hasAnyRule(policy)) return ruleLines(policy);
  return [...ruleLines(policy), ...POLICY_FOOTER, ...findPolicyWarnings(policy).map((w) => `warning: ${w}`)];
}

/** The policy's own rules, one a line, without the footer every policy shares or the warnings. */
export function ruleLines(policy: RetentionPolicy): string[] {
  if (!hasAnyRule(policy)) return ['no retention rule: nothing is pruned'];
  return [
    ...periodLines(policy),
    ...COUNT_RULES.flatMap(({ key, name, unit }) => {
      const n = policy[key] ?? 0;
      if (n === 0) return [];
      if (key === 'keepLast') return [`${name} ${n}: ${n === 1 ? 'the newest point' : `the ${n} newest points`}`];
      return [`${name} ${n}: the newest point of each of the last ${n} ${unit} that have one`];
    }),
    ...(policy.keepWithin ? [describeWithin(policy.keepWithin.text)] : []),
    ...(policy.keepTiers ?? []).map(describeTier),
  ];
}

function periodLines(policy: RetentionPolicy): string[] {
  if (!policy.groupBy) return [];
  const adjective = periodAdjective(policy.groupBy);
  if (!policy.vmsnapRule) return [`chains are grouped by ${policy.groupBy} (the VMSnap period rule is off)`];
  return [
    `vmsnap-rule (${adjective}): keep the current ${policy.groupBy}'s chains; earlier ${adjective} chains ` +
      `go once the current ${policy.groupBy} is ${GRACE_DAYS[policy.groupBy]} days old and has a complete chain`,
  ];
}

function describeWithin(within: string): string {
  return `keep-within ${within}: every point newer than ${within} before now`;
}

function describeTier(tier: KeepTier): string {
  return isZeroDuration(tier.interval)
    ? `tier ${tier.text}: no point older than ${tier.age.text}`
    : `tier ${tier.text}: one point per ${tier.interval.text} among points older than ${tier.age.text}`;
}
