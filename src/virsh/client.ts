/** A thin virsh client: argv builders + parsers joined through the Runner. */
import { ToolError, VmkeepError } from '../errors.js';
import { DEFAULT_TIMEOUT_MS, type Runner } from '../runner/runner.js';
import { isSessionSafeArg } from './session.js';
import type { VirshSessionPool } from './session-pool.js';
import type { Checkpoint, DomainDefinition, DomainState } from './types.js';
import { virshArgv } from './argv.js';
import { parseCheckpointXml } from './parse-checkpoint-xml.js';
import { parseDomainXml } from './parse-domain-xml.js';
import { parseAgentReturn, parseFsFreezeCount, parseFsFreezeStatus } from './parse-agent.js';
import { jobIsActive, parseDomState, parseJobInfo, parseJobStats, parseNameList, parseUuidNameList, type JobStats } from './parse-lists.js';
import { parseNamedBlockNodes, parseQueryBlock, qmpReturn, type BlockNode } from '../qemu/parse-qmp.js';
import { TAGS_KEY, TAGS_NAMESPACE, buildTagsXml, isNoMetadata, parseTagsXml } from './tags-xml.js';

const DEFAULT_URI = 'qemu:///system';

/** Is this virsh failure "the domain does not exist"? */
export function isNoSuchDomain(error: unknown): boolean {
  return error instanceof ToolError && /failed to get domain|Domain not found|no domain with matching/i.test(error.stderr);
}

/** Is this virsh failure "the checkpoint does not exist"? */
export function isNoSuchCheckpoint(error: unknown): boolean {
  return error instanceof ToolError && /checkpoint not found|no domain checkpoint with matching name/i.test(error.stderr);
}

export class VirshClient {
  /**
   * virsh resolves a domain argument as an id first, then a UUID, then a name: a domain named
   * "1" would address whichever domain has id 1. Once listed, domains are addressed by UUID.
   */
  private readonly uuids = new Map<string, string>();

  /**
   * @param sessions long-lived virsh sessions for this URI (the CLI's choice); without them every
   *   command is its own virsh process (unit tests with the fake runner).
   */
  constructor(
    private readonly runner: Runner,
    readonly uri: string = DEFAULT_URI,
    private readonly sessions?: VirshSessionPool,
  ) {}

  /** Start the first session now, so it is ready when the command asks (commands that talk to libvirt). */
  warm(): void {
    this.sessions?.warm();
  }

  /** End the sessions (the CLI calls this once the command is done). */
  close(): void {
    this.sessions?.shutdown();
  }

  /** The unambiguous virsh argument for a domain name (its UUID once known). */
  ref(domain: string): string {
    return this.uuids.get(domain) ?? domain;
  }

  private async virsh(argv: string[], timeoutMs?: number): Promise<string> {
    const [flag, uri, ...command] = argv;
    // A command whose arguments a session's line cannot carry literally runs as its own process.
    if (this.sessions && flag === '-c' && uri === this.sessions.uri && command.every(isSessionSafeArg)) {
      return (await this.sessions.exec(command, argv, timeoutMs ?? DEFAULT_TIMEOUT_MS)).stdout;
    }
    const { stdout } = await this.runner.run('virsh', argv, timeoutMs === undefined ? {} : { timeoutMs });
    return stdout;
  }

  /** The UUID of a domain listDomainNames saw; undefined before that, or for a name it did not list. */
  knownUuid(domain: string): string | undefined {
    return this.uuids.get(domain);
  }

  /** Fails with a clear error when libvirtd does not answer. */
  async ping(): Promise<void> {
    await this.virsh(virshArgv.version(this.uri), 30_000);
  }

  /** Names of all defined and running domains. */
  async listDomainNames(): Promise<string[]> {
    const entries = parseUuidNameList(await this.virsh(virshArgv.listAllUuidNames(this.uri)));
    for (const e of entries) this.uuids.set(e.name, e.uuid);
    return entries.map((e) => e.name);
  }

  /**
   * Every domain's state by UUID, in three commands: running, paused, shut off. A domain in any
   * other state (crashed, suspended, shutting down...) is not in the map: ask domainState.
   */
  async domainStates(): Promise<Map<string, DomainState>> {
    const states = [
      ['running', 'running'],
      ['paused', 'paused'],
      ['shutoff', 'shut off'],
    ] as const;
    const lists = await Promise.all(states.map(([filter]) => this.virsh(virshArgv.listUuidsInState(this.uri, filter))));
    const out = new Map<string, DomainState>();
    lists.forEach((stdout, i) => {
      for (const uuid of parseNameList(stdout)) out.set(uuid.toLowerCase(), states[i]![1]);
    });
    return out;
  }

  async domainState(domain: string): Promise<DomainState> {
    return parseDomState(await this.virsh(virshArgv.domState(this.uri, this.ref(domain))));
  }

  /** The domain definition; the live one for a running domain (with aliases). */
  async domain(domain: string, inactive = false): Promise<DomainDefinition> {
    return parseDomainXml(await this.domainXml(domain, inactive));
  }

