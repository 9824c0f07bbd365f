import { describe, expect, it } from 'vitest';
import { parseFreezeLine, watchFreeze } from '../../../src/backup/quiesce.js';
import { createMemoryLogger } from '../../../src/util/log.js';
import { fixture } from '../../helpers/fixtures.js';

describe('the freeze virtnbdbackup attempts for each checkpoint', () => {
  it('finds the "no guest agent" warning in a recorded run (test domains have no agent)', () => {
    const events = fixture('virtnbdbackup/runs/01-plain-full.stderr')
      .split('\n')
      .map(parseFreezeLine)
      .filter((e) => e !== undefined);
    expect(events).toEqual([{ frozen: false, reason: 'argument unsupported: QEMU guest agent is not configured' }]);
  });

  it('reads the success line virtnbdbackup logs (format from its fsFreeze: log.info("Freezed [%s] filesystems."); not recordable here without a guest agent)', () => {
    expect(parseFreezeLine('[2026-11-30 06:00:00] INFO virt client - fsFreeze [MainThread]: Freezed [2] filesystems.')).toEqual({
      frozen: true,
      filesystems: 2,
    });
    expect(parseFreezeLine('[2026-11-30 06:00:00] INFO virt client - fsThaw [MainThread]: Thawed [2] filesystems.')).toBeUndefined();
  });

  it('watchFreeze passes every line on and keeps the event', () => {
    const log = createMemoryLogger();
    const w = watchFreeze(log);
    w.log.debug('dom: [2026-11-22 02:15:58] WARNING virt client - fsFreeze [MainThread]: argument unsupported: QEMU guest agent is not configured');
    w.log.info('other');
    expect(w.event()).toEqual({ frozen: false, reason: 'argument unsupported: QEMU guest agent is not configured' });
    expect(log.lines).toEqual([
      'debug: dom: [2026-11-22 02:15:58] WARNING virt client - fsFreeze [MainThread]: argument unsupported: QEMU guest agent is not configured',
      'other',
    ]);
  });
});
