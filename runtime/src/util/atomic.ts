import { promises as fs } from 'fs';
import { dirname, basename, join } from 'path';

/**
 * Writes a file so that a reader sees either the old or the new content, never a torn one:
 * a temporary file in the same directory, fsynced, then renamed over the target.
 */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fh = await fs.open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
