/**
 * How gitfleet reads a repository's objects with isomorphic-git: where the objects are (a linked
 * worktree shares its common dir's), read sessions with a fast read-only file system and native
 * inflating of packed blobs, and one blob cache across commits. Read-only: the git CLI or a push
 * may write the same repo at the same time, and isomorphic-git has no locks.
 *
 * Every call takes the repo's shared `cache` object: without it each packed-object read re-parses
 * pack indexes. Replace the cache after a fetch.
 */
import fs from 'node:fs';
import git, { type FsClient } from 'isomorphic-git';
import { AnalysisMemo } from '../desired/memo.js';
import { MAX_REPO_FILE_BYTES } from './files.js';
import { findGitdir } from './gitdir.js';
import { readSessionFs } from './gitfs.js';
import { PackBlobs } from './packblobs.js';
import { commonDirOf } from './worktree.js';

/** isomorphic-git's object cache: one per repository, shared by every call. */
export type GitCache = object;

/** What every read needs: a file system, the objects' git dir, the cache. */
export interface Where {
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

/** Plain reads of `dir`'s objects through node's fs, outside any read session. */
export function where(dir: string, cache: GitCache = {}): Where {
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
export async function withReadSession<T>(dir: string, cache: GitCache, fn: (w: Where) => Promise<T>): Promise<T> {
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

/** A blob by id, from the cache when an earlier read of this repository has it. */
export async function readBlobCached(w: Where, oid: string): Promise<Uint8Array> {
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

// What the analysis of a repository's last commit found per file (desired/memo.ts), by objects
// directory and unit path (`--path`): the next commit of that repository re-reads and re-lints only
// what changed. Entries are keyed by content, so a memo can never serve stale results; a few
// repositories' memos are kept, the least recently used dropped first.
const MAX_MEMOS = 4;
const memos = new Map<string, AnalysisMemo>();

/** The analysis memo of `dir`'s commits read with fleet.yaml at `path`. */
export function commitMemo(dir: string, path: string | undefined): AnalysisMemo {
  const key = `${objectsDirOf(dir)}\0${path ?? ''}`;
  let m = memos.get(key);
  if (m) memos.delete(key);
  else m = new AnalysisMemo();
  memos.set(key, m);
  while (memos.size > MAX_MEMOS) memos.delete(memos.keys().next().value as string);
  return m;
}

/**
 * Forget every cached blob and every repository's analysis memo (benchmarks measure cold reads;
 * tests isolate themselves).
 */
export function clearBlobCache(): void {
  blobCache.clear();
  blobCacheBytes = 0;
  memos.clear();
}
