/**
 * `vmkeep verify --boot`: boot restore points in isolation, check that the guest comes up, keep
 * the evidence beside the verify record, and tear everything down.
 *
 * Per point: the disks are made (push chains: a fresh overlay on the point's image, nothing
 * copied; virtnbdbackup chains: a scratch restore), a verify domain is defined from the point's
 * saved XML (src/domain/verify-domain-xml.ts) and started, the checks run within one deadline,
 * then the domain is destroyed and undefined with its NVRAM and the scratch folder goes; on
 * every path, also when a check throws or the run is cancelled. A killed run's leftovers are
 * removed by the next run (src/domain/verify-domains.ts).
 */
import { randomUUID } from 'node:crypto';
import { cpus, hostname } from 'node:os';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import pLimit from 'p-limit';
import type { AppContext } from '../app/context.js';
import type { CommandResult } from '../app/command-result.js';
import { VmkeepError, messageOf, usageError } from '../errors.js';
import { DEFAULT_CONSOLE_PATTERN, runBootChecks, type BootCheck, type BootCheckResult } from '../domain/boot-checks.js';
import { pickBootDomainType, type BootDomainType } from '../domain/host-domain-type.js';
import { buildVerifyDomainXml, readMemoryKiB, type VerifyImage } from '../domain/verify-domain-xml.js';
import { AGENT_CHANNEL_NAME } from '../virsh/parse-domain-xml.js';
import { makeRunScratch, removeVerifyDomain, sweepVerifyLeftovers, verifyDomainName } from '../domain/verify-domains.js';
import { namesOnly, selectAmong, type SelectionRequest } from '../domain/select-by-tags.js';
import { listBackedUpDomains, requireOutputFolder } from '../repository/chains.js';
import { evidenceFolder, writeBootEvidence } from '../repository/boot-evidence.js';
import type { BootVerifyRecord } from '../repository/manifest.js';
import { withLocks } from '../repository/locks.js';
import { readPathModes, restorePathModes, type PathMode } from '../repository/qemu-access.js';
import { printable } from '../util/printable.js';
import { isImageFile } from '../points/check-files.js';
import { readRestoreChains } from '../points/chains.js';
import { checkPlanFiles, restoreDiskImages } from '../points/execute-restore.js';
import { planRestore, type RestorePlan } from '../points/plan-restore.js';
import type { RestoreChain } from '../points/types.js';
import type { BootVerifySettings } from '../config/settings.js';

export interface BootVerifyOptions {
  output: string;
  domains: readonly string[] | undefined;
  selection?: SelectionRequest;
  /**
   * Per domain: the checks, the timeout and the memory cap (the config's `verify.boot` for the
   * domain's tags and name, under the flags).
   */
  bootSettingsFor: (domain: string, tags: readonly string[]) => BootVerifySettings;
  /** Read each selected domain's tags from libvirt for bootSettingsFor (the config has tag sections). */
  needTags: boolean;
  /** --at POINT (a point id, checkpoint name or `latest`); undefined: the newest point. */
  at: string | undefined;
  allPoints: boolean;
  jobs: number;
  screenshot: boolean;
  /** --domain-type; undefined: what the host can boot. */
  domainType: BootDomainType | undefined;
  /** Where scratch restores and overlays go; undefined: a folder in the output folder. */
  scratchRoot: string | undefined;
  lockWaitMs: number;
}

export interface BootPointReport {
  domain: string;
  /** `<chain>/<checkpoint>`. */
  point: string;
  chain: string;
  checkpoint: string;
  engine: 'push' | 'virtnbdbackup';
  /** How the disks were made: an overlay on the chain, or a scratch restore. */
  disks: 'overlay' | 'scratch-restore';
  verifyDomain: string;
  result: 'ok' | 'failed';
  reason?: string | undefined;
  durationMs: number;
  firstAnswerMs?: number | undefined;
  checks: BootCheckResult[];
  consoleTail: string[];
  /** Absolute path of the evidence folder; undefined when it could not be written. */
  evidence: string | undefined;
  screenshot: boolean;
  notes: string[];
}

export interface BootVerifyDocument {
  output: string;
  time: string;
  boot: true;
  domainType: BootDomainType;
  points: BootPointReport[];
  /** Domains that could not be verified at all. */
  failures: Array<{ domain: string; reason: string }>;
  /** What earlier killed runs left and this run removed. */
  leftoversRemoved: string[];
}

/** How many lines of the serial console the report and the evidence keep. */
const CONSOLE_TAIL_LINES = 20;

interface PlannedPoint {
  chain: RestoreChain;
  plan: RestorePlan;
  savedXml: string;
  checks: readonly BootCheck[];
  memoryKiB: number;
  settings: BootVerifySettings;
}

