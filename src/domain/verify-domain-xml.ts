/**
 * The definition of a verify domain (`verify --boot`), made from the domain XML saved with a
 * restore point. The verify domain boots the point's disks in isolation, beside the running
 * original, so everything that could reach the outside or the original is taken out:
 * - a new name and UUID, and vmkeep's verify metadata (where its scratch files are, which run
 *   made it) instead of the original's metadata (tags would make it part of a tagged backup);
 * - every disk of the point points at its overlay or scratch image; every other writable disk is
 *   removed and removable media lose their source (the original's images are never opened);
 * - no network interfaces, host devices (PCI/USB passthrough), shared filesystems, USB
 *   redirection, smartcards, TPMs or shared memory;
 * - graphics listen on 127.0.0.1 only, on a port libvirt picks; the serial console writes to a
 *   file vmkeep reads; file-backed or socket channels other than the guest agent go;
 * - memory and vCPUs of the original, capped; CPU pinning and NUMA tuning go (they name host CPUs);
 * - NVRAM goes: libvirt makes a fresh variables file from the template, removed at undefine;
 * - the domain type is the caller's (`kvm` only where the host can boot a guest with it); under
 *   `qemu` a host CPU model (host-passthrough, host-model) goes, TCG cannot give it.
 * Autostart is not part of a definition: a verify domain is defined without it and never marked.
 */
import { attrOf, buildOrderedXml, kids, parseOrderedXml, removeAll, textOf, type XmlNode } from '../util/ordered-xml.js';
import { VmkeepError } from '../errors.js';
import { AGENT_CHANNEL_NAME } from '../virsh/parse-domain-xml.js';

/** The XML namespace of a verify domain's metadata. */
export const VERIFY_NAMESPACE = 'https://vmkeep.dev/xmlns/verify/1';
/** Every verify domain's name starts so; nothing else vmkeep makes does. */
export const VERIFY_DOMAIN_PREFIX = 'vmkeep-verify-';

/** Devices a verify domain never has: they reach the network, the host's hardware or its files. */
const REMOVED_DEVICES = ['interface', 'hostdev', 'filesystem', 'redirdev', 'smartcard', 'tpm', 'shmem', 'parallel', 'serial', 'console'] as const;

export interface VerifyImage {
  path: string;
  format: 'qcow2' | 'raw';
}

export interface VerifyDomainSpec {
  name: string;
  uuid: string;
  /** Disk target → the image the verify domain boots from (an overlay or a scratch restore). */
  images: ReadonlyMap<string, VerifyImage>;
  /** The file the serial console writes. */
  serialLog: string;
  domainType: 'kvm' | 'qemu';
  /** Memory cap in KiB (the original's memory when smaller). */
  maxMemoryKiB: number;
  /** vCPU cap (the original's count when smaller). */
  maxVcpus: number;
  /** Written into the metadata, so a later run can find and remove what a killed run left. */
  owner: { scratch: string; pid: number; host: string; source: string; point: string };
}

export interface VerifyDomainXml {
  xml: string;
  /** The saved definition has the guest agent's channel (kept). */
  agentChannel: boolean;
  memoryKiB: number;
  vcpus: number;
  /** What was taken out or changed, in words (`--json` details and --verbose). */
  changes: string[];
}

const UNIT_KIB: Record<string, number> = {
  b: 1 / 1024,
  bytes: 1 / 1024,
  k: 1,
  kib: 1,
  kb: 1000 / 1024,
  m: 1024,
  mib: 1024,
  mb: 1e6 / 1024,
  g: 1024 ** 2,
  gib: 1024 ** 2,
  gb: 1e9 / 1024,
  t: 1024 ** 3,
  tib: 1024 ** 3,
  tb: 1e12 / 1024,
};

/** The memory a saved domain XML gives the domain, in KiB; undefined when it names none. */
export function readMemoryKiB(savedXml: string): number | undefined {
  const doc = parseOrderedXml(savedXml);
  const root = doc.find((n) => 'domain' in n);
  const node = root ? kids(root, 'domain').find((n) => 'memory' in n) : undefined;
  if (!node) return undefined;
  const kib = Math.round(Number(textOf(node['memory'])) * (UNIT_KIB[(attrOf(node, 'unit') ?? 'KiB').toLowerCase()] ?? 1));
  return Number.isFinite(kib) && kib > 0 ? kib : undefined;
}

