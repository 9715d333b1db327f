/**
 * Reading commits of a unit repository with isomorphic-git (local repos, bare or not). Read-only:
 * the git CLI or a push may write the same repo at the same time, and isomorphic-git has no locks.
 *
 * Every call takes the repo's shared `cache` object (RECIPES.md): without it each packed-object
 * read re-parses pack indexes. Replace the cache after a fetch.
 */
import fs from 'node:fs';
import { posix } from 'node:path';
import git, { type FsClient } from 'isomorphic-git';
import type { Diagnostic } from '../diag.js';
import type { RepoFile } from '../desired/types.js';
import { FLEET_YAML } from '../desired/fleetyaml.js';
import { parseSnapshotFleetYaml, type RepoSnapshot } from '../desired/repo.js';
import { desiredFromSnapshot, type DesiredResult } from '../desired/build.js';
import { mapLimit } from '../util/pool.js';
import { GitSourceError, findGitdir } from './gitdir.js';
import { readSessionFs } from './gitfs.js';
import { PackBlobs } from './packblobs.js';
import { MODE_GITLINK, MODE_LINK, MODE_TREE, readTreeEntries } from './tree.js';
import { commonDirOf, readHeadFile } from './worktree.js';
import {
  MAX_REPO_FILE_BYTES,
  byPath,
  checkContent,
  dropInDirLinkDiag,
  fileRole,
  normalizeSubPath,
  refusedDiag,
  symlinkDiag,
  type ReadFilesResult,
} from './files.js';

/** isomorphic-git's object cache: one per repository, shared by every call. */
export type GitCache = object;

export { GitSourceError };

interface Where {
  fs: FsClient;
  gitdir: string;
  cache: GitCache;
  /** Native-zlib fast path for packed blobs (read sessions only). */
  packs?: PackBlobs;
}

/** The directory that holds objects and refs: the git dir, or for a linked worktree its common dir. */
function objectsDirOf(dir: string): string {
  return commonDirOf(findGitdir(dir));
}

function where(dir: string, cache: GitCache = {}): Where {
  return { fs, gitdir: objectsDirOf(dir), cache };
}

/** Like where(), with the fast read-only file system of one read session (see gitfs.ts). */
function readSession(dir: string, cache: GitCache): Where {
  const gitdir = objectsDirOf(dir);
  return { fs: readSessionFs(gitdir), gitdir, cache, packs: new PackBlobs(gitdir) };
}

/**
 * Run a read session; when an object turns out missing (a concurrent gc repacked what the session
 * had listed), run it once more with a fresh session before giving up.
 */
async function withReadSession<T>(dir: string, cache: GitCache, fn: (w: Where) => Promise<T>): Promise<T> {
  const run = async (): Promise<T> => {
    const w = readSession(dir, cache);
    try {
      return await fn(w);
    } finally {
      w.packs?.close();
    }
  };
  try {
    return await run();
  } catch (e) {
    if ((e as { code?: string }).code !== 'NotFoundError') throw e;
    return run();
  }
}

// Blobs by id, across reads and commits: successive commits (the controller's next head, the two
// sides of a plan) share almost all their unit files. Keyed by repository too, so one repository's
// objects never stand in for another's. Bounded by total size, least recently used out first.
const BLOB_CACHE_BYTES = 64 * 1024 * 1024;
const blobCache = new Map<string, Uint8Array>();
let blobCacheBytes = 0;

async function readBlobCached(w: Where, oid: string): Promise<Uint8Array> {
  const key = `${w.gitdir}\0${oid}`;
  const hit = blobCache.get(key);
  if (hit) {
    blobCache.delete(key);
    blobCache.set(key, hit);
    return hit;
  }
  const blob: Uint8Array = w.packs?.read(oid) ?? (await git.readBlob({ ...w, oid })).blob;
  if (blob.byteLength <= MAX_REPO_FILE_BYTES) {
    blobCache.set(key, blob);
    blobCacheBytes += blob.byteLength;
    while (blobCacheBytes > BLOB_CACHE_BYTES) {
      const [k, v] = blobCache.entries().next().value as [string, Uint8Array];
      blobCache.delete(k);
      blobCacheBytes -= v.byteLength;
    }
  }
  return blob;
}

/** Forget every cached blob (benchmarks measure cold reads; tests isolate themselves). */
export function clearBlobCache(): void {
  blobCache.clear();
  blobCacheBytes = 0;
}

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
 * Read the unit files of `sha` under `subPath` ('' = the whole tree), recursively. Walks the trees
 * once and reads only unit-suffixed blobs, by oid. Refused entries (symlinks, submodules with unit
 * names, files over 1 MiB, binary or non-UTF-8 files) become diagnostics and are listed in
 * `rejected`; a missing or non-directory `subPath` is an error diagnostic.
 */
export async function readCommitFiles(
  dir: string,
  sha: string,
  subPath: string,
  cache: GitCache = {},
): Promise<ReadFilesResult> {
  return withReadSession(dir, cache, (w) => readFilesIn(w, sha, subPath));
}

