/**
 * The files of a commit that gitfleet reads: the unit files and drop-ins under a directory, one
 * file at a path (fleet.yaml), and both together as a RepoSnapshot (what desired state is built
 * from). Trees are walked once and only unit-suffixed blobs are read; what cannot be read safely
 * (symlinks, submodules, files over 1 MiB, binary or non-UTF-8) becomes a diagnostic (files.ts).
 */
import { posix } from 'node:path';
import git from 'isomorphic-git';
import type { Diagnostic } from '../diag.js';
import type { RepoFile } from '../desired/types.js';
import { FLEET_YAML } from '../desired/fleetyaml.js';
import { parseSnapshotFleetYaml, type RepoSnapshot } from '../desired/repo.js';
import type { MemoPass } from '../desired/memo.js';
import { mapLimit } from '../util/pool.js';
import { readBlobCached, withReadSession, type GitCache, type Where } from './readsession.js';
import { MODE_GITLINK, MODE_LINK, MODE_TREE, readTreeEntries, type TreeEntry } from './tree.js';
import {
  byPath,
  checkContent,
  dropInDirLinkDiag,
  fileRole,
  normalizeSubPath,
  refusedDiag,
  symlinkDiag,
  type ReadFilesResult,
} from './files.js';

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
  memo?: MemoPass,
): Promise<ReadFilesResult> {
  return withReadSession(dir, cache, (w) => readFilesIn(w, sha, subPath, memo));
}

interface BlobRef {
  path: string;
  name: string;
  oid: string;
  dropIn: boolean;
}

/** What one tree of the unit directory holds, by role (the same for every commit with this tree). */
interface TreeListing {
  path: string;
  trees: Array<{ oid: string; path: string }>;
  blobs: BlobRef[];
  diagnostics: Diagnostic[];
  rejected: string[];
}

async function readFilesIn(w: Where, sha: string, subPath: string, memo?: MemoPass): Promise<ReadFilesResult> {
  const out: ReadFilesResult = { files: [], dropIns: [], diagnostics: [], rejected: [] };
  const { commit } = await git.readCommit({ ...w, oid: sha });
  const start = await descend(w, commit.tree, subPath);
  if (typeof start !== 'string') {
    out.diagnostics.push(
      refusedDiag(subPath, 'SRC05', `unit directory '${subPath}' ${start.problem} in commit ${sha.slice(0, 12)}`),
    );
    return out;
  }
  const blobs: BlobRef[] = [];
  const queue: Array<{ oid: string; path: string }> = [{ oid: start, path: subPath }];
  for (let i = 0; i < queue.length; i++) {
    const t = queue[i]!;
    // A tree with the same id at the same path lists the same: unchanged subtrees are not parsed again.
    let listing = memo?.trees.get(t.oid) as TreeListing | undefined;
    if (listing?.path !== t.path) {
      listing = listTree(t.path, await readTreeEntries(w, t.oid));
      memo?.trees.set(t.oid, listing);
    }
    for (const sub of listing.trees) queue.push(sub);
    for (const b of listing.blobs) blobs.push(b);
    for (const d of listing.diagnostics) out.diagnostics.push(d);
    for (const p of listing.rejected) out.rejected.push(p);
  }
  // Blobs that passed the checks for an earlier commit are taken from the memo as they are (the
  // checks look at their bytes only); the others are read, a few in flight to overlap
  // isomorphic-git's file system waits with inflating.
  const contents: Array<Uint8Array | undefined> = blobs.map((b) => memo?.blobs.get(b.oid));
  const missing = blobs.flatMap((_b, i) => (contents[i] ? [] : [i]));
  const read = await mapLimit(missing, 8, (i) => readBlobCached(w, blobs[i]!.oid));
  missing.forEach((i, k) => {
    const b = blobs[i]!;
    const blob = read[k]!;
    const bad = checkContent(b.path, blob, b.dropIn ? 'drop-in' : 'unit file');
    if (bad) {
      out.diagnostics.push(bad);
      if (!b.dropIn) out.rejected.push(b.path);
    } else {
      contents[i] = blob;
      memo?.blobs.set(b.oid, blob);
    }
  });
  blobs.forEach((b, i) => {
    const content = contents[i];
    if (content) (b.dropIn ? out.dropIns : out.files).push({ path: b.path, name: b.name, content, oid: b.oid });
  });
  out.files.sort(byPath);
  out.dropIns.sort(byPath);
  return out;
}

/** Sort one tree's entries: subtrees to walk, blobs to read, and what is refused or ignored. */
function listTree(dirPath: string, entries: readonly TreeEntry[]): TreeListing {
  const out: TreeListing = { path: dirPath, trees: [], blobs: [], diagnostics: [], rejected: [] };
  for (const e of entries) {
    const path = dirPath ? `${dirPath}/${e.path}` : e.path;
    if (e.mode === MODE_TREE) {
      out.trees.push({ oid: e.oid, path });
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
    } else if (read) out.blobs.push({ path, name: e.path, oid: e.oid, dropIn: r.role === 'dropIn' });
  }
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
  return { file: { path, name, content: blob, oid: e.oid }, diagnostics: [] };
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
  opts: { path?: string; cache?: GitCache; memo?: MemoPass } = {},
): Promise<RepoSnapshot> {
  const cache = opts.cache ?? {};
  const base = normalizeSubPath(opts.path ?? '');
  const fy = await withReadSession(dir, cache, (w) =>
    readOneFile(w, sha, base ? `${base}/${FLEET_YAML}` : FLEET_YAML, FLEET_YAML),
  );
  const fleet = parseSnapshotFleetYaml(fy.file, base, opts.memo);
  const read = await readCommitFiles(dir, sha, fleet.unitDir, cache, opts.memo);
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