/** The verify domain's definition from a saved domain XML (pure). */
export function buildVerifyDomainXml(savedXml: string, spec: VerifyDomainSpec): VerifyDomainXml {
  let doc: XmlNode[];
  try {
    doc = parseOrderedXml(savedXml);
  } catch (e) {
    throw new VmkeepError('failure', `the saved domain XML cannot be read: ${(e as Error).message}`);
  }
  const root = doc.find((n) => 'domain' in n);
  if (!root) throw new VmkeepError('failure', 'the saved domain XML has no <domain> element');
  const domain = kids(root, 'domain');
  const changes: string[] = [];
  const attrs = (root[':@'] ??= {}) as Record<string, string>;
  delete attrs['@id'];
  if (attrs['@type'] !== spec.domainType) changes.push(`domain type ${attrs['@type'] ?? '?'} → ${spec.domainType}`);
  attrs['@type'] = spec.domainType;

  setText(domain, 'name', spec.name);
  setText(domain, 'uuid', spec.uuid);
  removeAll(domain, (n) => 'metadata' in n);
  domain.splice(indexAfter(domain, ['uuid', 'name']), 0, { metadata: [ownerMetadata(spec)] });

  const memoryKiB = capMemory(domain, spec.maxMemoryKiB, changes);
  const vcpus = capVcpus(domain, spec.maxVcpus, changes);
  for (const tag of ['cputune', 'numatune', 'iothreadids', 'resource']) {
    if (removeAll(domain, (n) => tag in n) > 0) changes.push(`<${tag}> removed (it names host resources)`);
  }
  if (spec.domainType === 'qemu') {
    const cpu = domain.find((n) => 'cpu' in n);
    const mode = attrOf(cpu, 'mode');
    if (cpu && (mode === 'host-passthrough' || mode === 'host-model' || mode === 'maximum')) {
      removeAll(domain, (n) => n === cpu);
      changes.push(`CPU mode ${mode} removed (domain type qemu emulates its own CPU)`);
    }
  }
  const os = domain.find((n) => 'os' in n);
  if (os && removeAll(kids(os, 'os'), (n) => 'nvram' in n) > 0) changes.push('NVRAM: a fresh one from the template (removed with the domain)');
  setText(domain, 'on_crash', 'destroy');
  setText(domain, 'on_reboot', 'restart');

  const devicesNode = domain.find((n) => 'devices' in n);
  if (!devicesNode) throw new VmkeepError('failure', 'the saved domain XML has no <devices> element');
  const devices = kids(devicesNode, 'devices');
  rewriteDisks(devices, spec.images, changes);
  for (const tag of REMOVED_DEVICES) {
    const n = removeAll(devices, (d) => tag in d);
    if (n > 0 && tag !== 'serial' && tag !== 'console') changes.push(`${n} <${tag}> removed`);
  }
  let agentChannel = false;
  const droppedChannels = removeAll(devices, (d) => {
    if (!('channel' in d)) return false;
    const target = kids(d, 'channel').find((c) => 'target' in c);
    if (attrOf(target, 'name') === AGENT_CHANNEL_NAME && attrOf(d, 'type') === 'unix') {
      agentChannel = true;
      // libvirt makes the socket: a path from the original would be the original's socket.
      for (const c of kids(d, 'channel')) if ('source' in c) delete (c[':@'] as Record<string, string> | undefined)?.['@path'];
      return false;
    }
    return attrOf(d, 'type') !== 'spicevmc';
  });
  if (droppedChannels > 0) changes.push(`${droppedChannels} channel(s) other than the guest agent's removed`);
  rewriteGraphics(devices, changes);
  const serial: XmlNode = {
    serial: [
      { source: [], ':@': { '@path': spec.serialLog } },
      { target: [], ':@': { '@port': '0' } },
    ],
    ':@': { '@type': 'file' },
  };
  devices.push(serial);
  changes.push(`serial console → ${spec.serialLog}`);

  let xml = buildOrderedXml(doc);
  if (!xml.endsWith('\n')) xml += '\n';
  return { xml, agentChannel, memoryKiB, vcpus, changes };
}

function ownerMetadata(spec: VerifyDomainSpec): XmlNode {
  const field = (tag: string, value: string): XmlNode => ({ [`vmkeep:${tag}`]: [{ '#text': value }] });
  return {
    'vmkeep:verify': [
      field('scratch', spec.owner.scratch),
      field('pid', String(spec.owner.pid)),
      field('host', spec.owner.host),
      field('source', spec.owner.source),
      field('point', spec.owner.point),
    ],
    ':@': { '@xmlns:vmkeep': VERIFY_NAMESPACE },
  };
}

