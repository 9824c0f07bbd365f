/** Parse `virsh checkpoint-dumpxml` output into a Checkpoint. */
import { VmkeepError } from '../errors.js';
import type { Checkpoint } from './types.js';
import { attr, child, children, parseXml, textOf } from '../util/xml.js';

/** Checkpoint XML → typed record. Sizes appear only when dumped with `--size`. */
export function parseCheckpointXml(xml: string): Checkpoint {
  const doc = parseXml(xml, 'checkpoint XML from libvirt');
  const cp = child(doc, 'domaincheckpoint');
  if (!cp) throw new VmkeepError('failure', 'not a libvirt checkpoint XML document (no <domaincheckpoint>)');
  const name = textOf(cp['name']);
  if (!name) throw new VmkeepError('failure', 'checkpoint XML has no <name>');
  const created = textOf(cp['creationTime']);
  const parent = child(cp, 'parent');
  return {
    name,
    creationTime: created && /^\d+$/.test(created) ? new Date(Number(created) * 1000) : undefined,
    parent: parent ? textOf(parent['name']) : undefined,
    disks: children(child(cp, 'disks'), 'disk').map((d) => {
      const size = attr(d, 'size');
      return {
        name: attr(d, 'name') ?? '',
        checkpoint: attr(d, 'checkpoint') ?? 'bitmap',
        bitmap: attr(d, 'bitmap'),
        size: size !== undefined && /^\d+$/.test(size) ? Number(size) : undefined,
      };
    }),
  };
}