  async domainXml(domain: string, inactive = false): Promise<string> {
    return this.virsh(virshArgv.dumpXml(this.uri, this.ref(domain), inactive));
  }

  /** Checkpoint names, parents before children. */
  async checkpointNames(domain: string): Promise<string[]> {
    return parseNameList(await this.virsh(virshArgv.checkpointListNames(this.uri, this.ref(domain))));
  }

  /** One checkpoint; with `size` (running domains only) the bytes changed since it. */
  async checkpoint(domain: string, name: string, size = false): Promise<Checkpoint> {
    return parseCheckpointXml(await this.virsh(virshArgv.checkpointDumpXml(this.uri, this.ref(domain), name, size)));
  }

  async deleteCheckpoint(domain: string, name: string, metadataOnly = false): Promise<void> {
    await this.virsh(virshArgv.checkpointDelete(this.uri, this.ref(domain), name, metadataOnly), 600_000);
  }

  /** Send a QMP command and return its `return` member. */
  async qmp(domain: string, command: string, args?: Record<string, unknown>): Promise<unknown> {
    const body = args === undefined ? { execute: command } : { execute: command, arguments: args };
    return qmpReturn(await this.virsh(virshArgv.qmp(this.uri, this.ref(domain), body)));
  }

  /** Every block node QEMU has for the domain, with dirty bitmaps. */
  async blockNodes(domain: string): Promise<BlockNode[]> {
    const stdout = await this.virsh(virshArgv.qmp(this.uri, this.ref(domain), { execute: 'query-named-block-nodes', arguments: { flat: true } }));
    return parseNamedBlockNodes(stdout);
  }

  /** Remove a dirty bitmap from a running domain's block node (a persistent one leaves the image too). */
  async removeBitmap(domain: string, node: string, bitmap: string): Promise<void> {
    await this.qmp(domain, 'block-dirty-bitmap-remove', { node, name: bitmap });
  }

  async start(domain: string, paused = false): Promise<void> {
    await this.virsh(virshArgv.start(this.uri, this.ref(domain), paused));
  }

  async resume(domain: string): Promise<void> {
    await this.virsh(virshArgv.resume(this.uri, this.ref(domain)));
  }

  async shutdown(domain: string): Promise<void> {
    await this.virsh(virshArgv.shutdown(this.uri, this.ref(domain)));
  }

  async destroy(domain: string): Promise<void> {
    await this.virsh(virshArgv.destroy(this.uri, this.ref(domain)));
  }

  async define(xmlFile: string): Promise<void> {
    await this.virsh(virshArgv.define(this.uri, xmlFile));
  }

  /** Is a job (e.g. a backup left by a killed run) active on the domain? */
  async jobActive(domain: string): Promise<boolean> {
    return jobIsActive(parseJobInfo(await this.virsh(virshArgv.domJobInfo(this.uri, this.ref(domain)))));
  }

  /**
   * `virsh blockjob --abort` on one disk: ends a backup job libvirt 9.0 keeps reporting after
   * QEMU finished it. It exits 1 ("still being ended") exactly when it works, so the caller
   * judges by reading the job state afterwards.
   */
  async blockJobAbort(domain: string, disk: string): Promise<void> {
    await this.virsh(virshArgv.blockJobAbort(this.uri, this.ref(domain), disk), 60_000);
  }

  async abortJob(domain: string): Promise<void> {
    await this.virsh(virshArgv.domJobAbort(this.uri, this.ref(domain)));
  }

  /** Freeze the guest's filesystems through its agent; returns how many it froze, when virsh says. */
  async fsFreeze(domain: string): Promise<number | undefined> {
    return parseFsFreezeCount(await this.virsh(virshArgv.domFsFreeze(this.uri, this.ref(domain)), 60_000));
  }

  /** Thaw the guest's filesystems through its agent. */
  async fsThaw(domain: string): Promise<void> {
    await this.virsh(virshArgv.domFsThaw(this.uri, this.ref(domain)), 60_000);
  }

  /** `guest-fsfreeze-status` through the agent: 'frozen' or 'thawed' (throws when no agent answers). */
  async fsFreezeStatus(domain: string, timeoutSeconds = 5): Promise<'frozen' | 'thawed'> {
    const out = await this.virsh(
      virshArgv.agentCommand(this.uri, this.ref(domain), { execute: 'guest-fsfreeze-status' }, timeoutSeconds),
      (timeoutSeconds + 30) * 1000,
    );
    return parseFsFreezeStatus(out);
  }

  /** Start a push-mode backup with its checkpoint; returns at once, the job runs in QEMU. */
  async backupBegin(domain: string, backupXmlFile: string, checkpointXmlFile: string, reuseExternal: boolean): Promise<void> {
    await this.virsh(virshArgv.backupBegin(this.uri, this.ref(domain), backupXmlFile, checkpointXmlFile, reuseExternal), 600_000);
  }

