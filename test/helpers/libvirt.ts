/**
 * Throwaway libvirt domains for integration tests, driven through the real Runner (argv arrays,
 * never a shell), so names with spaces or shell metacharacters reach virsh as one argument.
 *
 * Words used here:
 * - test domain: a domain named `vmkeep-test-*` with no OS; it sits in firmware, which is enough
 *   for QEMU to own its disks, keep dirty bitmaps and run backup jobs.
 * - guest data: bytes written through the guest's own virtio device from the QEMU monitor, so
 *   dirty bitmaps track them exactly as they track writes from a guest OS.
 * - owner: the process (pid + start time) that created a test domain, recorded in the domain's
 *   `<metadata>`, so a cleanup never removes the domains of another test run still going on
 *   the same shared libvirtd.
 * - paced reads: QEMU's reads of a domain's disks held to a set rate (throttleDiskReads), so a
 *   test can act while a backup copies instead of racing QEMU.
 *
 * This module parses virsh and qemu-img output itself instead of using src/ parsers: a bug in
 * vmkeep's parsers must not be able to hide itself in the tests that check vmkeep.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { ToolError, VmkeepError, usageError, messageOf } from '../../src/errors.js';
import { createExecaRunner, type RunOptions, type Runner } from '../../src/runner/runner.js';

export const LIBVIRT_URI = 'qemu:///system';
export const TEST_DOMAIN_PREFIX = 'vmkeep-test-';
export const TEST_ROOT = '/var/tmp/vmkeep-tests';
const MIB = 1024 * 1024;
/** HOST-NOTES: large single qemu-io writes may be cut short; stay well below 128 MiB. */
const WRITE_CHUNK_BYTES = 64 * MIB;
const OWNER_NS = 'https://vmkeep.invalid/xmlns/test-owner/1';
const QEMU_LOG_DIR = '/var/log/libvirt/qemu';

const runner: Runner = createExecaRunner();

/** A disk of a test domain. `alias` is libvirt's device alias (virtio-disk0 for vda). */
export interface TestDisk {
  target: string;
  path: string;
  alias: string;
  format: 'qcow2' | 'raw';
  sizeMiB: number;
}

/** A throwaway domain; helpers address it by UUID, so any name is safe. */
export interface TestDomain {
  name: string;
  uuid: string;
  disks: TestDisk[];
  /** The directory holding its disk images (and anything a test puts there). */
  dir: string;
}

/** Any domain a helper can act on: a handle, or a domain name (virsh resolves a bare
 * argument as ID first, then UUID, then name: avoid names that look like a number or UUID). */
export type DomainRef = TestDomain | { name: string; uuid?: string } | string;

export interface CreateTestDomainOptions {
  /** Default `vmkeep-test-<random>`; must start with `vmkeep-test-`; may contain spaces and
   * shell metacharacters, not '/'. */
  name?: string;
  /** Default one 64 MiB disk, vda. `fileName` defaults to `<target>.qcow2`. */
  disks?: Array<{ target: string; sizeMiB: number; fileName?: string; format?: 'qcow2' | 'raw' }>;
  start?: boolean;
  /** The domain's own directory; default a fresh one under /var/tmp/vmkeep-tests/. */
  dir?: string;
  /** A `<serial type='file'>` logging to `serial.log` in the domain's directory (instead of the pty console). */
  serialLog?: boolean;
}

export interface GuestWrite {
  /** Byte value 0..255 written everywhere in the range. */
  pattern: number;
  offset: number;
  length: number;
}

/** A node from query-named-block-nodes that carries dirty bitmaps. */
export interface LiveBitmapNode {
  nodeName: string;
  /** Block driver of the node: 'qcow2' for the format node that holds the bitmaps. */
  driver: string;
  file: string;
  bitmaps: LiveBitmap[];
}

export interface LiveBitmap {
  name: string;
  /** Dirty bytes. */
  count: number;
  granularity: number;
  persistent: boolean;
  recording: boolean;
  busy: boolean;
}

/** A persistent bitmap as `qemu-img info` sees it in the image file. */
export interface ImageBitmap {
  name: string;
  granularity: number;
  /** 'auto' (enabled) and/or 'in-use' (a QEMU has it open, or crashed with it open). */
  flags: string[];
}

interface Registered {
  name: string;
  /** What virsh is given: the UUID, or the name for a tracked domain whose UUID is unknown. */
  arg: string;
  /** Files to delete on removal. */
  files: string[];
  /** The domain's own directory, deleted with its contents (only if this module created it). */
  ownDir: string | undefined;
  /** Parent directories to remove once empty, deepest first. */
  pruneDirs: string[];
}

const registry = new Map<string, Registered>();

