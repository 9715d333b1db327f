/** The controller's CommitLoader: a commit of a git repository -> desired state or diagnostics. */
import { readCommitSnapshot } from '../source/git.js';
import { desiredFromSnapshot } from '../desired/build.js';
import type { CommitLoader } from './controller.js';

export const loadCommit: CommitLoader = async (gitdir, commit, path) => {
  // A fresh isomorphic-git cache per pass: shared by every read of this commit, and never stale
  // across fetches or `git gc` of the repository between passes.
  const snap = await readCommitSnapshot(gitdir, commit, { path, cache: {} });
  const { desired, diagnostics } = desiredFromSnapshot(snap, commit);
  return { desired, diagnostics };
};
