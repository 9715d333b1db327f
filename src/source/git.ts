/**
 * A unit repository's history and commits, as the controller, `plan` and the CLI ask for them:
 * revisions resolved to commit ids (branches, tags, `~N`/`^N`), ancestry (first parent, merge base,
 * descent), and the commit loaders that turn a commit into desired state or a refusal. Reading the
 * objects is readsession.ts's; which files of a commit are read, commitfiles.ts's.
 */
import git from 'isomorphic-git';
import type { Diagnostic } from '../diag.js';
import type { RepoFile } from '../desired/types.js';
import { desiredFromSnapshot, type DesiredResult } from '../desired/build.js';
import type { RepoSnapshot } from '../desired/repo.js';
import { readCommitSnapshot } from './commitfiles.js';
import { refusedDiag } from './files.js';
import { GitSourceError, findGitdir } from './gitdir.js';
import { commitMemo, where, type GitCache, type Where } from './readsession.js';
import { readHeadFile } from './worktree.js';

export { GitSourceError };

const SHA = /^[0-9a-f]{40}$/;

/**
 * Resolve a revision to a commit id: a branch, tag (annotated tags are peeled), full or abbreviated
 * sha, HEAD, or any of those followed by `~N` / `^` / `^N` (first-parent steps, as in git).
 * Throws GitSourceError naming the revision when it does not resolve to a commit.
 */
export async function resolveRev(dir: string, rev: string, cache: GitCache = {}): Promise<string> {
  const w = where(dir, cache);
  const m = /^(.*?)((?:~\d*|\^\d*)*)$/.exec(rev.trim())!;
  const name = m[1] || 'HEAD';
  const steps = m[2] ?? '';
  let oid = await resolveName(w, name === '@' ? 'HEAD' : name, rev, dir);
  oid = await peelToCommit(w, oid, rev);
  for (const step of steps.match(/~\d*|\^\d*/g) ?? []) {
    const n = step.length > 1 ? Number(step.slice(1)) : 1;
    if (step[0] === '~') {
      for (let i = 0; i < n; i++) oid = await parentOrThrow(w, oid, 0, rev);
    } else if (n > 0) {
      oid = await parentOrThrow(w, oid, n - 1, rev);
    }
  }
  return oid;
}

async function resolveName(w: Where, name: string, rev: string, dir: string): Promise<string> {
  if (/^[0-9a-f]{4,40}$/i.test(name)) {
    try {
      return await git.expandOid({ ...w, oid: name.toLowerCase() });
    } catch {
      // could still be a branch named like hex; fall through
    }
  }
  try {
    // HEAD is per worktree (a linked worktree's own git dir); every other ref is shared.
    const head = name === 'HEAD' ? readHeadFile(findGitdir(dir)) : null;
    const ref = head?.ref ?? name;
    const oid = head?.sha ?? (await git.resolveRef({ fs: w.fs, gitdir: w.gitdir, ref }));
    // isomorphic-git#1885: a half-written ref can read back as garbage; treat as not found.
    if (SHA.test(oid)) return oid;
  } catch {
    // not a ref
  }
  throw new GitSourceError(`unknown revision '${rev}' in ${dir}`);
}

async function peelToCommit(w: Where, oid: string, rev: string): Promise<string> {
  for (let i = 0; i < 10; i++) {
    let obj: Awaited<ReturnType<typeof git.readObject>>;
    try {
      obj = await git.readObject({ ...w, oid, format: 'parsed' });
    } catch {
      throw new GitSourceError(`revision '${rev}' points to ${oid}, which is not in the repository`);
    }
    if (obj.type === 'commit') return oid;
    if (obj.type === 'tag') {
      oid = (obj.object as { object: string }).object;
      continue;
    }
    throw new GitSourceError(`revision '${rev}' is a ${obj.type}, not a commit`);
  }
  throw new GitSourceError(`revision '${rev}': too many nested tags`);
}