// ---------------------------------------------------------------------------------------------
// Host

/** 'kvm' when QEMU (user libvirt-qemu) can open /dev/kvm, otherwise 'qemu' (TCG). */
export function hostDomainType(): 'kvm' | 'qemu' {
  let st: fs.Stats;
  try {
    st = fs.statSync('/dev/kvm');
  } catch {
    return 'qemu';
  }
  if (!st.isCharacterDevice()) return 'qemu';
  // Root can always open it; the question is whether QEMU's user can.
  const user = lookupUser('libvirt-qemu');
  const rw = 0o6;
  const mode = st.mode & 0o777;
  if ((mode & rw) === rw) return 'kvm';
  if (user === undefined) return (mode & (rw << 3)) === rw << 3 ? 'kvm' : 'qemu';
  if (st.uid === user.uid && (mode & (rw << 6)) === rw << 6) return 'kvm';
  if (user.gids.includes(st.gid) && (mode & (rw << 3)) === rw << 3) return 'kvm';
  return 'qemu';
}

function lookupUser(name: string): { uid: number; gids: number[] } | undefined {
  try {
    const pw = fs
      .readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => f[0] === name);
    if (!pw) return undefined;
    const gids = [Number(pw[3])];
    for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 4 && (f[3] ?? '').split(',').includes(name)) gids.push(Number(f[2]));
    }
    return { uid: Number(pw[2]), gids };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Tools

/** Run virsh against qemu:///system; returns stdout. */
export async function virsh(argv: readonly string[], options?: RunOptions): Promise<string> {
  const result = await runner.run('virsh', ['-c', LIBVIRT_URI, ...argv], options);
  return result.stdout;
}

async function qemuImg(argv: readonly string[], options?: RunOptions) {
  return runner.run('qemu-img', argv, options);
}

/** The argument that names this domain to virsh: the UUID when known (never ambiguous). */
function domainArg(ref: DomainRef): string {
  if (typeof ref === 'string') return ref;
  return ref.uuid ?? ref.name;
}

function domainLabel(ref: DomainRef): string {
  return typeof ref === 'string' ? ref : ref.name;
}

// ---------------------------------------------------------------------------------------------
// Create

/** Define (and optionally start) a throwaway domain with qcow2 virtio disks; registered for cleanupAll(). */
export async function createTestDomain(options: CreateTestDomainOptions = {}): Promise<TestDomain> {
  const name = options.name ?? `${TEST_DOMAIN_PREFIX}${randomHex(4)}`;
  if (name.includes('/')) throw usageError(`test domain name must not contain '/': ${JSON.stringify(name)}`);
  // Leftover cleanup finds test domains by this prefix: a name without it could outlive a crash.
  if (!name.startsWith(TEST_DOMAIN_PREFIX)) throw usageError(`test domain names start with ${TEST_DOMAIN_PREFIX}: ${JSON.stringify(name)}`);
  const diskSpecs = options.disks ?? [{ target: 'vda', sizeMiB: 64 }];
  const targets = new Set<string>();
  for (const d of diskSpecs) {
    if (!/^vd[a-z]+$/.test(d.target)) throw usageError(`test disks are virtio: target must be vd<letters>, got ${d.target}`);
    if (targets.has(d.target)) throw usageError(`duplicate disk target ${d.target}`);
    targets.add(d.target);
    if (!Number.isInteger(d.sizeMiB) || d.sizeMiB <= 0) throw usageError(`disk ${d.target}: sizeMiB must be a positive integer`);
    if (d.fileName !== undefined && (d.fileName.includes('/') || d.fileName === '' || d.fileName === '.' || d.fileName === '..')) {
      throw usageError(`disk ${d.target}: fileName must be a plain file name, got ${JSON.stringify(d.fileName)}`);
    }
  }

  const { uuid, dir, entry } = reserveEntry(name, options.dir);

  const disks: TestDisk[] = [];
  for (const spec of diskSpecs) {
    const file = path.join(dir, spec.fileName ?? `${spec.target}.${spec.format ?? 'qcow2'}`);
    if (fs.existsSync(file)) throw usageError(`disk image already exists: ${file}`);
    entry.files.push(file);
    const format = spec.format ?? 'qcow2';
    await qemuImg(['create', '-q', '-f', format, file, `${spec.sizeMiB}M`]);
    disks.push({ target: spec.target, path: file, alias: defaultDiskAlias(spec.target), format, sizeMiB: spec.sizeMiB });
  }

  const serialLog = options.serialLog ? path.join(dir, 'serial.log') : undefined;
  if (serialLog) entry.files.push(serialLog);
  const xml = buildDomainXml({ name, uuid, type: hostDomainType(), disks, serialLog });
  await defineDomainXml(xml);

  const domain: TestDomain = { name, uuid, disks, dir };
  if (options.start) {
    await startDomain(domain);
    // libvirt picks the aliases at start; take what it chose rather than trusting our guess.
    const live = await readDomainDisks(domain, { inactive: false });
    for (const d of disks) {
      const alias = live.find((l) => l.target === d.target)?.alias;
      if (alias) d.alias = alias;
    }
  }
  return domain;
}

