import { describe, expect, it } from 'vitest';
import { classifyAgentError, freezeRecordFile } from '../../../src/domain/guest-freeze.js';
import { ToolError } from '../../../src/errors.js';
import { parseQuiesceFlag } from '../../../src/cli/commands/backup.js';
import { fixture } from '../../helpers/fixtures.js';

const failure = (stderr: string) => new ToolError({ tool: 'virsh', argv: ['domfsfreeze'], exitCode: 1, stderr });

describe('guest agent failures in vmkeep words', () => {
  it('a domain without an agent channel', () => {
    expect(classifyAgentError(failure(fixture('virsh/qemu-agent-command-fsfreeze-status-no-agent.stderr')))).toEqual({
      kind: 'no-agent-channel',
      reason: 'the domain has no guest agent channel',
    });
  });

  it("a freeze the agent refuses: the agent's own words, without virsh's preamble", () => {
    const r = classifyAgentError(failure(fixture('virsh/domfsfreeze-already-frozen.stderr')));
    expect(r.kind).toBe('freeze-failed');
    expect(r.reason).toBe(
      "the guest agent could not freeze the filesystems: internal error: unable to execute QEMU agent command 'guest-fsfreeze-freeze': Command guest-fsfreeze-freeze has been disabled: the agent is in frozen state",
    );
  });

  it('the freeze record sits beside the domain lock', () => {
    expect(freezeRecordFile('/run/lock/vmkeep/domain-web%201.lock')).toBe('/run/lock/vmkeep/domain-web%201.frozen');
  });
});

describe('--quiesce', () => {
  it('takes no value (on), =require, or a yes/no; anything else is a usage error', () => {
    expect(parseQuiesceFlag(undefined)).toBeUndefined();
    expect(parseQuiesceFlag('')).toBe(true);
    expect(parseQuiesceFlag('require')).toBe('require');
    expect(parseQuiesceFlag('false')).toBe(false);
    expect(parseQuiesceFlag(false)).toBe(false);
    expect(() => parseQuiesceFlag('always')).toThrow(/--quiesce takes no value, or =require \(got "always"\)/);
  });
});
