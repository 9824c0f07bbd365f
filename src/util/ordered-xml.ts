/**
 * Helpers for XML parsed with fast-xml-parser's `preserveOrder` (a domain definition that is
 * changed and written back keeps its order, comments and whitespace): restore's and the boot
 * verify domain's XML edits share them.
 */
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

// Everything kept as written: attributes as strings, text untrimmed, comments and CDATA.
const OPTIONS = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  commentPropName: '#comment',
  cdataPropName: '#cdata',
} as const;

const parser = new XMLParser(OPTIONS);
const builder = new XMLBuilder({ ...OPTIONS, suppressEmptyNode: true, format: false });

/** Parse a document keeping its order, comments and whitespace. */
export function parseOrderedXml(xml: string): XmlNode[] {
  return parser.parse(xml) as XmlNode[];
}

/** Write back a document parsed by parseOrderedXml (empty elements self-closed). */
export function buildOrderedXml(doc: XmlNode[]): string {
  return builder.build(doc);
}

/** An element of an order-preserved document: its tag maps to its children, `:@` to its attributes. */
export type XmlNode = Record<string, unknown>;

/** Children of an order-preserved element (created empty when it has none). */
export function kids(node: XmlNode, tag: string): XmlNode[] {
  const v = node[tag];
  if (!Array.isArray(v)) {
    const arr: XmlNode[] = [];
    node[tag] = arr;
    return arr;
  }
  return v as XmlNode[];
}

export function textOf(value: unknown): string | undefined {
  if (!Array.isArray(value)) return undefined;
  const t = (value as XmlNode[]).find((n) => '#text' in n);
  return t === undefined ? undefined : String(t['#text']).trim();
}

export function attrOf(node: XmlNode | undefined, name: string): string | undefined {
  const attrs = node?.[':@'] as Record<string, unknown> | undefined;
  const v = attrs?.[`@${name}`];
  return v === undefined ? undefined : String(v);
}

/** Remove matching children, with the whitespace before each, so no blank lines are left. */
export function removeAll(list: XmlNode[], match: (n: XmlNode) => boolean): number {
  let removed = 0;
  for (let i = list.length - 1; i >= 0; i--) {
    if (!match(list[i]!)) continue;
    const before = list[i - 1];
    const ws = before !== undefined && '#text' in before && /^\s*$/.test(String(before['#text']));
    list.splice(ws ? i - 1 : i, ws ? 2 : 1);
    if (ws) i--;
    removed++;
  }
  return removed;
}