function capMemory(domain: XmlNode[], capKiB: number, changes: string[]): number {
  let result = capKiB;
  for (const tag of ['memory', 'currentMemory']) {
    const node = domain.find((n) => tag in n);
    if (!node) continue;
    const unit = (attrOf(node, 'unit') ?? 'KiB').toLowerCase();
    const kib = Math.round(Number(textOf(node[tag])) * (UNIT_KIB[unit] ?? 1));
    const capped = Number.isFinite(kib) && kib > 0 ? Math.min(kib, capKiB) : capKiB;
    if (tag === 'memory') {
      result = capped;
      if (capped < kib) changes.push(`memory ${kib} KiB capped to ${capped} KiB`);
    }
    node[tag] = [{ '#text': String(tag === 'currentMemory' ? Math.min(capped, result) : capped) }];
    node[':@'] = { '@unit': 'KiB' };
  }
  // Memory hotplug slots and NUMA cells size themselves from the original's memory.
  removeAll(domain, (n) => 'maxMemory' in n);
  const cpu = domain.find((n) => 'cpu' in n);
  if (cpu) removeAll(kids(cpu, 'cpu'), (n) => 'numa' in n);
  return result;
}

function capVcpus(domain: XmlNode[], cap: number, changes: string[]): number {
  const node = domain.find((n) => 'vcpu' in n);
  const count = node ? Number(textOf(node['vcpu'])) : 1;
  const capped = Number.isInteger(count) && count > 0 ? Math.min(count, cap) : 1;
  if (capped < count) changes.push(`vCPUs ${count} capped to ${capped}`);
  if (node) {
    node['vcpu'] = [{ '#text': String(capped) }];
    node[':@'] = { '@placement': 'static' };
  }
  removeAll(domain, (n) => 'vcpus' in n);
  const cpu = domain.find((n) => 'cpu' in n);
  // A fixed topology of the original may not multiply out to the capped count.
  if (cpu && capped < count) removeAll(kids(cpu, 'cpu'), (n) => 'topology' in n);
  return capped;
}

function rewriteDisks(devices: XmlNode[], images: ReadonlyMap<string, VerifyImage>, changes: string[]): void {
  const seen = new Set<string>();
  const removed: string[] = [];
  removeAll(devices, (n) => {
    if (!('disk' in n)) return false;
    const disk = kids(n, 'disk');
    const target = attrOf(
      disk.find((c) => 'target' in c),
      'dev',
    );
    const image = target === undefined ? undefined : images.get(target);
    if (image !== undefined) {
      const attrs = (n[':@'] ??= {}) as Record<string, string>;
      attrs['@type'] = 'file';
      removeAll(disk, (c) => 'source' in c || 'backingStore' in c || 'driver' in c);
      disk.unshift({ driver: [], ':@': { '@name': 'qemu', '@type': image.format } }, { source: [], ':@': { '@file': image.path } });
      seen.add(target!);
      return false;
    }
    const device = attrOf(n, 'device') ?? 'disk';
    if (device === 'cdrom' || device === 'floppy') {
      // The medium is the host's file: the verify domain gets the drive, empty.
      if (removeAll(disk, (c) => 'source' in c) > 0) changes.push(`${device} ${target ?? '?'}: medium removed`);
      return false;
    }
    removed.push(target ?? '?');
    return true;
  });
  const missing = [...images.keys()].filter((t) => !seen.has(t));
  if (missing.length > 0) throw new VmkeepError('failure', `the saved domain XML has no disk ${missing.join(', ')} for the point's image`);
  if (removed.length > 0) changes.push(`disks not in the point removed: ${removed.join(', ')}`);
}

function rewriteGraphics(devices: XmlNode[], changes: string[]): void {
  const dropped = removeAll(devices, (n) => 'graphics' in n && attrOf(n, 'type') !== 'vnc' && attrOf(n, 'type') !== 'spice');
  if (dropped > 0) changes.push(`${dropped} <graphics> other than VNC/SPICE removed`);
  for (const n of devices) {
    if (!('graphics' in n)) continue;
    const attrs = (n[':@'] ??= {}) as Record<string, string>;
    // The original may listen on a fixed port or every address: the verify domain on neither.
    for (const a of ['@port', '@tlsPort', '@websocket', '@listen', '@socket']) delete attrs[a];
    attrs['@autoport'] = 'yes';
    attrs['@listen'] = '127.0.0.1';
    const g = kids(n, 'graphics');
    removeAll(g, (c) => 'listen' in c);
    g.unshift({ listen: [], ':@': { '@type': 'address', '@address': '127.0.0.1' } });
    changes.push(`${attrs['@type']} graphics on 127.0.0.1 only`);
  }
}

function setText(list: XmlNode[], tag: string, value: string): void {
  const node = list.find((n) => tag in n);
  if (node) node[tag] = [{ '#text': value }];
  else list.splice(indexAfter(list, ['name']), 0, { [tag]: [{ '#text': value }] });
}

/** The index just after the first of these elements found (searched in order), else 0. */
function indexAfter(list: XmlNode[], tags: readonly string[]): number {
  for (const tag of tags) {
    const i = list.findIndex((n) => tag in n);
    if (i >= 0) return i + 1;
  }
  return 0;
}