function reserveEntry(name: string, requestedDir: string | undefined): { uuid: string; dir: string; entry: Registered } {
  const uuid = randomUUID();
  const entry: Registered = { name, arg: uuid, files: [], ownDir: undefined, pruneDirs: [] };
  // Register before touching anything, so a failure halfway is still cleaned up.
  registry.set(uuid, entry);

  const ownerDir = path.join(TEST_ROOT, ownerDirName());
  const dir = path.resolve(requestedDir ?? path.join(ownerDir, `${slug(name)}-${randomHex(3)}`));
  const created = ensureTraversableDir(dir);
  entry.ownDir = created.includes(dir) ? dir : undefined;
  entry.pruneDirs = requestedDir === undefined ? [ownerDir, TEST_ROOT] : created.filter((d) => d !== dir).reverse();
  return { uuid, dir, entry };
}

/**
 * For helpers that write their own domain XML (the booting guest): a UUID and a fresh directory
 * QEMU can traverse for a new test domain named `name`, registered for cleanupAll() before
 * anything exists, so a failure halfway is still cleaned up. Put ownerMetadataXml() in its XML.
 */
export function reserveTestDomain(name: string): { uuid: string; dir: string } {
  if (name.includes('/')) throw usageError(`test domain name must not contain '/': ${JSON.stringify(name)}`);
  if (!name.startsWith(TEST_DOMAIN_PREFIX)) throw usageError(`test domain names start with ${TEST_DOMAIN_PREFIX}: ${JSON.stringify(name)}`);
  const { uuid, dir } = reserveEntry(name, undefined);
  return { uuid, dir };
}

/** The `<metadata>` child that marks this process as a test domain's owner (see removeLeftoverTestDomains). */
export function ownerMetadataXml(): string {
  const owner = currentOwner();
  return `<owner:owner xmlns:owner='${OWNER_NS}' pid='${owner.pid}' start='${owner.start}'/>`;
}

/** A name for a new test domain: `vmkeep-test-<label>-<random>`. */
export function newTestDomainName(label: string): string {
  return `${TEST_DOMAIN_PREFIX}${label}-${randomHex(4)}`;
}

/** `virsh define` of domain XML given as text (through a private temp file, removed after). */
export async function defineDomainXml(xml: string): Promise<void> {
  const xmlDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkeep-test-xml-'));
  try {
    const xmlFile = path.join(xmlDir, 'domain.xml');
    fs.writeFileSync(xmlFile, xml);
    await virsh(['define', xmlFile]);
  } finally {
    fs.rmSync(xmlDir, { recursive: true, force: true });
  }
}

/**
 * Register a domain made some other way (e.g. by a vmkeep restore) for cleanupAll(), with the
 * files and the directory (deleted with its contents) that go with it.
 */
export function trackTestDomain(domain: { name: string; uuid?: string }, owned: { files?: string[]; dir?: string } = {}): void {
  registry.set(registryKey(domain), {
    name: domain.name,
    arg: domain.uuid ?? domain.name,
    files: [...(owned.files ?? [])],
    ownDir: owned.dir,
    pruneDirs: [],
  });
}

function registryKey(domain: { name: string; uuid?: string }): string {
  return domain.uuid ?? `name:${domain.name}`;
}

/** libvirt's alias for a virtio disk without a user alias: virtio-disk<index of the target name>. */
export function defaultDiskAlias(target: string): string {
  return `virtio-disk${diskIndex(target)}`;
}

function diskIndex(target: string): number {
  // vda=0 ... vdz=25, vdaa=26: the same bijective base-26 as libvirt's virDiskNameToIndex.
  let n = 0;
  for (const ch of target.replace(/^vd/, '')) n = n * 26 + (ch.charCodeAt(0) - 96);
  return n - 1;
}

