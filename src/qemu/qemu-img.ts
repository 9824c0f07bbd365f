/** A thin qemu-img client: argv builders + parsers joined through the Runner. */
import type { Runner } from '../runner/runner.js';
import { parseImageCheck, parseImageInfo, type ImageCheck, type ImageInfo } from './parse-qemu-img.js';

const qemuImgArgv = {
  info: (path: string) => ['info', '--output=json', '--force-share', path],
  // `--` so a path or bitmap name starting with '-' is never read as an option.
  removeBitmap: (path: string, bitmap: string) => ['bitmap', '--remove', '--', path, bitmap],
  check: (path: string) => ['check', '--output=json', path],
  compare: (a: string, b: string) => ['compare', '--force-share', a, b],
  version: () => ['--version'],
};

export class QemuImgClient {
  constructor(private readonly runner: Runner) {}

  /** Image facts, readable while a VM holds the image (--force-share). */
  async info(path: string): Promise<ImageInfo> {
    const { stdout } = await this.runner.run('qemu-img', qemuImgArgv.info(path), { timeoutMs: 60_000 });
    return parseImageInfo(stdout);
  }

  /** Remove a persistent bitmap from an image no VM holds. */
  async removeBitmap(path: string, bitmap: string): Promise<void> {
    await this.runner.run('qemu-img', qemuImgArgv.removeBitmap(path, bitmap), { timeoutMs: 120_000 });
  }

  /** Consistency check; qemu-img's exit 2 (corruption) and 3 (leaks) are answers, not failures. */
  async check(path: string): Promise<ImageCheck> {
    const { stdout } = await this.runner.run('qemu-img', qemuImgArgv.check(path), {
      timeoutMs: 3_600_000,
      okExitCodes: [2, 3],
    });
    return parseImageCheck(stdout);
  }

  /** Byte comparison of two images' guest-visible contents: true when identical. */
  async identical(a: string, b: string): Promise<boolean> {
    const { exitCode } = await this.runner.run('qemu-img', qemuImgArgv.compare(a, b), {
      timeoutMs: 3_600_000,
      okExitCodes: [1],
    });
    return exitCode === 0;
  }
}
