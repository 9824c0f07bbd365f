/** Whether QEMU's user can traverse a folder, from mode bits, and the words for what it cannot. */
import { describe, expect, it } from 'vitest';
import { describeQemuReachProblem, maySearch, parseProcStatusIds } from '../../../src/repository/qemu-access.js';

const qemu = { uid: 64055, gid: 107, groups: [107, 64055] };

describe('maySearch', () => {
  it('root folders closed to others stop QEMU; o+x lets it through', () => {
    expect(maySearch(0o40700, 0, 0, qemu)).toBe(false);
    expect(maySearch(0o40711, 0, 0, qemu)).toBe(true);
    expect(maySearch(0o40755, 0, 0, qemu)).toBe(true);
  });

  it('owner and group classes apply before other, as the kernel checks them', () => {
    expect(maySearch(0o40601, 64055, 0, qemu)).toBe(false);
    expect(maySearch(0o40700, 64055, 0, qemu)).toBe(true);
    expect(maySearch(0o40761, 0, 107, qemu)).toBe(false);
    expect(maySearch(0o40700, 0, 64055, qemu)).toBe(false);
  });

  it('a group x bit for another group may be an ACL mask: not refused on the bits alone', () => {
    expect(maySearch(0o40750, 0, 4, qemu)).toBe(true);
  });

  it('QEMU running as root reaches everything', () => {
    expect(maySearch(0o40700, 0, 0, { uid: 0, gid: 0, groups: [] })).toBe(true);
  });
});

describe('parseProcStatusIds', () => {
  it('takes the effective ids and the supplementary groups', () => {
    const status = 'Name:\tqemu-system-x86\nUid:\t64055\t64055\t64055\t64055\nGid:\t107\t107\t107\t107\nGroups:\t107 64055 \n';
    expect(parseProcStatusIds(status)).toEqual(qemu);
    expect(parseProcStatusIds('Name:\tx\n')).toBeUndefined();
  });
});

describe('describeQemuReachProblem', () => {
  it('names the folder QEMU cannot traverse and offers --engine virtnbdbackup', () => {
    const text = describeQemuReachProblem({ kind: 'not-traversable', folder: '/srv/private', user: 'libvirt-qemu' }, 'web', '/srv/private/backups');
    expect(text).toContain('QEMU (user libvirt-qemu) cannot traverse /srv/private, on the way to /srv/private/backups');
    expect(text).toContain('chmod o+x /srv/private');
    expect(text).toContain('--engine virtnbdbackup');
  });

  it('a mount QEMU cannot see: what happened and the three ways out', () => {
    const text = describeQemuReachProblem({ kind: 'not-mounted-for-qemu', folder: '/mnt/usb/b', mountPoint: '/mnt/usb' }, 'web', '/mnt/usb/b');
    expect(text).toMatch(/the QEMU of web cannot see \/mnt\/usb\/b: the file system mounted at \/mnt\/usb was mounted after the domain started/);
    expect(text).toMatch(/Restart the domain .*--engine virtnbdbackup.*mount backup disks before starting VMs/);
  });
});
