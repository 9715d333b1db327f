/**
 * Git trees read and parsed here rather than by isomorphic-git. isomorphic-git refuses, while
 * parsing, any tree that holds an entry with a backslash in its name ("unsafe character
 * sequences"), because it would be unsafe to check such a path out on Windows. gitfleet never
 * checks anything out, and escaped unit names (`srv-my\x2ddata.mount`, `dev-disk-by\x2dlabel-x.device`)
 * are normal systemd names: every entry name is data here, validated by the linter (NAM01), never a
 * path on disk.
 */
import git, { type FsClient } from 'isomorphic-git';
import type { PackBlobs } from './packblobs.js';

export interface TreeEntry {
  /** Octal mode as git writes it, normalised to six digits ('040000', '100644', '120000', '160000'). */
  mode: string;
  /** The entry's name: any bytes git allows (no '/' and no NUL), decoded as UTF-8. */
  path: string;
  oid: string;
}

export const MODE_TREE = '040000';
export const MODE_LINK = '120000';
export const MODE_GITLINK = '160000';

/** A tree object that does not parse: a corrupt repository, never retried into success. */
export class MalformedTreeError extends Error {
  override name = 'MalformedTreeError';
}

/** Parse a tree object's content (`<mode> <name>\0<20-byte id>` repeated). */
export function parseTree(buf: Uint8Array, oid = ''): TreeEntry[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: TreeEntry[] = [];
  let pos = 0;
  while (pos < b.length) {
    const sp = b.indexOf(0x20, pos);
    const nul = sp < 0 ? -1 : b.indexOf(0, sp + 1);
    if (sp < 0 || nul < 0 || nul + 21 > b.length) throw new MalformedTreeError(`tree ${oid} is truncated or malformed`);
    const rawMode = b.toString('latin1', pos, sp);
    if (!/^[0-7]{5,6}$/.test(rawMode)) throw new MalformedTreeError(`tree ${oid} has an entry with mode '${rawMode}'`);
    const path = b.toString('utf8', sp + 1, nul);
    if (path === '' || path.includes('/'))
      throw new MalformedTreeError(`tree ${oid} has an entry named ${JSON.stringify(path)}`);
    out.push({ mode: rawMode.padStart(6, '0'), path, oid: b.toString('hex', nul + 1, nul + 21) });
    pos = nul + 21;
  }
  return out;
}

/** Where a tree is read from: isomorphic-git's object store, with the native pack reader first. */
export interface TreeSource {
  fs: FsClient;
  gitdir: string;
  cache: object;
  packs?: PackBlobs;
}

/** The entries of tree `oid`. */
export async function readTreeEntries(w: TreeSource, oid: string): Promise<TreeEntry[]> {
  const fast = w.packs?.read(oid, 'tree');
  if (fast) return parseTree(fast, oid);
  const obj = await git.readObject({ fs: w.fs, gitdir: w.gitdir, cache: w.cache, oid, format: 'content' });
  if (obj.type !== 'tree') throw new MalformedTreeError(`object ${oid} is a ${obj.type}, not a tree`);
  return parseTree(obj.object as Uint8Array, oid);
}
