import { rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Write `path` so that a reader sees the old content or the new, never half of it: write a
 * hidden temp file beside it, then rename it over (atomic within one file system).
 */
export async function writeFileAtomic(path: string, data: string, opts: { mode?: number } = {}): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  await writeFile(tmp, data, opts.mode === undefined ? {} : { mode: opts.mode });
  await rename(tmp, path);
}

/** Remove `path`; one that is already gone is fine. */
export async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
