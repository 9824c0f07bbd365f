/**
 * The domain XML of a restored domain, made by vmkeep from the XML virtnbdbackup saved with the
 * restore point (vmconfig.<checkpoint>.xml). virtnbdrestore 1.9.15 can rewrite it too (`-c`), but
 * it adjusts each disk on a fresh copy of the original, so with several disks only the last one
 * points at its restored image: vmkeep does it itself, on the whole document at once.
 *
 * The document is parsed order-preserving and written back; only these things change:
 * - <name> becomes the new name; <uuid> and the root's runtime `id` go (libvirt makes a new UUID);
 * - each restored disk becomes `type='file'`, its <source file> the restored image, its driver
 *   type qcow2, and loses <backingStore> (the restored image is flat);
 * - writable disks that were not restored are removed (the new domain must never write to the
 *   original domain's disks);
 * - <mac> elements go, so libvirt gives the new domain's interfaces new addresses;
 * - <nvram> is dropped: libvirt makes a fresh variables file from the template rather than the
 *   new domain sharing (and changing) the original domain's. virtnbdbackup keeps a copy of the
 *   original's as `<file>.<checkpoint>` in the chain folder; the notes say so.
 */
import { attrOf, buildOrderedXml, kids, parseOrderedXml, removeAll, textOf, type XmlNode } from '../util/ordered-xml.js';
import { VmkeepError } from '../errors.js';

export interface XmlAdjustment {
  name: string;
  /** Restored disks: target → absolute path of the restored qcow2 image. */
  images: ReadonlyMap<string, string>;
  /** The restore point's checkpoint, to name virtnbdbackup's copy of the nvram file. */
  checkpoint?: string | undefined;
  /**
   * A folder of the new domain's own for file-backed character devices (a serial console or
   * channel of type file, a `<log file>`): without it both domains would write one file, and
   * libvirt refuses to start the second while the first holds it.
   */
  chardevDir?: string | undefined;
}

export interface AdjustedXml {
  xml: string;
  /** Targets of writable disks removed because they were not restored. */
  removedDisks: string[];
  /** MAC addresses removed. */
  removedMacs: string[];
  /** What else changed, in words. */
  notes: string[];
  /** Files the character devices write now (in chardevDir), each once. */
  chardevFiles: string[];
}

/** Rewrite a saved domain XML for a restored domain (pure). */
export function adjustDomainXml(xml: string, adj: XmlAdjustment): AdjustedXml {
  const doc = parseOrderedXml(xml);
  const root = doc.find((n) => 'domain' in n);
  if (!root) throw new VmkeepError('failure', 'saved domain XML has no <domain> element');
  const domain = kids(root, 'domain');
  const notes: string[] = [];

  const attrs = root[':@'] as Record<string, string> | undefined;
  if (attrs && '@id' in attrs) delete attrs['@id'];

  const name = domain.find((n) => 'name' in n);
  if (name) name['name'] = [{ '#text': adj.name }];
  else domain.unshift({ name: [{ '#text': adj.name }] });
  if (removeAll(domain, (n) => 'uuid' in n) > 0) notes.push('uuid removed (libvirt assigns a new one)');

  const os = domain.find((n) => 'os' in n);
  if (os) {
    const osKids = kids(os, 'os');
    const nvram = osKids.find((n) => 'nvram' in n);
    if (nvram) {
      const path = textOf(nvram['nvram']);
      removeAll(osKids, (n) => n === nvram);
      const copy = path && adj.checkpoint ? ` (the backup's copy of ${path} is ${path.split('/').pop()}.${adj.checkpoint} in the chain folder)` : '';
      notes.push(`nvram removed: libvirt makes a fresh one from the template${copy}`);
    }
  }

  const removedDisks: string[] = [];
  const removedMacs: string[] = [];
  const devicesNode = domain.find((n) => 'devices' in n);
  if (devicesNode) {
    const devices = kids(devicesNode, 'devices');
    const seen = new Set<string>();
    removeAll(devices, (n) => {
      if (!('disk' in n)) return false;
      const disk = kids(n, 'disk');
      const target =
        attrOf(
          disk.find((c) => 'target' in c),
          'dev',
        ) ?? '';
      const image = adj.images.get(target);
      if (image !== undefined) {
        rewriteDisk(n, disk, image);
        seen.add(target);
        return false;
      }
      const device = attrOf(n, 'device') ?? 'disk';
      const readonly = disk.some((c) => 'readonly' in c);
      if ((device === 'disk' || device === 'lun') && !readonly) {
        removedDisks.push(target);
        return true;
      }
      return false;
    });
    const missing = [...adj.images.keys()].filter((t) => !seen.has(t));
    if (missing.length > 0) {
      throw new VmkeepError('failure', `saved domain XML has no disk ${missing.join(', ')} to point at the restored image`);
    }
    for (const n of devices) {
      if (!('interface' in n)) continue;
      const iface = kids(n, 'interface');
      const mac = iface.find((c) => 'mac' in c);
      if (mac) removedMacs.push(attrOf(mac, 'address') ?? '');
      removeAll(iface, (c) => 'mac' in c);
    }
  } else if (adj.images.size > 0) {
    throw new VmkeepError('failure', 'saved domain XML has no <devices> element');
  }
  const chardevFiles =
    adj.chardevDir === undefined || !devicesNode ? new Map<string, string>() : moveChardevFiles(kids(devicesNode, 'devices'), adj.chardevDir);
  for (const [from, to] of chardevFiles) notes.push(`character device file ${from} is ${to} for the new domain`);
  if (removedDisks.length > 0) notes.push(`disks not restored removed: ${removedDisks.join(', ')}`);
  if (removedMacs.length > 0) notes.push(`MAC addresses removed: ${removedMacs.join(', ')}`);

  let out = buildOrderedXml(doc);
  if (!out.endsWith('\n')) out += '\n';
  return { xml: out, removedDisks, removedMacs, notes, chardevFiles: [...new Set(chardevFiles.values())] };
}

