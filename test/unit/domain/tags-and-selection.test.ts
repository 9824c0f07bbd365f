import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { editTags } from '../../../src/domain/run-tag.js';
import { filterSelection, matchesTags } from '../../../src/domain/select-by-tags.js';
import { virshArgv } from '../../../src/virsh/argv.js';
import { TAGS_NAMESPACE, buildTagsXml, checkTag, isNoMetadata, parseTagsXml } from '../../../src/virsh/tags-xml.js';
import { fixture } from '../../helpers/fixtures.js';

describe('tags in libvirt metadata (recorded virsh output)', () => {
  it('parses virsh metadata output and the element in dumpxml', () => {
    expect(parseTagsXml(fixture('virsh/metadata-tags.xml'))).toEqual(['db', 'prod']);
    expect(parseTagsXml(fixture('virsh/dumpxml-metadata-tags.xml').replace(/<\/?metadata>/g, ''))).toEqual(['db', 'prod']);
    expect(isNoMetadata(fixture('virsh/metadata-none.stderr'))).toBe(true);
  });

  it('builds the element the capture script stored, sorted and unique', () => {
    expect(buildTagsXml(['prod', 'db', 'prod'])).toBe('<tags><tag>db</tag><tag>prod</tag></tags>');
    expect(parseTagsXml(buildTagsXml(['b', 'a']))).toEqual(['a', 'b']);
  });

  it('refuses tags that are not words (no XML or list characters get through)', () => {
    for (const bad of ['', 'a,b', '<x>', 'a b', '-x', 'a&b']) expect(() => checkTag(bad)).toThrow(/bad tag/);
  });

  it('passes XML as one argv element, --live only for a running domain', () => {
    expect(virshArgv.metadataSet('qemu:///system', 'u-1', TAGS_NAMESPACE, 'vmkeep', '<tags/>', true)).toEqual([
      '-c', 'qemu:///system', 'metadata', '--domain', 'u-1', '--uri', TAGS_NAMESPACE, '--key', 'vmkeep', '--set', '<tags/>', '--live', '--config',
    ]);
    expect(virshArgv.metadataSet('qemu:///system', 'u-1', TAGS_NAMESPACE, 'vmkeep', '<tags/>', false).slice(-2)).toEqual(['<tags/>', '--config']);
  });
});

describe('selection by tags and exclusions', () => {
  const tagsOf = new Map<string, string[]>([
    ['web-1', ['prod', 'web']],
    ['web-2', ['prod']],
    ['db-1', ['prod', 'db']],
    ['dev-1', ['dev']],
  ]);
  const all = [...tagsOf.keys()];

  it('--tag prod --exclude web-* leaves the prod domains that are not web', () => {
    const r = filterSelection(all, tagsOf, { tags: ['prod'], tagAny: false, exclude: ['web-*'] });
    expect(r.kept).toEqual(['db-1']);
    expect(r.filteredOut.map((f) => f.domain)).toEqual(['web-1', 'web-2', 'dev-1']);
  });

  it('all tags must match unless --tag-any', () => {
    expect(filterSelection(all, tagsOf, { tags: ['prod', 'db'], tagAny: false, exclude: [] }).kept).toEqual(['db-1']);
    expect(filterSelection(all, tagsOf, { tags: ['db', 'dev'], tagAny: true, exclude: [] }).kept).toEqual(['db-1', 'dev-1']);
  });

  it('filtering only ever removes, and kept + filtered out is the input', () => {
    const tag = fc.constantFrom('prod', 'web', 'db', 'dev', 'none');
    fc.assert(
      fc.property(fc.array(tag, { maxLength: 3 }), fc.boolean(), fc.array(fc.constantFrom('web-*', 'db-1', '*-2', 'x'), { maxLength: 2 }), (tags, any, exclude) => {
        const r = filterSelection(all, tagsOf, { tags, tagAny: any, exclude });
        expect([...r.kept, ...r.filteredOut.map((f) => f.domain)].sort()).toEqual([...all].sort());
        for (const k of r.kept) expect(matchesTags(tagsOf.get(k)!, tags, any)).toBe(true);
      }),
    );
  });

  it('editTags adds, removes, sorts', () => {
    expect(editTags(['prod', 'db'], ['web', 'db'], ['prod'])).toEqual(['db', 'web']);
  });
});
