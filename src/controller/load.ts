/** The controller's CommitLoader: a commit of a git repository -> desired state or diagnostics. */
import type { Diagnostic } from '../diag.js';
import { readCommitSnapshot } from '../source/git.js';
import { refusedDiag } from '../source/files.js';
import { desiredFromSnapshot } from '../desired/build.js';
import type { CommitLoader } from './controller.js';

export const loadCommit: CommitLoader = async (gitdir, commit, path) => {
  // A fresh isomorphic-git cache per pass: shared by every read of this commit, and never stale
  // across fetches or `git gc` of the repository between passes.
  let snap: Awaited<ReturnType<typeof readCommitSnapshot>>;
  try {
    snap = await readCommitSnapshot(gitdir, commit, { path, cache: {} });
  } catch (e) {
    if (mayHeal(e)) throw e;
    return { desired: null, diagnostics: [unreadableCommit(commit, e)] };
  }
  const { desired, diagnostics } = desiredFromSnapshot(snap, commit);
  return { desired, diagnostics };
};

/**
 * Can reading the commit again succeed? A missing object (a concurrent `git gc`, a fetch still
 * writing) or a system call error (EMFILE, EIO) may pass; anything else is the commit's own content
 * and the same on every try, so it refuses the commit instead of being retried forever.
 */
function mayHeal(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 'NotFoundError' || (typeof code === 'string' && /^E[A-Z]+$/.test(code));
}

/** SRC08: the commit cannot be read at all (a malformed tree, an object of the wrong type). */
export function unreadableCommit(commit: string, e: unknown): Diagnostic {
  const why = e instanceof Error ? e.message : String(e);
  return refusedDiag('.', 'SRC08', `cannot read commit ${commit.slice(0, 12)}: ${why}`);
}
