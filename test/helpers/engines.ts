/**
 * The two backup engines as a test parameter. The scenarios both engines share (chains, offline,
 * two disks, rollover, verify, restore) are written once and run once per engine with
 * `describeEngines`; what only one engine does stays in a block of its own.
 *
 * Each engine's restore points are read back by a reader independent of vmkeep: virtnbdrestore
 * for virtnbdbackup's streams (test/helpers/restore-point.ts), QEMU itself (`qemu-img compare`
 * through the backing chain, `qemu-img info` for the links) for push's qcow2 chains.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect } from 'vitest';
import { createExecaRunner } from '../../src/runner/runner.js';
import { imagesIdentical, type TestDomain } from './libvirt.js';
import { expectPointRestores } from './restore-point.js';

const runner = createExecaRunner();

export const ENGINES = ['virtnbdbackup', 'push'] as const;
export type Engine = (typeof ENGINES)[number];

/**
 * For a beforeAll that makes a chain with real backups: the integration tier's hook timeout
 * (2 min) is sized for creating domains, and a few backups on a busy 2-core host can take longer.
 */
export const SETUP_BACKUPS_TIMEOUT_MS = 600_000;

/** A push checkpoint: vmkeep.<chain id>.<n>. */
export const PUSH_CHECKPOINT = /^vmkeep\.[0-9a-f]{8}\.(\d+)$/;

/** `describe.each` over both engines; `%s` in `name` becomes the engine. */
export function describeEngines(name: string, body: (engine: Engine) => void): void {
  describe.each(ENGINES)(name, body);
}

/**
 * `vmkeep backup` arguments for one domain into one folder with `engine`, --json. The push leg runs
 * under `--engine auto`, the default, which picks push for a new chain on local libvirt and
 * continues a push chain with push: every shared scenario so also proves auto (the checkpoint
 * names, `vmkeep.<id>.N`, show that push wrote them). Forced `--engine push` has files of its own.
 */
export function engineArgs(engine: Engine, domain: TestDomain | string, output: string): string[] {
  const name = typeof domain === 'string' ? domain : domain.name;
  return ['--domains', name, '--output', output, '--json', '--engine', engine === 'push' ? 'auto' : 'virtnbdbackup'];
}

/** The name of point `n` of the chain whose first point is `first` (both engines end in .N). */
export function nthCheckpoint(first: string, n: number): string {
  return first.replace(/\.0$/, `.${n}`);
}

/** The first point of a new chain has the engine's name for it. */
export function expectFirstCheckpoint(engine: Engine, checkpoint: string | undefined): void {
  if (engine === 'push') expect(checkpoint).toMatch(PUSH_CHECKPOINT);
  else expect(checkpoint).toBe('virtnbdbackup.0');
}

/** The file that holds point `checkpoint` of `disk` in a chain folder written by `engine`. */
export function pointFile(engine: Engine, disk: string, checkpoint: string): string {
  if (engine === 'push') return `${disk}.${checkpoint}.qcow2`;
  return checkpoint === 'virtnbdbackup.0' ? `${disk}.full.data` : `${disk}.inc.${checkpoint}.data`;
}

/** The backing file `qemu-img info` reads from an image's header (undefined: none). */
export async function backingOf(file: string): Promise<string | undefined> {
  const { stdout } = await runner.run('qemu-img', ['info', '--output=json', '-U', file]);
  return (JSON.parse(stdout) as { 'backing-filename'?: string })['backing-filename'];
}

export interface PointCheck {
  /** The chain folder (OUTPUT/<domain>/<chain>). */
  chainDir: string;
  disk: string;
  checkpoint: string;
  /** A reference copy of the disk taken at that point. */
  reference: string;
  /** The point before it in the chain (push: the image's backing file), undefined for a full. */
  previous: string | undefined;
  /** Where virtnbdrestore may write its scratch copy. */
  scratchDir: string;
}

/**
 * The point equals its reference, read without vmkeep. virtnbdbackup: restored by virtnbdrestore
 * from the stream files, whose headers must link up. push: the point's image read by QEMU through
 * its backing chain; its backing file is the previous point's by a relative name (a copied chain
 * stays whole), and the image is root's alone.
 */
export async function expectPointEquals(engine: Engine, p: PointCheck): Promise<void> {
  if (engine === 'virtnbdbackup') {
    await expectPointRestores(p.chainDir, p.checkpoint, p.reference, { scratchDir: p.scratchDir, disk: p.disk });
    return;
  }
  const file = path.join(p.chainDir, pointFile(engine, p.disk, p.checkpoint));
  expect(await imagesIdentical(p.reference, file), `${file} differs from ${p.reference}`).toBe(true);
  expect(await backingOf(file)).toBe(p.previous === undefined ? undefined : pointFile(engine, p.disk, p.previous));
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
}
