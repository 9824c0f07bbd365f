/**
 * Hash files while another process writes them, so a backup does not wait for a second pass
 * over its data once the engine is done.
 *
 * virtnbdbackup writes each data file front to back (`<disk>.<level>.data.partial`, renamed to
 * its final name when the disk is done; it seeks only in its raw output mode, which vmkeep never
 * uses). A follower opens each new matching file, reads what has been appended since its last
 * look, and feeds the hash. At the end the caller asks for a file's digest: the follower reads to
 * the end through the same descriptor (a rename does not change the inode), and gives the digests
 * only when it read exactly as many bytes as the finished file holds, from the start. Anything
 * else (a file it never saw, a file that shrank or was replaced) is left to the caller to hash
 * afresh (on every core, see chunk-digest.ts). Digests are per fixed-size chunk, as recorded.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CHUNK_SIZE, type ChunkDigests } from './chunk-digest.js';

interface Followed {
  handle: FileHandle;
  ino: number;
  /** The hash of the chunk being read, and the digests of the chunks before it. */
  hash: Hash;
  chunks: string[];
  offset: number;
  broken: boolean;
}

const CHUNK = 4 * 1024 * 1024; // bytes per read

export class FollowingHasher {
  private readonly followed = new Map<string, Followed>();
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Bytes read while the writer was still writing (for diagnostics and tests). */
  bytesFollowed = 0;

  /**
   * @param dir the folder the writer writes into
   * @param follows which file names to follow (e.g. `*.data.partial`)
   */
  constructor(
    private readonly dir: string,
    private readonly follows: (name: string) => boolean,
    private readonly intervalMs = 50,
    private readonly chunkSize = CHUNK_SIZE,
  ) {}

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.busy = this.busy.then(() => this.scan()).catch(() => undefined);
      void this.busy.then(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.intervalMs);
      });
    };
    tick();
  }

  /**
   * The chunk digests of a finished file, when what was followed covers the whole file from its
   * start; undefined otherwise (hash it afresh). Call after the writer is done, then close().
   */
  digest(path: string): Promise<ChunkDigests | undefined> {
    // In the same queue as the timer's scans: two reads of one file at once would both read from
    // the same offset and feed the hash the same bytes twice.
    const result = this.busy.then(() => this.finish(path));
    this.busy = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private async finish(path: string): Promise<ChunkDigests | undefined> {
    const st = await stat(path);
    const f = [...this.followed.values()].find((x) => x.ino === st.ino && !x.broken);
    if (!f) return undefined;
    await this.readNew(f);
    if (f.broken || f.offset !== st.size) return undefined;
    f.broken = true; // final: never feed these hashes again
    // The last chunk is partly filled, or the file is empty: its digest closes the list.
    const chunks = f.offset === 0 || f.offset % this.chunkSize !== 0 ? [...f.chunks, f.hash.digest('hex')] : f.chunks;
    return { size: st.size, chunkSize: this.chunkSize, chunks };
  }

  /** Stop following and close every file. */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.busy;
    await Promise.all([...this.followed.values()].map((f) => f.handle.close().catch(() => undefined)));
    this.followed.clear();
  }

  private async scan(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return; // not created yet
    }
    for (const name of names) {
      if (!this.follows(name) || this.followed.has(name)) continue;
      try {
        const handle = await open(join(this.dir, name), 'r');
        const { ino } = await handle.stat();
        this.followed.set(name, { handle, ino, hash: createHash('sha256'), chunks: [], offset: 0, broken: false });
      } catch {
        // Renamed or removed between readdir and open: the final file is hashed afresh.
      }
    }
    for (const f of this.followed.values()) await this.readNew(f);
  }

  private async readNew(f: Followed): Promise<void> {
    if (f.broken) return;
    try {
      const { size } = await f.handle.stat();
      if (size < f.offset) {
        f.broken = true; // truncated: what was hashed is no longer the file
        return;
      }
      const buffer = Buffer.allocUnsafe(CHUNK);
      while (f.offset < size) {
        // Never read across a chunk boundary: each chunk's hash ends exactly at it.
        const toBoundary = this.chunkSize - (f.offset % this.chunkSize);
        const { bytesRead } = await f.handle.read(buffer, 0, Math.min(CHUNK, size - f.offset, toBoundary), f.offset);
        if (bytesRead === 0) break;
        f.hash.update(buffer.subarray(0, bytesRead));
        f.offset += bytesRead;
        if (f.offset % this.chunkSize === 0) {
          f.chunks.push(f.hash.digest('hex'));
          f.hash = createHash('sha256');
        }
        this.bytesFollowed += bytesRead;
      }
    } catch {
      f.broken = true;
    }
  }
}