function buildDomainXml(d: { name: string; uuid: string; type: 'kvm' | 'qemu'; disks: TestDisk[]; serialLog?: string | undefined }): string {
  const disks = d.disks
    .map(
      (disk) => `    <disk type='file' device='disk'>
      <driver name='qemu' type='${disk.format}'/>
      <source file='${escapeXml(disk.path)}'/>
      <target dev='${disk.target}' bus='virtio'/>
    </disk>`,
    )
    .join('\n');
  // No <graphics>: nothing to display, and no guest OS; the domain idles in firmware.
  return `<domain type='${d.type}'>
  <name>${escapeXml(d.name)}</name>
  <uuid>${d.uuid}</uuid>
  <metadata>
    ${ownerMetadataXml()}
  </metadata>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
  </os>
  <on_crash>destroy</on_crash>
  <devices>
${disks}
    ${d.serialLog ? `<serial type='file'><source path='${escapeXml(d.serialLog)}'/><target port='0'/></serial>` : "<console type='pty'/>"}
  </devices>
</domain>
`;
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function slug(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60);
}

function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/**
 * Create `dir` and its missing parents with mode 0711 (QEMU runs as libvirt-qemu and must
 * traverse to the images, but need not list them). Levels inside TEST_ROOT are forced to 0711;
 * existing levels elsewhere must already be traversable. Returns the directories it created.
 */
function ensureTraversableDir(dir: string): string[] {
  const abs = path.resolve(dir);
  const created: string[] = [];
  let current = path.parse(abs).root;
  for (const part of abs.slice(current.length).split(path.sep).filter(Boolean)) {
    current = path.join(current, part);
    const inTestRoot = current === TEST_ROOT || current.startsWith(`${TEST_ROOT}/`);
    if (!fs.existsSync(current)) {
      fs.mkdirSync(current);
      created.push(current);
      fs.chmodSync(current, 0o711); // mkdir's mode is cut by the umask
    } else if (inTestRoot) {
      fs.chmodSync(current, 0o711);
    } else if ((fs.statSync(current).mode & 0o001) === 0) {
      throw new VmkeepError('failure', `${current} is not traversable by QEMU (others lack x); use a directory under ${TEST_ROOT}`);
    }
  }
  return created;
}

// ---------------------------------------------------------------------------------------------
// Owners (so one test run's cleanup leaves another live run alone)

interface Owner {
  pid: number;
  start: string;
}

function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime) counted after the ")" that ends the command name.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function currentOwner(): Owner {
  return { pid: process.pid, start: processStart(process.pid) ?? '0' };
}

function ownerDirName(): string {
  const o = currentOwner();
  return `${o.pid}-${o.start}`;
}

/** Is the owner another process that still runs? (This process's own domains count as leftovers.) */
function ownerIsOtherLiveProcess(owner: Owner | undefined): boolean {
  if (!owner || owner.pid === process.pid) return false;
  return processStart(owner.pid) === owner.start;
}

// ---------------------------------------------------------------------------------------------
// Domain state and XML

const xmlParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseAttributeValue: false,
  parseTagValue: false,
  processEntities: true,
  removeNSPrefix: false,
  isArray: (_name, jpath) => jpath === 'domain.devices.disk',
});

type XmlNode = Record<string, unknown>;

function node(value: unknown): XmlNode | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as XmlNode) : undefined;
}

function attrOf(value: unknown, name: string): string | undefined {
  const v = node(value)?.[`@${name}`];
  return v === undefined ? undefined : String(v);
}

interface DomainDiskInfo {
  target: string;
  bus: string | undefined;
  device: string;
  path: string | undefined;
  format: string | undefined;
  alias: string | undefined;
}

async function readDomainDisks(ref: DomainRef, opts: { inactive: boolean }): Promise<DomainDiskInfo[]> {
  const argv = ['dumpxml', domainArg(ref)];
  if (opts.inactive) argv.push('--inactive');
  const doc = xmlParser.parse(await virsh(argv)) as XmlNode;
  const disks = (node(node(doc.domain)?.devices)?.disk as unknown[] | undefined) ?? [];
  return disks.map((d) => {
    const source = node(node(d)?.source);
    return {
      target: attrOf(node(d)?.target, 'dev') ?? '',
      bus: attrOf(node(d)?.target, 'bus'),
      device: attrOf(d, 'device') ?? 'disk',
      path: attrOf(source, 'file') ?? attrOf(source, 'dev'),
      format: attrOf(node(d)?.driver, 'type'),
      alias: attrOf(node(d)?.alias, 'name'),
    };
  });
}

async function readOwner(uuid: string): Promise<Owner | undefined> {
  const doc = xmlParser.parse(await virsh(['dumpxml', uuid])) as XmlNode;
  const metadata = node(node(doc.domain)?.metadata);
  if (!metadata) return undefined;
  for (const [key, value] of Object.entries(metadata)) {
    if (!key.endsWith(':owner') && key !== 'owner') continue;
    const pid = Number(attrOf(value, 'pid'));
    const start = attrOf(value, 'start');
    if (Number.isInteger(pid) && start !== undefined) return { pid, start };
  }
  return undefined;
}