async function parentOrThrow(w: Where, oid: string, index: number, rev: string): Promise<string> {
  const { commit } = await git.readCommit({ ...w, oid });
  const p = commit.parent[index];
  if (!p) throw new GitSourceError(`revision '${rev}': commit ${oid.slice(0, 12)} has no parent #${index + 1}`);
  return p;
}

/** The first parent of a commit, or null for a root commit. */
export async function firstParent(dir: string, sha: string, cache: GitCache = {}): Promise<string | null> {
  const { commit } = await git.readCommit({ ...where(dir, cache), oid: sha });
  return commit.parent[0] ?? null;
}

/** The best common ancestor of two commits, or null when they share no history. */
export async function mergeBase(dir: string, a: string, b: string, cache: GitCache = {}): Promise<string | null> {
  if (a === b) return a;
  const bases = (await git.findMergeBase({ ...where(dir, cache), oids: [a, b] })) as string[];
  if (bases.length === 0) return null;
  // Several equally good bases (criss-cross merges): pick the smallest id so the answer is stable.
  return [...bases].sort()[0]!;
}

/**
 * True when `sha` is `ancestor` or has it in its history: the controller's force-push guard (a new
 * head that is not a descendant of the applied commit rewrote history). False too when the walk
 * reaches a commit the repository lacks (a shallow mirror): descent cannot be shown, so the
 * guard refuses rather than guesses.
 */
export async function isDescendant(dir: string, sha: string, ancestor: string, cache: GitCache = {}): Promise<boolean> {
  if (sha === ancestor) return true;
  try {
    return await git.isDescendent({ ...where(dir, cache), oid: sha, ancestor, depth: -1 });
  } catch (e) {
    if ((e as { code?: string }).code === 'NotFoundError') return false;
    throw e;
  }
}

/**
 * The one commit loader: the desired state of a commit (or the diagnostics that refuse it), and
 * the files it was read from (unit files and drop-ins). `dir` may be a work tree, a bare
 * repository or a git directory. Fits the controller's CommitLoader; without `cache`, a fresh one
 * serves every read of this commit and is never stale across fetches or a `git gc` between calls.
 */
export async function loadCommit(
  dir: string,
  commit: string,
  path?: string,
  cache: GitCache = {},
): Promise<DesiredResult & { files: RepoFile[] }> {
  const { snap, result } = await readAndBuild(dir, commit, path, cache);
  return { ...result, files: [...snap.files, ...snap.dropIns] };
}

/**
 * Read a commit and build its desired state, through the repository's analysis memo: what the
 * commits read before found about unchanged files (by blob id) is reused, so a commit that
 * changes one file costs about that file. Results are the same as without the memo.
 */
async function readAndBuild(
  dir: string,
  commit: string,
  path: string | undefined,
  cache: GitCache,
): Promise<{ snap: RepoSnapshot; result: DesiredResult }> {
  const memo = commitMemo(dir, path).begin();
  const snap = await readCommitSnapshot(dir, commit, { path, cache, memo });
  const result = desiredFromSnapshot(snap, commit, memo);
  memo.end();
  return { snap, result };
}

/**
 * The controller's loader: a commit's desired state or its refusal. A commit that can never be
 * read (a malformed tree) is refused (SRC08), not retried forever; a missing object or a system
 * error may pass on a later try, and is thrown.
 */
export async function loadCommitOrRefuse(
  dir: string,
  commit: string,
  path?: string,
): Promise<{ desired: DesiredResult['desired']; diagnostics: Diagnostic[] }> {
  try {
    const { desired, diagnostics } = await loadCommit(dir, commit, path);
    return { desired, diagnostics };
  } catch (e) {
    if (mayHeal(e)) throw e;
    return { desired: null, diagnostics: [unreadableCommit(commit, e)] };
  }
}

/** The desired state of a commit (no refusal for an unreadable one: its error is thrown). */
export async function loadCommitDesired(
  dir: string,
  commit: string,
  path?: string,
  cache: GitCache = {},
): Promise<DesiredResult> {
  return (await readAndBuild(dir, commit, path, cache)).result;
}

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
