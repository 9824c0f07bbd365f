import { existsSync, rmSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createExecaRunner } from '../../../src/runner/runner.js';
import { formatShellCommand, quoteShellWord } from '../../../src/util/shell-quote.js';

const runner = createExecaRunner();
const canary = `/tmp/vmkeep-test-quote-canary-${process.pid}`;
afterAll(() => rmSync(canary, { force: true }));

/** The words a real shell makes of the printed command line: `printf '%s\0'` each argument. */
async function wordsAfter(shell: string, commandLine: string): Promise<string[]> {
  const { stdout } = await runner.run(shell, ['-c', `printf '%s\\0' ${commandLine}`]);
  return stdout.split('\0').slice(0, -1);
}

const HOSTILE = [
  `trial-odd name;$(touch ${canary})\`touch ${canary}\`'q&x`,
  `"$(touch ${canary})"`,
  `'; touch ${canary}; '`,
  `a'b''c'''`,
  '$HOME ${PATH} ~root * ? [a] {a,b} # !x | < > &',
  '\\ \\\\ \\n',
  'line1\nline2\ttab',
  '',
  ' ',
  '-rf',
  'ünïcödé-名前',
];

describe('quoteShellWord / formatShellCommand', () => {
  it('leaves words of safe characters bare and puts everything else in single quotes', () => {
    expect(quoteShellWord('vmkeep-test-abc_1.2')).toBe('vmkeep-test-abc_1.2');
    expect(quoteShellWord('/var/lib/x@y%z+a=b:c,d')).toBe('/var/lib/x@y%z+a=b:c,d');
    expect(quoteShellWord('a b')).toBe("'a b'");
    expect(quoteShellWord("it's")).toBe("'it'\\''s'");
    expect(quoteShellWord('')).toBe("''");
    expect(quoteShellWord('$(id)')).toBe("'$(id)'");
    expect(formatShellCommand(['vmkeep', 'scrub', '--domains', 'a;b'])).toBe("vmkeep scrub --domains 'a;b'");
  });

  for (const shell of ['sh', 'bash', 'dash'].filter((s) => ['/bin', '/usr/bin'].some((d) => existsSync(`${d}/${s}`)))) {
    it(`round-trips hostile names through a real ${shell}: same bytes back, nothing runs`, async () => {
      const words = ['vmkeep', 'scrub', '--domains', ...HOSTILE, '--scrubType', 'bitmap'];
      expect(await wordsAfter(shell, formatShellCommand(words))).toEqual(words);
      expect(existsSync(canary)).toBe(false);
    });
  }

  it('round-trips any string without NUL through sh (property)', async () => {
    const noNul = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0'));
    await fc.assert(
      fc.asyncProperty(fc.array(noNul, { minLength: 1, maxLength: 8 }), async (words) => {
        expect(await wordsAfter('sh', formatShellCommand(words))).toEqual(words);
      }),
      { numRuns: 60 },
    );
    expect(existsSync(canary)).toBe(false);
    // 60 real shell processes: a busy machine (a parallel integration run) can take longer than
    // vitest's 5 s default without anything being wrong.
  }, 60_000);
});