  /** The active job's raw statistics, or (completed) the last finished job's, read once. */
  async jobStats(domain: string, completed = false): Promise<JobStats> {
    return parseJobStats(await this.virsh(virshArgv.domJobStats(this.uri, this.ref(domain), completed)));
  }

  /** Remove a domain's definition (and its checkpoint metadata); a running domain keeps running until destroyed. */
  async undefine(domain: string): Promise<void> {
    await this.virsh(virshArgv.undefine(this.uri, this.ref(domain)));
    // A domain defined later under this name has another UUID.
    this.uuids.delete(domain);
  }

  /** Undefine a domain and remove its NVRAM file (for domains vmkeep made and owns wholly). */
  async undefineWithNvram(domain: string): Promise<void> {
    await this.virsh(virshArgv.undefineWithNvram(this.uri, this.ref(domain)));
    this.uuids.delete(domain);
  }

  /** One guest agent command; its `return` member (throws when the agent does not answer in time). */
  async agent(domain: string, command: string, args: Record<string, unknown> | undefined, timeoutSeconds: number): Promise<unknown> {
    const body = args === undefined ? { execute: command } : { execute: command, arguments: args };
    return parseAgentReturn(await this.virsh(virshArgv.agentCommand(this.uri, this.ref(domain), body, timeoutSeconds), (timeoutSeconds + 30) * 1000));
  }

  /** Save a PNG of the domain's screen. */
  async screenshot(domain: string, file: string): Promise<void> {
    await this.virsh(virshArgv.screenshot(this.uri, this.ref(domain), file), 60_000);
  }

  /** Can libvirt define domains of this type on this connection? */
  async supportsVirtType(virtType: string): Promise<boolean> {
    try {
      await this.virsh(virshArgv.domCapabilities(this.uri, virtType), 60_000);
      return true;
    } catch (e) {
      if (e instanceof ToolError) return false;
      throw e;
    }
  }

  /** Pull a running domain's disk's backing chain into its top image (waits for the job). */
  async blockPull(domain: string, disk: string): Promise<void> {
    await this.virsh(virshArgv.blockPull(this.uri, this.ref(domain), disk), 24 * 3_600_000);
  }

  /**
   * Make QEMU write out everything it holds for the guest disk whose top image is `image` (data
   * and the qcow2 tables in its cache). QMP has no flush command; HMP's `qemu-io ... "flush"` on
   * the device is the one way in, and it answers only with errors.
   */
  async flushDisk(domain: string, image: string): Promise<void> {
    const devices = parseQueryBlock(await this.virsh(virshArgv.qmp(this.uri, this.ref(domain), { execute: 'query-block' })));
    const device = devices.find((d) => d.file === image);
    if (!device) throw new VmkeepError('failure', `${domain} has no disk whose image is ${image}: cannot flush it`);
    const reply = await this.qmp(domain, 'human-monitor-command', { 'command-line': `qemu-io -d ${device.qdev} "flush"` });
    if (typeof reply === 'string' && reply.trim() !== '') throw new VmkeepError('failure', `QEMU did not flush ${image} of ${domain}: ${reply.trim()}`);
  }

  /**
   * Does this libvirt and QEMU do push-mode backup with checkpoints? `domcapabilities` lists
   * `<backup supported='yes'/>` among the features when they do (incremental backup support).
   */
  async supportsPushBackup(): Promise<boolean> {
    return parseBackupSupported(await this.virsh(virshArgv.domCapabilities(this.uri), 30_000));
  }

  /** `virsh version` as printed (library and hypervisor versions). */
  async versionText(): Promise<string> {
    return this.virsh(virshArgv.version(this.uri), 30_000);
  }

  // --- tags in the domain's metadata ---
  /** vmkeep's tags of a domain, from its persistent definition's metadata ([] when none). */
  async domainTags(domain: string): Promise<string[]> {
    try {
      return parseTagsXml(await this.virsh(virshArgv.metadataGet(this.uri, this.ref(domain), TAGS_NAMESPACE)));
    } catch (e) {
      if (e instanceof ToolError && isNoMetadata(e.stderr)) return [];
      throw e;
    }
  }

  /** Replace a domain's tags (in the persistent definition, and the live one while it runs). */
  async setDomainTags(domain: string, tags: readonly string[]): Promise<void> {
    const state = await this.domainState(domain);
    const live = state === 'running' || state === 'paused';
    if (tags.length === 0) {
      try {
        await this.virsh(virshArgv.metadataRemove(this.uri, this.ref(domain), TAGS_NAMESPACE, live));
      } catch (e) {
        if (!(e instanceof ToolError && isNoMetadata(e.stderr))) throw e;
      }
      return;
    }
    await this.virsh(virshArgv.metadataSet(this.uri, this.ref(domain), TAGS_NAMESPACE, TAGS_KEY, buildTagsXml(tags), live));
  }
}

/** `<backup supported='yes'/>` in `virsh domcapabilities` output. Pure. */
export function parseBackupSupported(xml: string): boolean {
  return /<backup\s+supported=['"]yes['"]\s*\/?>/.test(xml);
}
