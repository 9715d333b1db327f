/** Finding a repository's git directory: the one rule every reader and the controller use. */
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';

/** A revision that does not name a commit, or a repository that cannot be read. Message is user-facing. */
export class GitSourceError extends Error {
  override name = 'GitSourceError';
}

const known = new Map<string, string>();

/**
 * The git directory of `dir`, as an absolute path: `dir/.git` for a work tree (or where a `.git`
 * file points: worktrees, submodules), `dir` itself for a bare repository or a git directory.
 * Throws GitSourceError when `dir` is neither. Remembered per directory: reads call it often.
 */
export function findGitdir(dir: string): string {
  const abs = resolve(dir);
  const hit = known.get(abs);
  if (hit) return hit;
  let found: string | undefined;
  const dotgit = join(abs, '.git');
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dotgit);
  } catch {
    // not a work tree; maybe bare
  }
  if (st?.isDirectory()) found = dotgit;
  else if (st?.isFile()) {
    const m = /^gitdir:\s*(.+?)\s*$/m.exec(fs.readFileSync(dotgit, 'utf8'));
    if (m) found = resolve(abs, m[1]!);
  }
  if (!found && fs.existsSync(join(abs, 'HEAD')) && fs.existsSync(join(abs, 'objects'))) found = abs;
  if (!found) {
    if (!fs.existsSync(abs)) throw new GitSourceError(`${dir} is not a git repository: it does not exist`);
    throw new GitSourceError(`${dir} is not a git repository (no .git directory, and not a bare repository)`);
  }
  known.set(abs, found);
  return found;
}