const CHARDEV_ELEMENTS = ['serial', 'parallel', 'console', 'channel'];

/**
 * Point every file a character device writes (`<source path>` of a type='file' device, `<log
 * file>` of any) into `dir`, keeping the file name. One old path gets one new path: a console
 * that mirrors a serial port keeps sharing its file. Returns old path → new path.
 */
function moveChardevFiles(devices: XmlNode[], dir: string): Map<string, string> {
  const moved = new Map<string, string>();
  const taken = new Set<string>();
  const newPath = (old: string): string => {
    const known = moved.get(old);
    if (known !== undefined) return known;
    const base = old.split('/').pop() || 'chardev.log';
    const dot = base.lastIndexOf('.');
    let name = base;
    for (let n = 2; taken.has(name); n++) name = dot > 0 ? `${base.slice(0, dot)}-${n}${base.slice(dot)}` : `${base}-${n}`;
    taken.add(name);
    const path = `${dir.replace(/\/+$/, '')}/${name}`;
    moved.set(old, path);
    return path;
  };
  for (const n of devices) {
    const tag = CHARDEV_ELEMENTS.find((t) => t in n);
    if (tag === undefined) continue;
    const children = kids(n, tag);
    if (attrOf(n, 'type') === 'file') {
      for (const c of children.filter((c) => 'source' in c)) {
        const old = attrOf(c, 'path');
        if (old) ((c[':@'] ??= {}) as Record<string, string>)['@path'] = newPath(old);
      }
    }
    for (const c of children.filter((c) => 'log' in c)) {
      const old = attrOf(c, 'file');
      if (old) ((c[':@'] ??= {}) as Record<string, string>)['@file'] = newPath(old);
    }
  }
  return moved;
}

function rewriteDisk(node: XmlNode, disk: XmlNode[], image: string): void {
  const attrs = (node[':@'] ??= {}) as Record<string, string>;
  attrs['@type'] = 'file';
  const source = disk.find((c) => 'source' in c);
  const newSource: XmlNode = { source: [], ':@': { '@file': image } };
  if (source) disk.splice(disk.indexOf(source), 1, newSource);
  else disk.unshift(newSource);
  const driver = disk.find((c) => 'driver' in c);
  if (driver) ((driver[':@'] ??= {}) as Record<string, string>)['@type'] = 'qcow2';
  else disk.unshift({ driver: [], ':@': { '@name': 'qemu', '@type': 'qcow2' } });
  removeAll(disk, (c) => 'backingStore' in c);
}