/** `virsh domstate`: 'running', 'paused', 'shut off', ... */
export async function domainState(domain: DomainRef): Promise<string> {
  return (await virsh(['domstate', domainArg(domain)])).trim();
}

/** Start a defined domain. */
export async function startDomain(domain: DomainRef, opts: { paused?: boolean } = {}): Promise<void> {
  await virsh(['start', domainArg(domain), ...(opts.paused ? ['--paused'] : [])]);
}

/** Stop the domain hard (virsh destroy) if it runs; a shut-off domain is left as it is. */
export async function destroyDomain(domain: DomainRef): Promise<void> {
  try {
    await virsh(['destroy', domainArg(domain)]);
  } catch (error) {
    if (error instanceof ToolError && /domain is not running/i.test(error.stderr)) return;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Monitor

/** Run a QMP command through libvirt and return its parsed `return` value. */
export async function qmp<T = unknown>(domain: DomainRef, command: string, args?: Record<string, unknown>): Promise<T> {
  const request = JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args });
  const stdout = await virsh(['qemu-monitor-command', domainArg(domain), request]);
  let reply: { return?: T; error?: { class?: string; desc?: string } };
  try {
    reply = JSON.parse(stdout) as typeof reply;
  } catch (cause) {
    throw new VmkeepError('failure', `QMP ${command} on ${domainLabel(domain)}: reply is not JSON`, { detail: stdout, cause });
  }
  // virsh exits 0 when QEMU answers with an error: the reply itself says so.
  if (reply.error) {
    throw new VmkeepError('failure', `QMP ${command} on ${domainLabel(domain)} failed: ${reply.error.class ?? '?'}: ${reply.error.desc ?? ''}`, {
      detail: stdout,
    });
  }
  return reply.return as T;
}

/** Run an HMP command; any output is an error, because the commands used here print nothing on success. */
async function hmpQuiet(domain: DomainRef, command: string): Promise<void> {
  const stdout = await virsh(['qemu-monitor-command', domainArg(domain), '--hmp', command]);
  if (stdout.trim() !== '') {
    throw new VmkeepError('failure', `HMP "${command}" on ${domainLabel(domain)} failed: ${stdout.trim()}`);
  }
}

