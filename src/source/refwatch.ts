/**
 * Watch a local repository's branch ref: loose refs under refs/heads (a push may show up as
 * 'add', 'change' or 'unlink' when `git pack-refs` runs) and packed-refs. Every event only says
 * "look again": the controller re-resolves the ref each time (level-triggered).
 */
import { join } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

export interface RefWatch {
  /** Resolves once the watcher is ready (events before that are not seen). */
  ready: Promise<void>;
  close(): Promise<void>;
}

export function watchRefs(
  loc: { gitdir: string; headGitdir: string },
  onChange: (path: string) => void,
  onError: (e: Error) => void,
): RefWatch {
  const heads = join(loc.gitdir, 'refs', 'heads');
  const packed = join(loc.gitdir, 'packed-refs');
  const w: FSWatcher = watch([heads, packed, join(loc.headGitdir, 'HEAD')], {
    ignoreInitial: true,
    // Ref writes are small files renamed into place; a lock file (.lock) comes first and goes.
    ignored: (p: string) => p.endsWith('.lock'),
  });
  const fire = (p: string) => {
    try {
      onChange(p);
    } catch (e) {
      onError(e as Error);
    }
  };
  w.on('add', fire)
    .on('change', fire)
    .on('unlink', fire)
    .on('error', (e) => onError(e as Error));
  const ready = new Promise<void>((r) => w.once('ready', () => r()));
  return { ready, close: () => w.close() };
}
