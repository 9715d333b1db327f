/**
 * Watch a local repository's branch refs: the directories refs/heads (and each directory under it,
 * for branch names with a '/') and the gitdir itself (packed-refs, HEAD). Directories, not files:
 * git replaces a ref file by renaming a lock file over it, and a watch on a file follows its old
 * inode, which the rename unlinks; a directory's watch sees every entry created, renamed into it
 * or removed, whatever inode it has (inotify on Linux). Every event only says "look again": the
 * controller re-resolves the ref each time (level-triggered), so a burst of events costs one pass.
 */
import { type FSWatcher, readdirSync, statSync, watch } from 'node:fs';
import { join } from 'node:path';

export interface RefWatch {
  /** Resolves once the watches are in place (events before that are not seen). */
  ready: Promise<void>;
  close(): Promise<void>;
}

/** Names in the gitdir that move a branch: packed refs (`git pack-refs`, `gc`) and HEAD. */
const GITDIR_NAMES = new Set(['packed-refs', 'HEAD']);

export function watchRefs(
  loc: { gitdir: string; headGitdir: string },
  onChange: (path: string) => void,
  onError: (e: Error) => void,
): RefWatch {
  const watchers = new Map<string, FSWatcher>();
  let closed = false;
  const fire = (path: string) => {
    try {
      onChange(path);
    } catch (e) {
      onError(e as Error);
    }
  };
  const add = (dir: string, keep: (name: string) => boolean, onEvent?: (name: string) => void) => {
    if (closed || watchers.has(dir)) return;
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: true }, (_event, name) => {
        const n = name?.toString() ?? '';
        // Ref writes go through a lock file (NAME.lock) first; only the rename into place counts.
        if (n.endsWith('.lock') || !keep(n)) return;
        onEvent?.(n);
        fire(join(dir, n));
      });
    } catch (e) {
      // A directory that is not there (yet): a pass still re-reads the ref; the resync covers it.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') onError(e as Error);
      return;
    }
    w.on('error', (e) => {
      watchers.delete(dir);
      w.close();
      if (!closed) onError(e);
    });
    watchers.set(dir, w);
  };
  /** refs/heads and every directory below it, each with its own (non-recursive) watch. */
  const addHeads = (dir: string) => {
    add(
      dir,
      () => true,
      // A new directory of branches (a first branch named "team/..."): watch it too.
      (name) => {
        const path = join(dir, name);
        const st = statSync(path, { throwIfNoEntry: false });
        if (st?.isDirectory()) addHeads(path);
        else if (!st && watchers.has(path)) {
          // A directory of branches removed: its watch is gone with it; a new one gets a new watch.
          watchers.get(path)!.close();
          watchers.delete(path);
        }
      },
    );
    let entries: { name: string; isDirectory(): boolean }[] = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) addHeads(join(dir, e.name));
  };
  addHeads(join(loc.gitdir, 'refs', 'heads'));
  add(loc.gitdir, (n) => GITDIR_NAMES.has(n));
  if (loc.headGitdir !== loc.gitdir) add(loc.headGitdir, (n) => n === 'HEAD');
  return {
    ready: Promise.resolve(),
    close: async () => {
      closed = true;
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
