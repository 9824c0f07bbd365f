/**
 * docs/commands/ is the CLI's own --help: rendered here in-process from the command specs in
 * src/cli/ (no build needed) and compared with the committed pages, so a changed option that
 * was not followed by `npm run docs` fails the unit tier. The hand-written notes below each
 * page's generated part are kept by the generator and ignored by the comparison.
 */
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { END_MARKER, dropReportingGroup, parseCommandNames, renderPages, spliceHead } from '../../../scripts/gen-command-docs.mjs';

const DOCS = resolve(import.meta.dirname, '../../../docs/commands');
const readExisting = (file: string) => (existsSync(join(DOCS, file)) ? readFileSync(join(DOCS, file), 'utf8') : undefined);

/** `vmkeep WORDS --help` as the built CLI prints it into a pipe: no terminal width, locale C. */
async function helpOf(words: string[]): Promise<string> {
  let out = '';
  const code = await main([...words, '--help'], { stdout: (t) => (out += t), stderr: () => {}, env: {}, interactive: false });
  expect(code).toBe(0);
  return out;
}

let helps: Map<string, string>;
const saved = { columns: Object.getOwnPropertyDescriptor(process.stdout, 'columns'), lcAll: process.env['LC_ALL'] };
beforeAll(async () => {
  // The generator reads the help through a pipe (no width) with LC_ALL=C: the same here.
  Object.defineProperty(process.stdout, 'columns', { value: undefined, configurable: true });
  process.env['LC_ALL'] = 'C';
  helps = new Map();
  const top = await helpOf([]);
  helps.set('', top);
  for (const name of parseCommandNames(top)) helps.set(name, await helpOf([name]));
  // About twenty help texts, each loading its command spec: slow on a loaded machine.
}, 120_000);
afterAll(() => {
  if (saved.columns) Object.defineProperty(process.stdout, 'columns', saved.columns);
  else delete (process.stdout as { columns?: number }).columns;
  if (saved.lcAll === undefined) delete process.env['LC_ALL'];
  else process.env['LC_ALL'] = saved.lcAll;
});

const readHelp = (words: string[]) => helps.get(words.join(' '))!;

describe('docs/commands', () => {
  it('has one page per command of --help, and each page is current (npm run docs)', () => {
    const pages = renderPages(readHelp, readExisting);
    expect([...pages.keys()]).toContain('backup.md');
    expect([...pages.keys()].length).toBeGreaterThan(15);
    const onDisk = readdirSync(DOCS)
      .filter((f) => f.endsWith('.md'))
      .sort();
    expect(onDisk).toEqual([...pages.keys()].sort());
    for (const [file, text] of pages) expect(readExisting(file), `docs/commands/${file} is stale: run npm run docs`).toBe(text);
  });

  it('the comparison can fail: a changed option description makes its page differ', () => {
    const changed = (words: string[]) => readHelp(words).replace('keep the N newest points', 'keep the N newest points, changed');
    const pages = renderPages(changed, readExisting);
    expect(pages.get('prune.md')).not.toBe(readExisting('prune.md'));
    expect(pages.get('status.md')).toBe(readExisting('status.md'));
  });

  it('every option of a command is on its page', () => {
    const backup = readExisting('backup.md')!;
    for (const flag of ['--engine', '--stop-force', '--hook-pre-domain', '--if-older-than', '--keep-tier']) expect(backup).toContain(flag);
  });

  it('keeps the hand-written notes below the marker and replaces only the generated head', () => {
    const old = `# old head\n${END_MARKER}\n\n## Notes\n\nwritten by hand\n`;
    expect(spliceHead(old, `# new head\n${END_MARKER}\n`)).toBe(`# new head\n${END_MARKER}\n\n## Notes\n\nwritten by hand\n`);
    expect(spliceHead(undefined, 'head\n')).toBe('head\n');
  });

  it('leaves the shared reporting group to the index page', () => {
    const backupHelp = readHelp(['backup']);
    expect(backupHelp).toContain('Reporting:');
    const stripped = dropReportingGroup(backupHelp);
    expect(stripped).not.toContain('--syslog-facility');
    expect(stripped).toContain('--engine');
    expect(readExisting('README.md')).toContain('--syslog-facility');
  });
});