export async function runBootVerify(ctx: AppContext, options: BootVerifyOptions): Promise<CommandResult> {
  await requireOutputFolder(options.output);
  const now = ctx.now();
  const scratchRoot = options.scratchRoot ?? options.output;
  const leftoversRemoved = await sweepVerifyLeftovers(ctx.virsh, [...new Set([options.output, scratchRoot])]);
  for (const l of leftoversRemoved) ctx.log.warn(l);

  const selection = await selectAmong(ctx, await listBackedUpDomains(options.output), options.selection ?? namesOnly(options.domains), {
    needTags: options.needTags,
  });
  const failures: BootVerifyDocument['failures'] = [
    ...selection.unknown.map((d) => ({ domain: d, reason: `no backups in ${options.output}` })),
    ...selection.emptyPatterns.map((d) => ({ domain: d, reason: `no backed-up domain matches in ${options.output}` })),
  ];
  const points: BootPointReport[] = [];
  let runScratch: string | undefined;
  let domainType: BootDomainType = options.domainType ?? 'qemu';
  await withLocks(ctx, { output: options.output, mode: 'read', waitMs: options.lockWaitMs }, async () => {
    try {
      // Plan every point first: a bad --at or a missing agent channel is said before anything boots.
      const planned: PlannedPoint[] = [];
      for (const domain of selection.selected) {
        const chains = await readRestoreChains(options.output, domain);
        if (chains.length === 0) {
          failures.push({ domain, reason: `no restore points in ${options.output}` });
          continue;
        }
        const settings = options.bootSettingsFor(domain, selection.tagsOf.get(domain) ?? []);
        for (const p of selectPoints(chains, domain, options, now)) planned.push(await planPoint(p.chain, p.plan, settings));
      }
      if (planned.length === 0 && failures.length === 0) throw new VmkeepError('failure', `no restore point to boot in ${options.output}`);
      await refuseWithoutMemory(planned, options);
      domainType = options.domainType ?? (await pickBootDomainType(ctx.virsh, isLocalUri(ctx.virsh.uri)));
      if (planned.length > 0) runScratch = await makeRunScratch(scratchRoot);
      const limit = pLimit(options.jobs);
      const scratch = runScratch;
      const results = await Promise.all(planned.map((p) => limit(() => bootPoint(ctx, p, options, scratch!, domainType))));
      points.push(...results);
    } finally {
      if (runScratch) await rm(runScratch, { recursive: true, force: true });
    }
  });
  const document: BootVerifyDocument = { output: options.output, time: now.toISOString(), boot: true, domainType, points, failures, leftoversRemoved };
  const ok = points.filter((p) => p.result === 'ok').length;
  const setupFailed = points.some((p) => p.result === 'failed' && p.checks.length === 0) || failures.length > 0;
  // A point that booted and failed its checks is what verify --boot is for (1); one vmkeep could
  // not boot at all (no disks, no definition) is a failure of the run (2).
  const outcome = ctx.signal.aborted ? 'interrupted' : ok === points.length && failures.length === 0 ? 'ok' : setupFailed && ok === 0 ? 'failure' : 'partial';
  return { document, text: renderBootVerify(document), outcome };
}

function selectPoints(chains: RestoreChain[], domain: string, options: BootVerifyOptions, now: Date): Array<{ chain: RestoreChain; plan: RestorePlan }> {
  const selectors = options.allPoints
    ? chains.flatMap((c) => c.points.map((p) => ({ kind: 'at' as const, value: `${c.folder}/${p.checkpoint}` })))
    : [options.at === undefined ? { kind: 'latest' as const } : { kind: 'at' as const, value: options.at }];
  return selectors.map((selector) => {
    const plan = planRestore(chains, domain, { selector, disks: undefined, destination: { kind: 'scratch' } }, now);
    return { chain: chains.find((c) => c.folder === plan.point.chain)!, plan };
  });
}

async function planPoint(chain: RestoreChain, plan: RestorePlan, settings: BootVerifySettings): Promise<PlannedPoint> {
  if (!plan.config) throw new VmkeepError('failure', `${plan.domain}: point ${plan.point.id} has no saved domain XML to boot from`);
  const savedXml = await readFile(join(plan.chainDir, plan.config), 'utf8');
  const hasAgent = savedXml.includes(AGENT_CHANNEL_NAME);
  const checks = settings.checks ?? [hasAgent ? { kind: 'agent' as const } : { kind: 'console' as const, pattern: DEFAULT_CONSOLE_PATTERN }];
  if (!hasAgent && checks.some((c) => c.kind !== 'console')) {
    throw usageError(`${plan.domain}: point ${plan.point.id}: no guest agent channel in the saved definition: use --check console:… or add the channel`);
  }
  const memoryKiB = Math.min(readMemoryKiB(savedXml) ?? settings.maxMemoryKiB, settings.maxMemoryKiB);
  return { chain, plan, savedXml, checks, memoryKiB, settings };
}

