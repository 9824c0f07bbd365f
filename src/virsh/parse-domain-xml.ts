/** Parse `virsh dumpxml` output into a DomainDefinition. */
import { VmkeepError } from '../errors.js';
import type { DiskSourceType, DomainDefinition, DomainDisk } from './types.js';
import { attr, child, children, hasChild, parseXml, textOf } from '../util/xml.js';
import { tagsFromMetadata } from './tags-xml.js';

/** The guest agent's virtio-serial port name: the channel libvirt talks to the agent through. */
export const AGENT_CHANNEL_NAME = 'org.qemu.guest_agent.0';

const SOURCE_TYPES: readonly DiskSourceType[] = ['file', 'block', 'network', 'volume', 'dir', 'nvme', 'vhostuser'];

/** Domain XML → typed record; throws a VmkeepError when it is not a domain document. */
export function parseDomainXml(xml: string): DomainDefinition {
  const doc = parseXml(xml, 'domain XML from libvirt');
  const domain = child(doc, 'domain');
  if (!domain) throw new VmkeepError('failure', 'not a libvirt domain XML document (no <domain> element)');
  const name = textOf(domain['name']);
  if (!name) throw new VmkeepError('failure', 'domain XML has no <name>');
  const devices = child(domain, 'devices');
  return {
    name,
    uuid: textOf(domain['uuid']),
    type: attr(domain, 'type'),
    disks: children(devices, 'disk').map(parseDisk),
    guestAgentChannel: children(devices, 'channel').some((c) => {
      const target = child(c, 'target');
      return attr(target, 'type') === 'virtio' && attr(target, 'name') === AGENT_CHANNEL_NAME;
    }),
    id: attr(domain, 'id'),
    tags: tagsFromMetadata(domain['metadata']),
  };
}

function parseDisk(disk: Record<string, unknown>): DomainDisk {
  const type = attr(disk, 'type') ?? 'file';
  const sourceType = (SOURCE_TYPES as readonly string[]).includes(type) ? (type as DiskSourceType) : 'other';
  const source = child(disk, 'source');
  const path = attr(source, 'file') ?? attr(source, 'dev') ?? attr(source, 'dir');
  return {
    target: attr(child(disk, 'target'), 'dev') ?? '',
    device: attr(disk, 'device') ?? 'disk',
    sourceType,
    path: sourceType === 'network' ? undefined : path,
    protocol: attr(source, 'protocol'),
    format: attr(child(disk, 'driver'), 'type'),
    bus: attr(child(disk, 'target'), 'bus'),
    readonly: hasChild(disk, 'readonly'),
    shareable: hasChild(disk, 'shareable'),
    transient: hasChild(disk, 'transient'),
    alias: attr(child(disk, 'alias'), 'name'),
  };
}
