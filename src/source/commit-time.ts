import fs from 'node:fs';
import git from 'isomorphic-git';

/** When a commit was made: its committer time, in Unix seconds (git keeps whole seconds). */
export async function committerTime(gitdir: string, sha: string): Promise<number> {
  const { commit } = await git.readCommit({ fs, gitdir, oid: sha });
  return commit.committer.timestamp;
}