/** --jobs N guests at once must fit in the memory the host has free now. */
async function refuseWithoutMemory(planned: readonly PlannedPoint[], options: BootVerifyOptions): Promise<void> {
  if (planned.length === 0) return;
  const meminfo = await readFile('/proc/meminfo', 'utf8').catch(() => '');
  const available = Number(/^MemAvailable:\s+(\d+) kB/m.exec(meminfo)?.[1]);
  if (!Number.isFinite(available)) return;
  const biggest = planned
    .map((p) => p.memoryKiB)
    .sort((a, b) => b - a)
    .slice(0, options.jobs);
  const need = biggest.reduce((a, b) => a + b, 0);
  if (need > available) {
    const mib = (k: number) => `${Math.round(k / 1024)} MiB`;
    throw new VmkeepError(
      'failure',
      `${biggest.length} verify guest${biggest.length === 1 ? '' : 's'} at once need ${mib(need)} of memory and the host has ${mib(available)} free: use fewer --jobs or a smaller --max-memory (config: verify.boot.maxMemory)`,
    );
  }
}

function isLocalUri(uri: string): boolean {
  return !/^[a-z+]+:\/\/[^/]/.test(uri);
}

// eslint-disable-next-line max-lines-per-function -- one point from disks to tear-down: the finally block must see every resource the try made
async function bootPoint(
  ctx: AppContext,
  p: PlannedPoint,
  options: BootVerifyOptions,
  runScratch: string,
  domainType: BootDomainType,
): Promise<BootPointReport> {
  const { plan } = p;
  const t0 = Date.now();
  const push = plan.disks.every((d) => d.sequence.every(isImageFile));
  const name = verifyDomainName(plan.domain, plan.point.id);
  const dir = join(runScratch, `point-${plan.point.index}-${randomUUID().slice(0, 8)}`);
  const serialLog = join(dir, 'serial.log');
  const report: BootPointReport = {
    domain: plan.domain,
    point: plan.point.id,
    chain: plan.point.chain,
    checkpoint: plan.point.checkpoint,
    engine: push ? 'push' : 'virtnbdbackup',
    disks: push ? 'overlay' : 'scratch-restore',
    verifyDomain: name,
    result: 'failed',
    durationMs: 0,
    checks: [],
    consoleTail: [],
    evidence: undefined,
    screenshot: false,
    notes: [],
  };
  let modes: PathMode[] = [];
  let defined = false;
  let screenshotFile: string | undefined;
  try {
    await mkdir(dir, { mode: 0o711 });
    await chmod(dir, 0o711);
    if ((await ctx.virsh.listDomainNames()).includes(name))
      throw new VmkeepError('failure', `a domain named ${name} exists already (another verify --boot of this point runs)`);
    await checkPlanFiles(ctx, plan);
    if (push) {
      // libvirt gives the backing images to QEMU's user while the guest runs: their owners and modes come back afterwards.
      const images = [...new Set(plan.disks.flatMap((d) => d.sequence.map((f) => join(plan.chainDir, f))))];
      modes = await readPathModes([dirname(dirname(plan.chainDir)), dirname(plan.chainDir), plan.chainDir, ...images]);
    } else {
      await openToQemu(dirname(dirname(runScratch)));
    }
    ctx.log.info(`${plan.domain}: booting ${plan.point.id} as ${name} (${push ? 'overlay on the chain' : 'scratch restore'})`);
    const restored = await restoreDiskImages(ctx, { ...plan, keepChain: push }, (target) => join(dir, `disk-${target}`));
    const images = new Map<string, VerifyImage>();
    for (const img of restored) {
      await chmod(dirname(img.path), 0o711);
      const info = await ctx.qemuImg.info(img.path);
      images.set(img.target, { path: img.path, format: info.format === 'raw' ? 'raw' : 'qcow2' });
    }
    const built = buildVerifyDomainXml(p.savedXml, {
      name,
      uuid: randomUUID(),
      images,
      serialLog,
      domainType,
      maxMemoryKiB: p.settings.maxMemoryKiB,
      maxVcpus: Math.max(1, cpus().length),
      owner: { scratch: dir, pid: process.pid, host: hostname(), source: plan.domain, point: plan.point.id },
    });
    report.notes.push(...built.changes);
    const xmlFile = join(dir, 'domain.xml');
    await writeFile(xmlFile, built.xml, { mode: 0o600 });
    defined = true;
    await ctx.virsh.define(xmlFile);
    const started = Date.now();
    await ctx.virsh.start(name);
    const outcome = await runBootChecks({
      virsh: ctx.virsh,
      domain: name,
      serialLog,
      checks: p.checks,
      startedAt: started,
      deadline: started + p.settings.timeoutMs,
      signal: ctx.signal,
    });
    report.checks = outcome.results;
    report.firstAnswerMs = outcome.firstAnswerMs;
    if (options.screenshot) {
      screenshotFile = join(dir, 'screenshot.png');
      try {
        await ctx.virsh.screenshot(name, screenshotFile);
        report.screenshot = true;
      } catch (e) {
        screenshotFile = undefined;
        report.notes.push(`no screenshot: ${messageOf(e).split('\n')[0]}`);
      }
    }
    const failed = outcome.results.find((r) => !r.ok);
    report.result = failed ? 'failed' : 'ok';
    report.reason = failed?.reason;
  } catch (e) {
    if (ctx.signal.aborted) report.reason = 'interrupted';
    else report.reason = messageOf(e);
  } finally {
    report.consoleTail = tailLines(await readFile(serialLog, 'utf8').catch(() => ''), CONSOLE_TAIL_LINES);
    try {
      if (defined) await removeVerifyDomain(ctx.virsh, name);
    } catch (e) {
      report.notes.push(`could not remove verify domain ${name}: ${messageOf(e)}`);
    }
    for (const failure of await restorePathModes(modes)) report.notes.push(failure);
    report.durationMs = Date.now() - t0;
    if (!ctx.signal.aborted) {
      try {
        await writeBootEvidence(plan.chainDir, plan.point.checkpoint, {
          record: toRecord(report, ctx.now()),
          consoleTail: report.consoleTail.join('\n') + (report.consoleTail.length ? '\n' : ''),
          exec: report.checks.flatMap((c, i) => (c.stdout === undefined ? [] : [{ place: i + 1, stdout: c.stdout, stderr: c.stderr ?? '' }])),
          screenshotFile,
        });
        report.evidence = join(plan.chainDir, evidenceFolder(plan.point.checkpoint));
      } catch (e) {
        report.notes.push(`could not write the evidence: ${messageOf(e)}`);
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
  return report;
}

/** QEMU opens the scratch images by path: the folders on the way must be traversable. */
async function openToQemu(folder: string): Promise<void> {
  const mode = (await stat(folder)).mode & 0o7777;
  if ((mode & 0o001) === 0) await chmod(folder, mode | 0o001);
}

function toRecord(r: BootPointReport, now: Date): BootVerifyRecord {
  return {
    time: now.toISOString(),
    result: r.result,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    durationMs: r.durationMs,
    ...(r.firstAnswerMs !== undefined ? { firstAnswerMs: r.firstAnswerMs } : {}),
    checks: r.checks.map((c) => ({ check: c.check, ok: c.ok, ...(c.reason !== undefined ? { reason: c.reason } : {}) })),
    evidence: evidenceFolder(r.checkpoint),
  };
}

function tailLines(text: string, n: number): string[] {
  return text
    .replace(/\r/g, '')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-n);
}

/** One line per point, and the console's last lines under a failure. */
export function renderBootVerify(doc: BootVerifyDocument): string {
  const out: string[] = [];
  const s = (ms: number | undefined) => (ms === undefined ? '?' : `${(ms / 1000).toFixed(1)} s`);
  for (const p of doc.points) {
    if (p.result === 'ok') {
      const checks = p.checks.map((c) => c.check).join(', ');
      out.push(
        `${p.domain}: point ${p.point} booted (${p.disks === 'overlay' ? 'overlay on the chain' : 'scratch restore'}): ${checks} passed; first answer after ${s(p.firstAnswerMs)}, ${s(p.durationMs)} in all`,
      );
      for (const c of p.checks.filter((c) => c.stdout !== undefined && c.stdout.trim() !== ''))
        out.push(`  ${c.check}: ${printable(tailLines(c.stdout!, 1)[0] ?? '')}`);
    } else {
      const tail = p.consoleTail.length > 0 ? `; last console lines:` : '; the console printed nothing';
      out.push(`${p.domain}: point ${p.point} did not boot: ${p.reason ?? 'unknown'}${tail}`);
      for (const l of p.consoleTail.slice(-10)) out.push(`  | ${printable(l)}`);
    }
    if (p.evidence) out.push(`  evidence: ${p.evidence}`);
  }
  for (const f of doc.failures) out.push(`${f.domain}: not verified: ${f.reason}`);
  if (out.length === 0) out.push(`no restore point booted in ${doc.output}`);
  return `${out.join('\n')}\n`;
}
