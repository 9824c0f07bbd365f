/**
 * A fake Runner for executor tests: every expected call is declared with its exact argv,
 * every call is recorded, and any call that was not expected throws (no fall-through to a real
 * tool).
 */
import { ToolError } from '../../src/errors.js';
import type { RunOptions, RunResult, Runner } from '../../src/runner/runner.js';

export interface ExpectedCall {
  tool: string;
  argv: readonly string[];
  /** What the call returns; exitCode != 0 makes it throw a ToolError like the real runner. */
  result?: Partial<RunResult>;
  /** Run before returning (e.g. to create files the real tool would create). */
  effect?: (options: RunOptions | undefined) => void | Promise<void>;
  /** May this expectation answer more than one call? */
  repeat?: boolean;
}

export interface RecordedCall {
  tool: string;
  argv: string[];
}

export class FakeRunner implements Runner {
  readonly calls: RecordedCall[] = [];
  private readonly expected: ExpectedCall[] = [];

  expect(call: ExpectedCall): this {
    this.expected.push(call);
    return this;
  }

  async run(tool: string, argv: readonly string[], options?: RunOptions): Promise<RunResult> {
    this.calls.push({ tool, argv: [...argv] });
    const index = this.expected.findIndex((e) => e.tool === tool && sameArgv(e.argv, argv));
    if (index < 0) {
      throw new Error(`FakeRunner: unexpected call ${JSON.stringify([tool, ...argv])}`);
    }
    const e = this.expected[index]!;
    if (!e.repeat) this.expected.splice(index, 1);
    await e.effect?.(options);
    const result: RunResult = { stdout: '', stderr: '', exitCode: 0, ...e.result };
    if (result.exitCode !== 0 && !(options?.okExitCodes ?? []).includes(result.exitCode)) {
      throw new ToolError({ tool, argv, exitCode: result.exitCode, stderr: result.stderr });
    }
    return result;
  }

  /** Expectations that were declared but never called (repeatable ones excluded). */
  unmet(): ExpectedCall[] {
    return this.expected.filter((e) => !e.repeat);
  }
}

function sameArgv(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
