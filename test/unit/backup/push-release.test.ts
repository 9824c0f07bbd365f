/**
 * The push engine's wait for QEMU to let go of a point's images after libvirt reports the job
 * completed, on block nodes recorded while a real push job ran and after it ended
 * (fixtures/push-release/README.md): the real client, parser and wait, over a fake runner.
 */
import { describe, expect, it } from 'vitest';
import { imagesHeld, waitForRelease } from '../../../src/backup/engine/push.js';
import { VmkeepError } from '../../../src/errors.js';
import { parseNamedBlockNodes } from '../../../src/qemu/parse-qmp.js';
import { VirshClient } from '../../../src/virsh/client.js';
import { FakeRunner } from '../../helpers/fake-runner.js';
import { fixture } from '../../helpers/fixtures.js';

const URI = 'qemu:///system';
const DOMAIN = 'vmkeep-scratch-push-release';
const paths = JSON.parse(fixture('push-release/paths.json')) as { disk: string; full: string; inc: string };
const answer = (point: 'full' | 'inc', when: 'attached' | 'released') => fixture(`push-release/${point}.${when}.nodes.json`);
const nodesQuery = ['-c', URI, 'qemu-monitor-command', '--domain', DOMAIN, '--cmd', '{"execute":"query-named-block-nodes","arguments":{"flat":true}}'];

/** A client whose block-node question gets `attached` answers `held` times, then `released` ones. */
function virshAnswering(point: 'full' | 'inc', held: number, released = true): { virsh: VirshClient; runner: FakeRunner } {
  const runner = new FakeRunner();
  for (let i = 0; i < held; i += 1) runner.expect({ tool: 'virsh', argv: nodesQuery, result: { stdout: answer(point, 'attached') } });
  runner.expect({ tool: 'virsh', argv: nodesQuery, result: { stdout: answer(point, released ? 'released' : 'attached') }, repeat: true });
  return { virsh: new VirshClient(runner, URI), runner };
}

const fast = { pollMinMs: 1, pollMaxMs: 2, timeoutMs: 60_000 };

// Which drivers' nodes name the target by its path while the job runs. An incremental's target
// is an overlay that QEMU opens over the guest's disk, so its qcow2 node is named `json:{...}`:
// only its protocol node (drv file) names the path, and a check of format nodes alone would miss it.
describe.each([
  ['full', paths.full, ['qcow2', 'file']],
  ['inc', paths.inc, ['file']],
] as const)('the %s point image %s (captured)', (point, target, drivers) => {
  it('is held while the job runs: a block node names exactly that path', () => {
    const nodes = parseNamedBlockNodes(answer(point, 'attached'));
    expect(nodes.filter((n) => n.file === target).map((n) => n.driver)).toEqual(drivers);
    expect(imagesHeld(nodes, [target])).toEqual([target]);
    // Only the path itself counts: a neighbour's name or a prefix of it is not held.
    expect(imagesHeld(nodes, [`${target}.tmp`, target.slice(0, -1)])).toEqual([]);
  });

  it('is let go once the job has ended, while the guest disk stays open', () => {
    const nodes = parseNamedBlockNodes(answer(point, 'released'));
    expect(imagesHeld(nodes, [target])).toEqual([]);
    expect(imagesHeld(nodes, [target, paths.disk])).toEqual([paths.disk]);
  });

  it.each([1, 3])(
    'the wait asks again while QEMU holds the image (%i answers) and returns on the first without it, saying how long it waited',
    async (held) => {
      const { virsh, runner } = virshAnswering(point, held);
      const log: string[] = [];
      await waitForRelease(virsh, { domain: DOMAIN, onLog: (l) => log.push(l) }, [target], fast);
      expect(runner.calls).toHaveLength(held + 1);
      expect(runner.unmet()).toEqual([]);
      expect(log).toHaveLength(1);
      expect(log[0]).toMatch(/^waited \d+ ms for QEMU to close the point's images after the job ended$/);
    },
  );

  it('the wait says nothing when QEMU has let go by the first answer', async () => {
    const { virsh, runner } = virshAnswering(point, 0);
    const log: string[] = [];
    await waitForRelease(virsh, { domain: DOMAIN, onLog: (l) => log.push(l) }, [target], fast);
    expect(runner.calls).toHaveLength(1);
    expect(log).toEqual([]);
  });

  it('the wait gives up with a failure naming the image when QEMU keeps it past the timeout', async () => {
    const { virsh, runner } = virshAnswering(point, 0, false);
    const started = Date.now();
    const error: unknown = await waitForRelease(virsh, { domain: DOMAIN }, [target], { ...fast, timeoutMs: 40 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmkeepError);
    expect((error as VmkeepError).code).toBe('failure');
    expect((error as VmkeepError).message).toBe(
      `QEMU still holds ${target} of ${DOMAIN} 0.04 s after its push backup job ended; the image may not be complete on disk, so the point was not recorded`,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    expect(runner.calls.length).toBeGreaterThan(1);
  });
});
