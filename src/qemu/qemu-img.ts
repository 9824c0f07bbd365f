/** A thin qemu-img client: argv builders + parsers joined through the Runner. */
import type { Runner } from '../runner/runner.js';
import { readQcow2File, toDiskBitmaps } from './qcow2-header.js';
import { parseImageCheck, parseImageInfo, parseMapDataBytes, parseMapExtents, type ImageCheck, type ImageInfo, type MapExtent } from './parse-qemu-img.js';

const qemuImgArgv = {
  info: (path: string) => ['info', '--output=json', '--force-share', path],
  // `--` so a path or bitmap name starting with '-' is never read as an option.
  removeBitmap: (path: string, bitmap: string) => ['bitmap', '--remove', '--', path, bitmap],
  check: (path: string) => ['check', '--output=json', path],
  compare: (a: string, b: string) => ['compare', '--force-share', a, b],
  version: () => ['--version'],
  /** A qcow2 overlay on `backing`, stored as given (relative names resolve against the overlay's folder). */
  createOverlay: (path: string, backing: string) => ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', backing, path],
  /** Copy the backing chain's data into the image so it stands alone (safe rebase onto nothing). */
  flatten: (path: string) => ['rebase', '-q', '-b', '', path],
  map: (path: string) => ['map', '--output=json', '--force-share', path],
  /** Flatten an image with its backing chain into one standalone image. */
  convert: (source: string, target: string, format: 'qcow2' | 'raw', sourceFormat?: 'raw') =>
    // A raw source is named as raw: probing it would let a guest that wrote an image header into
    // its own disk make qemu-img read that as a qcow2 with a backing file on the host.
    ['convert', '-q', ...(sourceFormat ? ['-f', sourceFormat] : []), '-O', format, source, target],
  /** Safe rebase: the image gets every cluster where its old and new backing differ (names resolve against its folder). */
  rebase: (path: string, backing: string) => ['rebase', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', backing, path],
};

export interface QemuImgClientOptions {
  /**
   * Read the header of an image no QEMU holds (infoAtRest) instead of starting qemu-img where the
   * header reader understands the image. The CLI turns it on; a context around a fake runner
   * leaves it off, so that every image fact goes through the runner the test declares.
   */
  readHeaders?: boolean;
}

export class QemuImgClient {
  constructor(
    private readonly runner: Runner,
    private readonly options: QemuImgClientOptions = {},
  ) {}

  /** Image facts, readable while a VM holds the image (--force-share). */
  async info(path: string, signal?: AbortSignal): Promise<ImageInfo> {
    const { stdout } = await this.runner.run('qemu-img', qemuImgArgv.info(path), { timeoutMs: 60_000, ...(signal ? { cancelSignal: signal } : {}) });
    return parseImageInfo(stdout);
  }

  /**
   * info() of an image no running QEMU holds (a shut-off domain's disk): its qcow2 header read
   * directly, without a qemu-img process, where the reader understands it (qcow2-header.ts);
   * anything else, or a file that cannot be read, goes to qemu-img, whose answer or error stands.
   */
  async infoAtRest(path: string, signal?: AbortSignal): Promise<ImageInfo> {
    if (this.options.readHeaders) {
      const read = await readQcow2File(path).catch(() => undefined);
      if (read?.reading.ok) {
        const { header } = read.reading;
        return {
          filename: path,
          format: 'qcow2',
          virtualSize: header.virtualSize,
          actualSize: read.allocatedBytes,
          backingFilename: header.backingFilename,
          bitmaps: toDiskBitmaps(header.bitmaps),
          corrupt: false,
        };
      }
    }
    return this.info(path, signal);
  }

  /** Remove a persistent bitmap from an image no VM holds. */
  async removeBitmap(path: string, bitmap: string): Promise<void> {
    await this.runner.run('qemu-img', qemuImgArgv.removeBitmap(path, bitmap), { timeoutMs: 120_000 });
  }

  /** Consistency check; qemu-img's exit 2 (corruption) and 3 (leaks) are answers, not failures. */
  async check(path: string, signal?: AbortSignal): Promise<ImageCheck> {
    const { stdout } = await this.runner.run('qemu-img', qemuImgArgv.check(path), {
      timeoutMs: 3_600_000,
      okExitCodes: [2, 3],
      ...(signal ? { cancelSignal: signal } : {}),
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

  /** Create a qcow2 overlay whose backing file is `backing` (stored as given, e.g. a relative name). */
  async createOverlay(path: string, backing: string): Promise<void> {
    await this.runner.run('qemu-img', qemuImgArgv.createOverlay(path, backing), { timeoutMs: 120_000 });
  }

  /** Bytes of data the image itself holds (not its backing files): what a backup into it copied. */
  async ownDataBytes(path: string): Promise<number> {
    const { stdout } = await this.runner.run('qemu-img', qemuImgArgv.map(path), { timeoutMs: 600_000 });
    return parseMapDataBytes(stdout);
  }

  /** The image's extents as `qemu-img map` reports them (readable while a VM holds it). */
  async mapExtents(path: string): Promise<MapExtent[]> {
    const { stdout } = await this.runner.run('qemu-img', qemuImgArgv.map(path), { timeoutMs: 600_000 });
    return parseMapExtents(stdout);
  }

  /** Flatten `source` with its backing chain into `target`. */
  async convert(source: string, target: string, format: 'qcow2' | 'raw', signal?: AbortSignal, sourceFormat?: 'raw'): Promise<void> {
    await this.runner.run('qemu-img', qemuImgArgv.convert(source, target, format, sourceFormat), {
      timeoutMs: 24 * 3_600_000,
      ...(signal ? { cancelSignal: signal } : {}),
    });
  }

  /** Make an image no VM holds stand alone: its backing chain's data is copied into it. */
  async flatten(path: string): Promise<void> {
    await this.runner.run('qemu-img', qemuImgArgv.flatten(path), { timeoutMs: 24 * 3_600_000 });
  }

  /**
   * Put an image no VM holds on a new backing file (`backing` as stored, e.g. a relative name),
   * copying in the data its old backing chain gave that the new one does not.
   */
  async rebase(path: string, backing: string): Promise<void> {
    await this.runner.run('qemu-img', qemuImgArgv.rebase(path, backing), { timeoutMs: 24 * 3_600_000 });
  }
}
