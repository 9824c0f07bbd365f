/** Is there anything at this path (a file, a folder, even a dangling link)? Never throws. */
import { lstat } from 'node:fs/promises';

export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
