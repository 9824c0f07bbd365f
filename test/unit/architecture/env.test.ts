/**
 * The process environment is read once, by the CLI entry, and handed down (AppContext.env,
 * GlobalOptions.env): a command or option builder that reads process.env itself cannot be run
 * with another environment (a test, a host of a fleet run) and hides what it depends on. Read
 * from the syntax tree, so a comment or a string that says "process.env" does not count, and
 * `process['env']` or `const { env } = process` do.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../../src');

/** Files of src/ that may read process.env, each with its reason. Nothing else may. */
const MAY_READ_ENV: Record<string, string> = {
  'cli/main.ts': 'the CLI entry (cliEntry) reads the environment once and hands it to main(), which builds the context and options from it',
  'runner/runner.ts':
    "the one door to external tools: a session's child inherits vmkeep's environment with the runner's own variables over it, as execa's extendEnv gives every one-shot call; nothing of vmkeep's behaviour depends on it",
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const isProcess = (n: ts.Node) => ts.isIdentifier(n) && n.text === 'process';

/** The lines (1-based) of `text` that read process.env. */
function envReads(text: string, name = 'file.ts'): number[] {
  const file = ts.createSourceFile(name, text, ts.ScriptTarget.Latest, true);
  const lines: number[] = [];
  const at = (n: ts.Node) => lines.push(file.getLineAndCharacterOfPosition(n.getStart(file)).line + 1);
  const visit = (n: ts.Node): void => {
    if (ts.isPropertyAccessExpression(n) && isProcess(n.expression) && n.name.text === 'env') at(n);
    else if (ts.isElementAccessExpression(n) && isProcess(n.expression) && ts.isStringLiteralLike(n.argumentExpression) && n.argumentExpression.text === 'env')
      at(n);
    else if (
      ts.isVariableDeclaration(n) &&
      n.initializer &&
      isProcess(n.initializer) &&
      ts.isObjectBindingPattern(n.name) &&
      n.name.elements.some((e) => ((e.propertyName ?? e.name) as ts.Identifier).text === 'env')
    )
      at(n);
    ts.forEachChild(n, visit);
  };
  visit(file);
  return lines;
}

function readsInSrc(): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const file of sourceFiles(SRC)) {
    const lines = envReads(readFileSync(file, 'utf8'), file);
    if (lines.length > 0) out.set(relative(SRC, file), lines);
  }
  return out;
}

describe('process.env is read only by the CLI entry', () => {
  it('no file of src/ outside the allow-list reads process.env', () => {
    const offending = [...readsInSrc()].filter(([file]) => !(file in MAY_READ_ENV)).map(([file, lines]) => `${file}:${lines.join(',')}`);
    expect(offending, 'read the environment from ctx.env or the CLI-built options instead').toEqual([]);
  });

  it('every allow-list entry still reads it, and says why', () => {
    const reads = readsInSrc();
    for (const [file, why] of Object.entries(MAY_READ_ENV)) {
      expect(reads.has(file), `${file} no longer reads process.env: drop it from the allow-list`).toBe(true);
      expect(why.length).toBeGreaterThan(20);
    }
  });

  it('the reader finds each way of reading it, and not a comment or a string', () => {
    expect(envReads("const a = process.env['X'];")).toEqual([1]);
    expect(envReads("const a = process['env'].X;")).toEqual([1]);
    expect(envReads('const { env } = process;')).toEqual([1]);
    expect(envReads('const { env: e, pid } = process;')).toEqual([1]);
    expect(envReads('f(\n  process.env,\n);')).toEqual([2]);
    expect(envReads("// process.env\n/** process.env */\nconst s = 'process.env';\nconst e = ctx.env;\nconst { pid } = process;")).toEqual([]);
  });
});
