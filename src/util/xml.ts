/** One configured XML parser for libvirt's documents (fast-xml-parser). */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { VmkeepError } from '../errors.js';

// Elements that libvirt may repeat; always parsed as arrays so callers never branch on shape.
const ALWAYS_ARRAY = new Set(['domain.devices.disk', 'domain.devices.interface', 'domaincheckpoint.disks.disk', 'disk.backingStore']);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  textNodeName: '#text',
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  isArray: (_name, jpath) => ALWAYS_ARRAY.has(String(jpath)),
});

/**
 * Parse an XML document into plain objects: attributes as `@name`, text as `#text`. A document
 * that is not well-formed (cut short, not XML) is an error naming `what` and where it breaks:
 * the parser alone would return what it could make of the first part.
 */
export function parseXml(text: string, what = 'XML document'): Record<string, unknown> {
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    throw new VmkeepError('failure', `${what} is not well-formed (line ${valid.err.line}, column ${valid.err.col}: ${valid.err.msg.replace(/\.$/, '')})`);
  }
  return parser.parse(text) as Record<string, unknown>;
}

/** A node's text, whether fast-xml-parser gave a string or an object with `#text`. */
export function textOf(node: unknown): string | undefined {
  if (node === undefined || node === null) return undefined;
  if (typeof node === 'string' || typeof node === 'number') return String(node);
  if (typeof node === 'object' && '#text' in node) return String((node as Record<string, unknown>)['#text']);
  return undefined;
}

/** An attribute of a node, as a string. */
export function attr(node: unknown, name: string): string | undefined {
  if (node === undefined || node === null || typeof node !== 'object') return undefined;
  const v = (node as Record<string, unknown>)[`@${name}`];
  return v === undefined ? undefined : String(v);
}

/** A child element (the first, if repeated). */
export function child(node: unknown, name: string): Record<string, unknown> | undefined {
  if (node === undefined || node === null || typeof node !== 'object') return undefined;
  const v = (node as Record<string, unknown>)[name];
  if (Array.isArray(v)) return v[0] as Record<string, unknown>;
  if (v === '') return {};
  return v as Record<string, unknown> | undefined;
}

/** Does the node have this (possibly empty) child element? */
export function hasChild(node: unknown, name: string): boolean {
  return node !== null && typeof node === 'object' && name in node;
}

/** All children with this name, as an array. */
export function children(node: unknown, name: string): Record<string, unknown>[] {
  if (node === undefined || node === null || typeof node !== 'object') return [];
  const v = (node as Record<string, unknown>)[name];
  if (v === undefined) return [];
  const arr = Array.isArray(v) ? v : [v];
  return arr.map((x) => (x === '' ? {} : (x as Record<string, unknown>)));
}