async function readFilesIn(w: Where, sha: string, subPath: string): Promise<ReadFilesResult> {
  const out: ReadFilesResult = { files: [], dropIns: [], diagnostics: [], rejected: [] };
  const { commit } = await git.readCommit({ ...w, oid: sha });
  const start = await descend(w, commit.tree, subPath);
  if (typeof start !== 'string') {
    out.diagnostics.push(
      refusedDiag(subPath, 'SRC05', `unit directory '${subPath}' ${start.problem} in commit ${sha.slice(0, 12)}`),
    );
    return out;
  }
  const blobs: Array<{ path: string; name: string; oid: string; dropIn: boolean }> = [];
  const queue: Array<{ oid: string; path: string }> = [{ oid: start, path: subPath }];
  while (queue.length) {
    const t = queue.shift()!;
    for (const e of await readTreeEntries(w, t.oid)) {
      const path = t.path ? `${t.path}/${e.path}` : e.path;
      if (e.mode === MODE_TREE) {
        queue.push({ oid: e.oid, path });
        continue;
      }
      const r = fileRole(path, e.path);
      if (r.role === 'ignored') {
        out.diagnostics.push(r.diagnostic);
        continue;
      }
      const read = r.role !== 'other';
      const what = r.role === 'dropIn' ? 'drop-in' : 'unit file';
      if (e.mode === MODE_GITLINK) {
        out.diagnostics.push(
          refusedDiag(
            path,
            'SRC02',
            `submodule '${path}' is not read: unit files must be committed in this repository`,
            read ? 'error' : 'warning',
          ),
        );
        if (r.role === 'unit') out.rejected.push(path);
      } else if (e.mode === MODE_LINK) {
        const d = read ? symlinkDiag(path, what) : dropInDirLinkDiag(path, e.path);
        if (d) out.diagnostics.push(d);
        if (r.role === 'unit') out.rejected.push(path);
      } else if (read) blobs.push({ path, name: e.path, oid: e.oid, dropIn: r.role === 'dropIn' });
    }
  }
  // A few reads in flight overlap isomorphic-git's file system waits with inflating.
  const contents = await mapLimit(blobs, 8, (b) => readBlobCached(w, b.oid));
  blobs.forEach((b, i) => {
    const blob = contents[i]!;
    const bad = checkContent(b.path, blob, b.dropIn ? 'drop-in' : 'unit file');
    if (bad) {
      out.diagnostics.push(bad);
      if (!b.dropIn) out.rejected.push(b.path);
    } else (b.dropIn ? out.dropIns : out.files).push({ path: b.path, name: b.name, content: blob });
  });
  out.files.sort(byPath);
  out.dropIns.sort(byPath);
  return out;
}

/** Walk from a root tree down `subPath`; the tree oid, or why it is not there. */
async function descend(w: Where, root: string, subPath: string): Promise<string | { problem: string }> {
  let oid = root;
  for (const part of subPath.split('/').filter(Boolean)) {
    const e = (await readTreeEntries(w, oid)).find((x) => x.path === part);
    if (!e) return { problem: 'does not exist' };
    if (e.mode === MODE_LINK) return { problem: 'is a symbolic link (never followed)' };
    if (e.mode !== MODE_TREE) return { problem: 'is not a directory' };
    oid = e.oid;
  }
  return oid;
}

/** Read one file at `path` of a commit; null when absent. Symlinks and non-files are diagnostics. */
async function readOneFile(
  w: Where,
  sha: string,
  path: string,
  what: string,
): Promise<{ file: RepoFile | null; diagnostics: Diagnostic[] }> {
  const { commit } = await git.readCommit({ ...w, oid: sha });
  const parent = posix.dirname(path) === '.' ? '' : posix.dirname(path);
  const name = posix.basename(path);
  const t = await descend(w, commit.tree, parent);
  if (typeof t !== 'string') return { file: null, diagnostics: [] };
  const e = (await readTreeEntries(w, t)).find((x) => x.path === name);
  if (!e) return { file: null, diagnostics: [] };
  if (e.mode === MODE_LINK) return { file: null, diagnostics: [symlinkDiag(path, what)] };
  if (e.mode === MODE_TREE || e.mode === MODE_GITLINK) {
    return { file: null, diagnostics: [refusedDiag(path, 'SRC02', `${what} '${path}' is not a regular file`)] };
  }
  const blob = await readBlobCached(w, e.oid);
  const bad = checkContent(path, blob, what, false);
  if (bad) return { file: null, diagnostics: [bad] };
  return { file: { path, name, content: blob }, diagnostics: [] };
}

/**
 * Everything the desired state of a commit needs, read in one go: fleet.yaml at `path` (the
 * repository root by default), then the unit files under its `path:`. When fleet.yaml is unreadable
 * or invalid its diagnostics are kept and the units under `path` are read anyway, so one run reports
 * every problem.
 */
export async function readCommitSnapshot(
  dir: string,
  sha: string,
  opts: { path?: string; cache?: GitCache } = {},
): Promise<RepoSnapshot> {
  const cache = opts.cache ?? {};
  const base = normalizeSubPath(opts.path ?? '');
  const fy = await withReadSession(dir, cache, (w) =>
    readOneFile(w, sha, base ? `${base}/${FLEET_YAML}` : FLEET_YAML, FLEET_YAML),
  );
  const fleet = parseSnapshotFleetYaml(fy.file, base);
  const read = await readCommitFiles(dir, sha, fleet.unitDir, cache);
  return {
    base,
    fleetYaml: fy.file,
    fleetYamlResult: fleet.result,
    files: read.files,
    dropIns: read.dropIns,
    rejected: read.rejected,
    diagnostics: [...fy.diagnostics, ...read.diagnostics],
  };
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
  const snap = await readCommitSnapshot(dir, commit, { path, cache });
  return { ...desiredFromSnapshot(snap, commit), files: [...snap.files, ...snap.dropIns] };
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
  const snap = await readCommitSnapshot(dir, commit, { path, cache });
  return desiredFromSnapshot(snap, commit);
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