/** Nodes that carry dirty bitmaps in the running QEMU (query-named-block-nodes, flat). */
export async function liveBitmaps(domain: DomainRef): Promise<LiveBitmapNode[]> {
  const nodes = await qmp<Array<Record<string, unknown>>>(domain, 'query-named-block-nodes', { flat: true });
  const result: LiveBitmapNode[] = [];
  for (const n of nodes) {
    const bitmaps = (n['dirty-bitmaps'] as Array<Record<string, unknown>> | undefined) ?? [];
    if (bitmaps.length === 0) continue;
    result.push({
      nodeName: String(n['node-name']),
      driver: String(n.drv),
      file: String(n.file),
      bitmaps: bitmaps.map((b) => ({
        name: String(b.name),
        count: Number(b.count),
        granularity: Number(b.granularity),
        persistent: b.persistent === true,
        recording: b.recording === true,
        busy: b.busy === true,
      })),
    });
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Guest data

async function liveDisk(domain: DomainRef, target: string): Promise<DomainDiskInfo & { alias: string; path: string }> {
  const disks = await readDomainDisks(domain, { inactive: false });
  const disk = disks.find((d) => d.target === target);
  if (!disk) throw usageError(`${domainLabel(domain)} has no disk ${target} (has ${disks.map((d) => d.target).join(', ') || 'none'})`);
  if (!disk.alias) throw usageError(`${domainLabel(domain)} is not running: writing guest data needs its QEMU`);
  if (!disk.path) throw usageError(`${domainLabel(domain)} disk ${target} has no file or block source`);
  return disk as DomainDiskInfo & { alias: string; path: string };
}

function qdevPath(disk: DomainDiskInfo & { alias: string }): string {
  // virtio-blk-pci is a PCI proxy: its block backend sits on the inner virtio device.
  return disk.bus === 'virtio' ? `/machine/peripheral/${disk.alias}/virtio-backend` : disk.alias;
}

/** Flush QEMU's caches for one disk so readers of the image file see every write. */
export async function flushGuestDisk(domain: DomainRef, target: string): Promise<void> {
  const disk = await liveDisk(domain, target);
  await hmpQuiet(domain, `qemu-io -d ${qdevPath(disk)} "flush"`);
}

/**
 * Write `pattern` over [offset, offset+length) through the guest's device (chunks of at most
 * 64 MiB), flush, then read the range back from the image file to prove it landed.
 *
 * qemu-io run from HMP prints its results ("wrote ...", "write failed: ...") to QEMU's stdout,
 * which libvirt sends to the domain log, not to the monitor reply: the reply only shows monitor
 * errors such as an unknown device. Hence the read-back, done by a separate qemu-io process.
 */
export async function writeGuestData(domain: DomainRef, target: string, write: GuestWrite): Promise<void> {
  const { pattern, offset, length } = write;
  if (!Number.isInteger(pattern) || pattern < 0 || pattern > 255) throw usageError(`pattern must be a byte (0..255), got ${pattern}`);
  if (!Number.isSafeInteger(offset) || offset < 0) throw usageError(`offset must be a non-negative integer, got ${offset}`);
  if (!Number.isSafeInteger(length) || length <= 0) throw usageError(`length must be a positive integer, got ${length}`);
  const disk = await liveDisk(domain, target);
  const capacity = await diskCapacity(domain, target);
  if (offset + length > capacity) {
    throw usageError(`write of ${length} bytes at ${offset} ends past the end of ${target} (${capacity} bytes)`);
  }
  const hex = `0x${pattern.toString(16).padStart(2, '0')}`;
  const device = qdevPath(disk);
  const logStart = logSize(domain);
  const reads: string[] = [];
  for (let at = offset; at < offset + length; at += WRITE_CHUNK_BYTES) {
    const n = Math.min(WRITE_CHUNK_BYTES, offset + length - at);
    await hmpQuiet(domain, `qemu-io -d ${device} "write -P ${hex} ${at} ${n}"`);
    reads.push('-c', `read -P ${hex} ${at} ${n}`);
  }
  await hmpQuiet(domain, `qemu-io -d ${device} "flush"`);

  const check = await runner.run('qemu-io', ['-U', '-r', '-f', disk.format ?? 'qcow2', ...reads, disk.path], { okExitCodes: [1] });
  if (check.exitCode !== 0 || /failed|error/i.test(check.stdout)) {
    throw new VmkeepError('failure', `guest write to ${domainLabel(domain)} ${target} did not land (${length} bytes of ${hex} at ${offset})`, {
      detail: `read-back:\n${check.stdout}${check.stderr}\nQEMU log since the write:\n${logSince(domain, logStart)}`,
    });
  }
}

async function diskCapacity(domain: DomainRef, target: string): Promise<number> {
  const out = await virsh(['domblkinfo', domainArg(domain), target]);
  const m = /^Capacity:\s+(\d+)\s*$/m.exec(out);
  if (!m) throw new VmkeepError('failure', `cannot read the capacity of ${target} from virsh domblkinfo`, { detail: out });
  return Number(m[1]);
}

function logPath(domain: DomainRef): string {
  return path.join(QEMU_LOG_DIR, `${domainLabel(domain)}.log`);
}

function logSize(domain: DomainRef): number {
  try {
    return fs.statSync(logPath(domain)).size;
  } catch {
    return 0;
  }
}

function logSince(domain: DomainRef, start: number): string {
  try {
    const text = fs.readFileSync(logPath(domain), 'utf8');
    // virtlogd may have rotated the file meanwhile: then show its tail.
    return text.length >= start ? text.slice(start) : text.slice(-4000);
  } catch {
    return '(no QEMU log)';
  }
}

// ---------------------------------------------------------------------------------------------
// Pace

/**
 * Slow what QEMU reads from the domain's disks (`virsh blkiotune`, the domain's blkio cgroup) to
 * `bytesPerSec`, or lift the limit with 0; writes are not limited. The host's page cache of the
 * disk images is dropped first, so the reads reach the device the limit applies to. With KVM,
 * QEMU copies tens of MiB in tens of milliseconds (a push job, or the NBD reads of
 * virtnbdbackup): a test that must act while a backup copies slows the copy instead of racing it.
 *
 * A running QEMU's limit goes with it. `persistent` sets it in the definition too, for a QEMU
 * that starts later (vmkeep starts a shut-off domain paused for its backup, --stop-force starts
 * it again); lift it the same way. A shut-off domain has no running limit to set or lift.
 */
export async function throttleDiskReads(domain: TestDomain, bytesPerSec: number, opts: { persistent?: boolean } = {}): Promise<void> {
  if (!Number.isSafeInteger(bytesPerSec) || bytesPerSec < 0) throw usageError(`bytesPerSec must be a non-negative integer, got ${bytesPerSec}`);
  if (bytesPerSec > 0) {
    // Drops these files' clean pages only (the guest's data was flushed), not the whole host's.
    for (const d of domain.disks) await runner.run('dd', ['if=/dev/null', `of=${d.path}`, 'oflag=nocache', 'conv=notrunc,fdatasync', 'count=0']);
  }
  const scope = [...((await domainState(domain)) === 'shut off' ? [] : ['--live']), ...(opts.persistent ? ['--config'] : [])];
  if (scope.length === 0) return;
  for (const device of new Set(domain.disks.map((d) => blockDeviceOf(d.path)))) {
    await virsh(['blkiotune', domain.uuid, ...scope, '--device-read-bytes-sec', `${device},${bytesPerSec}`]);
  }
}

/** `act` with the domain's disk reads paced at `bytesPerSec` (throttleDiskReads); the limit is lifted when it ends, however it ends. */
export async function withPacedDiskReads<T>(domain: TestDomain, bytesPerSec: number, act: () => Promise<T>, opts: { persistent?: boolean } = {}): Promise<T> {
  await throttleDiskReads(domain, bytesPerSec, opts);
  try {
    return await act();
  } finally {
    await throttleDiskReads(domain, 0, opts);
  }
}

/** The whole-disk block device holding a file (the cgroup's limits apply to disks, not partitions). */
function blockDeviceOf(file: string): string {
  const dev = fs.statSync(file).dev;
  const id = `${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}`;
  const sys = fs.realpathSync(`/sys/dev/block/${id}`, { encoding: 'utf8' });
  const diskDir = fs.existsSync(path.join(sys, 'partition')) ? path.dirname(sys) : sys;
  const device = `/dev/${path.basename(diskDir)}`;
  if (!fs.existsSync(device)) throw new VmkeepError('failure', `${file} is on block device ${id}, which has no node under /dev`);
  return device;
}

// ---------------------------------------------------------------------------------------------
// Images

/** Copy a disk as it is now (flushed first if the domain runs) into a reference image. */
export async function referenceCopy(domain: DomainRef, target: string, destPath: string, format: 'qcow2' | 'raw' = 'qcow2'): Promise<void> {
  const running = (await domainState(domain)) !== 'shut off';
  const disks = await readDomainDisks(domain, { inactive: !running });
  const disk = disks.find((d) => d.target === target);
  if (!disk?.path) throw usageError(`${domainLabel(domain)} has no disk ${target} with a file source`);
  if (running) await flushGuestDisk(domain, target);
  const argv = ['convert', '-U', ...(disk.format ? ['-f', disk.format] : []), '-O', format, disk.path, destPath];
  await qemuImg(argv, { timeoutMs: 600_000 });
}

/** Do two images hold the same guest-visible bytes? (`qemu-img compare -U`: 0 same, 1 differ.) */
export async function imagesIdentical(a: string, b: string, opts: { strict?: boolean } = {}): Promise<boolean> {
  const argv = ['compare', '-U', ...(opts.strict ? ['-s'] : []), a, b];
  const result = await qemuImg(argv, { okExitCodes: [1], timeoutMs: 600_000 });
  return result.exitCode === 0;
}

/** The persistent bitmaps stored in an image file (`qemu-img info --output=json -U`). */
export async function shutoffBitmaps(imagePath: string): Promise<ImageBitmap[]> {
  const { stdout } = await qemuImg(['info', '--output=json', '-U', imagePath]);
  const info = JSON.parse(stdout) as { 'format-specific'?: { data?: { bitmaps?: Array<Record<string, unknown>> } } };
  return (info['format-specific']?.data?.bitmaps ?? []).map((b) => ({
    name: String(b.name),
    granularity: Number(b.granularity),
    flags: Array.isArray(b.flags) ? b.flags.map(String) : [],
  }));
}

// ---------------------------------------------------------------------------------------------
// Remove

/** Destroy (if running), undefine with all metadata, and delete the domain's files. */
export async function removeTestDomain(domain: TestDomain | { name: string; uuid?: string }): Promise<void> {
  const key = registryKey(domain);
  const entry: Registered = registry.get(key) ?? {
    name: domain.name,
    arg: domain.uuid ?? domain.name,
    files: [],
    ownDir: undefined,
    pruneDirs: [],
  };
  if ('disks' in domain) {
    for (const d of domain.disks) if (!entry.files.includes(d.path)) entry.files.push(d.path);
  }
  await removeEntry(entry);
  registry.delete(key);
}

async function removeEntry(entry: Registered): Promise<void> {
  await removeDomainByArg(entry.arg);
  for (const f of entry.files) fs.rmSync(f, { force: true });
  // The domain's own directory goes with whatever a test left in it; parents only when empty.
  if (entry.ownDir) fs.rmSync(entry.ownDir, { recursive: true, force: true });
  for (const d of entry.pruneDirs) {
    try {
      fs.rmdirSync(d);
    } catch {
      // not empty (another domain still lives there) or already gone
    }
  }
}

async function removeDomainByArg(arg: string): Promise<void> {
  if (!(await domainExists(arg))) return;
  await destroyDomain(arg);
  // A transient domain vanishes on destroy; a persistent one is undefined with its metadata.
  if (!(await domainExists(arg))) return;
  try {
    await virsh(['undefine', arg, '--checkpoints-metadata', '--snapshots-metadata', '--nvram']);
  } catch (e) {
    // Another test run on this host removed the same leftover between the look and the undefine.
    if (await domainExists(arg)) throw e;
  }
}

async function domainExists(arg: string): Promise<boolean> {
  // Not `domuuid`/`domname`: each accepts only some of ID, UUID and name; dominfo takes all three.
  const result = await runner.run('virsh', ['-c', LIBVIRT_URI, 'dominfo', arg], { okExitCodes: [1] });
  if (result.exitCode === 0) return true;
  if (/failed to get domain|domain not found/i.test(result.stderr)) return false;
  throw new VmkeepError('failure', `cannot tell whether domain ${arg} exists: ${result.stderr.trim()}`);
}

/** Remove every domain this process registered (for afterEach/afterAll); throws after trying all. */
export async function cleanupAll(): Promise<void> {
  const failures: string[] = [];
  for (const [key, entry] of [...registry.entries()]) {
    try {
      await removeEntry(entry);
      registry.delete(key);
    } catch (error) {
      failures.push(`${entry.name}: ${messageOf(error)}`);
    }
  }
  if (failures.length > 0) {
    throw new VmkeepError('failure', `cleanup failed for ${failures.length} test domain(s)`, { detail: failures.join('\n') });
  }
}

export interface LeftoverReport {
  removedDomains: string[];
  /** Domains kept because another live process (a concurrent test run) owns them. */
  keptDomains: string[];
  removedDirs: string[];
}

/**
 * Remove test domains (`vmkeep-test-*`) and directories under /var/tmp/vmkeep-tests left by
 * earlier runs, for a vitest globalSetup. Domains and directories owned by another process that
 * still runs (a concurrent test run on this shared libvirtd) are left alone.
 */
export async function removeLeftoverTestDomains(): Promise<LeftoverReport> {
  const report: LeftoverReport = { removedDomains: [], keptDomains: [], removedDirs: [] };
  for (const { uuid, name } of await listDomains()) {
    if (!name.startsWith(TEST_DOMAIN_PREFIX)) continue;
    let owner: Owner | undefined;
    try {
      owner = await readOwner(uuid);
    } catch {
      continue; // vanished meanwhile
    }
    if (ownerIsOtherLiveProcess(owner)) {
      report.keptDomains.push(name);
      continue;
    }
    await removeDomainByArg(uuid);
    report.removedDomains.push(name);
  }
  if (fs.existsSync(TEST_ROOT)) {
    for (const entry of fs.readdirSync(TEST_ROOT)) {
      const m = /^(\d+)-(\d+)$/.exec(entry);
      if (m && ownerIsOtherLiveProcess({ pid: Number(m[1]), start: m[2]! })) continue;
      const dir = path.join(TEST_ROOT, entry);
      // A run killed mid-mount leaves filesystems (and FUSE exports) mounted inside its folder:
      // unmount them first, or removing the folder fails with EBUSY and takes this run down too.
      await unmountBelow(dir);
      try {
        fs.rmSync(dir, { recursive: true, force: true });
        report.removedDirs.push(dir);
      } catch (e) {
        console.warn(`[vmkeep cleanup] could not remove ${dir}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (fs.readdirSync(TEST_ROOT).length === 0) fs.rmdirSync(TEST_ROOT);
  }
  return report;
}

/** Unmount every mount point at or below `dir`, deepest first (lazily: a busy one still goes). */
async function unmountBelow(dir: string): Promise<void> {
  // /proc/mounts escapes spaces and such as octal (\040); test folders hold none, but decode anyway.
  const decode = (p: string) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const points = fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => decode(l.split(' ')[1] ?? ''))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await runner.run('umount', ['-l', p], { okExitCodes: [0, 32] });
}

async function listDomains(): Promise<Array<{ uuid: string; name: string }>> {
  // "--uuid --name" prints "<uuid> <name>"; the name may itself contain spaces.
  const out = await virsh(['list', '--all', '--uuid', '--name']);
  const domains: Array<{ uuid: string; name: string }> = [];
  for (const line of out.split('\n')) {
    const m = /^([0-9a-f-]{36}) (.*)$/.exec(line);
    if (m) domains.push({ uuid: m[1]!, name: m[2]! });
  }
  return domains;
}
