import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { editTags } from '../../../src/domain/run-tag.js';
import { createContext } from '../../../src/app/context.js';
import { NO_TAGS_OUTSIDE_LIBVIRT, filterSelection, matchesTags, namesOnly, selectAmong } from '../../../src/domain/select-by-tags.js';
import { createMemoryLogger } from '../../../src/util/log.js';
import { FakeRunner } from '../../helpers/fake-runner.js';
import { virshArgv } from '../../../src/virsh/argv.js';
import { TAGS_NAMESPACE, buildTagsXml, checkTag, isNoMetadata, parseTagsXml, tagsFromMetadata } from '../../../src/virsh/tags-xml.js';
import { parseDomainXml } from '../../../src/virsh/parse-domain-xml.js';
import { parseXml } from '../../../src/util/xml.js';
import { fixture } from '../../helpers/fixtures.js';

describe('tags in libvirt metadata (recorded virsh output)', () => {
  it('parses virsh metadata output and the element in dumpxml', () => {
    expect(parseTagsXml(fixture('virsh/metadata-tags.xml'))).toEqual(['db', 'prod']);
    expect(parseTagsXml(fixture('virsh/dumpxml-metadata-tags.xml').replace(/<\/?metadata>/g, ''))).toEqual(['db', 'prod']);
    expect(isNoMetadata(fixture('virsh/metadata-none.stderr'))).toBe(true);
  });

  it('reads the tags from a parsed definition as virsh metadata --config prints them (status reads a shut-off domain so)', () => {
    expect(tagsFromMetadata(parseXml(fixture('virsh/dumpxml-metadata-tags.xml'))['metadata'])).toEqual(['db', 'prod']);
    const shutOff = parseDomainXml(fixture('status-reads/shutoff.dumpxml.xml'));
    expect(shutOff.tags).toEqual(parseTagsXml(fixture('status-reads/shutoff.metadata.xml')));
    expect(shutOff.tags).toEqual(['db', 'prod']);
    // The persistent definition has no id; the live one of a running domain has.
    expect(shutOff.id).toBeUndefined();
    expect(parseDomainXml(fixture('status-reads/one-checkpoint.dumpxml.xml')).id).toMatch(/^\d+$/);
    expect(parseDomainXml(fixture('virsh/dumpxml-running-2-checkpoints.xml')).tags).toEqual([]);
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
      '-c',
      'qemu:///system',
      'metadata',
      '--domain',
      'u-1',
      '--uri',
      TAGS_NAMESPACE,
      '--key',
      'vmkeep',
      '--set',
      '<tags/>',
      '--live',
      '--config',
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
      fc.property(
        fc.array(tag, { maxLength: 3 }),
        fc.boolean(),
        fc.array(fc.constantFrom('web-*', 'db-1', '*-2', 'x'), { maxLength: 2 }),
        (tags, any, exclude) => {
          const r = filterSelection(all, tagsOf, { tags, tagAny: any, exclude });
          expect([...r.kept, ...r.filteredOut.map((f) => f.domain)].sort()).toEqual([...all].sort());
          for (const k of r.kept) expect(matchesTags(tagsOf.get(k)!, tags, any)).toBe(true);
        },
      ),
    );
  });

  it('a domain libvirt does not define (backups only) has no tags: any tag filter leaves it out, names still select it', () => {
    const gone = new Set(['old-1']);
    const names = [...all, 'old-1'];
    const tagged = filterSelection(names, tagsOf, { tags: ['prod'], tagAny: true, exclude: [] }, gone);
    expect(tagged.kept).toEqual(['web-1', 'web-2', 'db-1']);
    expect(tagged.filteredOut).toContainEqual({ domain: 'old-1', why: NO_TAGS_OUTSIDE_LIBVIRT });
    expect(NO_TAGS_OUTSIDE_LIBVIRT).toBe('not defined in libvirt, so it has no tags');
    expect(filterSelection(names, tagsOf, { tags: [], tagAny: false, exclude: ['web-*'] }, gone).kept).toEqual(['db-1', 'dev-1', 'old-1']);
    // --exclude is by name alone: it names the glob, defined in libvirt or not.
    expect(filterSelection(names, tagsOf, { tags: ['prod'], tagAny: false, exclude: ['old-*'] }, gone).filteredOut).toContainEqual({
      domain: 'old-1',
      why: 'excluded by old-*',
    });
  });

  it('editTags adds, removes, sorts', () => {
    expect(editTags(['prod', 'db'], ['web', 'db'], ['prod'])).toEqual(['db', 'web']);
  });
});

describe("selectAmong: a repository's domains, tags from libvirt only when asked (fake runner, recorded output)", () => {
  const URI = 'qemu:///system';
  const setup = () => {
    const runner = new FakeRunner();
    const ctx = createContext({
      runner,
      uri: URI,
      now: () => new Date(0),
      log: createMemoryLogger(),
      interactive: false,
      signal: new AbortController().signal,
    });
    return { runner, ctx };
  };
  // In the recorded list; `gone-1` has backups only.
  const run = 'vmkeep-scratch-fixtures-run';
  const off = 'vmkeep-scratch-fixtures-off';
  const backedUp = [off, run, 'gone-1'];

  it('without a tag filter it asks libvirt nothing (list stays libvirt-free)', async () => {
    const { runner, ctx } = setup();
    const s = await selectAmong(ctx, backedUp, { ...namesOnly(undefined), exclude: ['*-off'] });
    expect(s.selected).toEqual([run, 'gone-1']);
    expect(s.filteredOut).toEqual([{ domain: off, why: 'excluded by *-off' }]);
    expect(runner.calls).toEqual([]);
  });

  it('with --tag it lists libvirt, reads tags of defined, not excluded domains only, and leaves out the undefined one', async () => {
    const { runner, ctx } = setup();
    runner.expect({ tool: 'virsh', argv: ['-c', URI, 'list', '--all', '--uuid', '--name'], result: { stdout: fixture('virsh/list--all--uuid--name.txt') } });
    runner.expect({
      tool: 'virsh',
      argv: ['-c', URI, 'metadata', '--domain', '00000000-0000-4000-8000-00000000f001', '--uri', TAGS_NAMESPACE, '--config'],
      result: { stdout: fixture('virsh/metadata-tags.xml') },
    });
    const s = await selectAmong(ctx, backedUp, { domains: undefined, tags: ['prod'], tagAny: false, exclude: ['*-off'] });
    expect(s.selected).toEqual([run]);
    expect(s.notInLibvirt).toEqual(['gone-1']);
    expect(s.filteredOut).toEqual([
      { domain: off, why: 'excluded by *-off' },
      { domain: 'gone-1', why: NO_TAGS_OUTSIDE_LIBVIRT },
    ]);
    expect(runner.unmet()).toEqual([]);
    expect(s.emptyPatterns).toEqual([]);
  });

  it('a filter that leaves nothing is reported like a pattern that matches nothing (a typo in a cron line), unless one host of several', async () => {
    const { ctx } = setup();
    const s = await selectAmong(ctx, backedUp, { ...namesOnly(undefined), exclude: ['*'] });
    expect(s.selected).toEqual([]);
    expect(s.emptyPatterns).toEqual(['--exclude *']);
    const fleet = await selectAmong(ctx, backedUp, { ...namesOnly(undefined), exclude: ['*'], emptyIsFine: true });
    expect(fleet.emptyPatterns).toEqual([]);
    // Nothing to filter in the first place: said as before (the default pattern matched nothing), not twice.
    expect((await selectAmong(ctx, [], { ...namesOnly(undefined), exclude: ['*'] })).emptyPatterns).toEqual(['*']);
  });
});
