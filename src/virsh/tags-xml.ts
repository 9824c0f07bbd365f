/**
 * vmkeep's tags in a domain's libvirt metadata: `<vmkeep:tags><tag>prod</tag>...</vmkeep:tags>`
 * in the namespace TAGS_NAMESPACE. They travel with the domain (dumpxml, migration, restarts).
 */
import { parseXml, textOf } from '../util/xml.js';
import { checkTag } from './tag-names.js';

export { checkTag };

export const TAGS_NAMESPACE = 'https://vmkeep.dev/xmlns/tags/1';
export const TAGS_KEY = 'vmkeep';

/** Escape text for an XML element's content. */
export function escapeXmlText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** The element `virsh metadata --set` stores (sorted, unique). */
export function buildTagsXml(tags: readonly string[]): string {
  const sorted = [...new Set(tags.map(checkTag))].sort();
  return `<tags>${sorted.map((t) => `<tag>${escapeXmlText(t)}</tag>`).join('')}</tags>`;
}

/** Tags from `virsh metadata --uri NS` output (the element, with or without a prefix). */
export function parseTagsXml(xml: string): string[] {
  if (xml.trim() === '') return [];
  const doc = parseXml(xml, 'vmkeep tag metadata');
  const root = Object.entries(doc).find(([k]) => k === 'tags' || k.endsWith(':tags'))?.[1];
  if (root === undefined || root === null || typeof root !== 'object') return [];
  return tagTexts(Object.entries(root as Record<string, unknown>).find(([k]) => k === 'tag' || k.endsWith(':tag'))?.[1]);
}

/** The parsed `<tag>` element(s) as vmkeep's tags: their texts, each once, sorted, empty ones left out. */
function tagTexts(entry: unknown): string[] {
  const list: unknown[] = entry === undefined ? [] : Array.isArray(entry) ? entry : [entry];
  return [...new Set(list.map((t) => textOf(t)).filter((t): t is string => t !== undefined && t !== ''))].sort();
}

/**
 * Tags from a parsed domain definition's `<metadata>` element (what `virsh metadata --uri NS`
 * prints is its child in vmkeep's namespace, whatever prefix it was stored with). Pure.
 */
export function tagsFromMetadata(metadata: unknown): string[] {
  if (metadata === null || typeof metadata !== 'object') return [];
  for (const [key, element] of Object.entries(metadata as Record<string, unknown>)) {
    if (element === null || typeof element !== 'object') continue;
    const prefix = key.includes(':') ? key.slice(0, key.indexOf(':')) : undefined;
    const ns = (element as Record<string, unknown>)[prefix === undefined ? '@xmlns' : `@xmlns:${prefix}`];
    if (ns !== TAGS_NAMESPACE || key !== (prefix === undefined ? 'tags' : `${prefix}:tags`)) continue;
    return tagTexts((element as Record<string, unknown>)[prefix === undefined ? 'tag' : `${prefix}:tag`]);
  }
  return [];
}

/** Is this virsh failure "no metadata under that namespace"? */
export function isNoMetadata(stderr: string): boolean {
  return /metadata not found|Requested metadata element is not present/i.test(stderr);
}
