/**
 * Linked worktrees (`git worktree add`): their `.git` file points to a git dir of their own that
 * holds HEAD and the index, while objects and every other ref live in the main repository's git
 * dir, named by a `commondir` file. isomorphic-git does not know `commondir`, so gitfleet reads
 * objects and refs from the common dir and HEAD from the worktree's own git dir.
 */
import fs from 'node:fs';
import { join, resolve } from 'node:path';

/** The git dir holding objects and shared refs: `gitdir` itself unless it is a linked worktree's. */
export function commonDirOf(gitdir: string): string {
  try {
    const rel = fs.readFileSync(join(gitdir, 'commondir'), 'utf8').trim();
    if (rel) return resolve(gitdir, rel);
  } catch {
    // not a linked worktree
  }
  return gitdir;
}

/** What HEAD in `gitdir` says: a symbolic ref (`refs/heads/main`) or a detached commit id; null if unreadable. */
export function readHeadFile(gitdir: string): { ref?: string; sha?: string } | null {
  let text: string;
  try {
    text = fs.readFileSync(join(gitdir, 'HEAD'), 'utf8').trim();
  } catch {
    return null;
  }
  const m = /^ref:\s*(\S+)$/.exec(text);
  if (m) return { ref: m[1]! };
  if (/^[0-9a-f]{40}$/.test(text)) return { sha: text };
  return null;
}
