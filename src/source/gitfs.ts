/**
 * The file system isomorphic-git sees during one read of a commit. isomorphic-git looks every
 * object up as a loose file first (an open() that fails with ENOENT in a packed repository) and then
 * lists objects/pack again, per object: for 10,000 blobs that is 20,000 system calls and as many
 * Error objects before any content is read. Within one short read session we:
 *   - list objects/ once and answer "no such file" for loose objects whose fan-out directory
 *     (objects/ab/) did not exist when the session began;
 *   - list objects/pack once.
 * Objects reachable from a commit exist before its ref does, so a session that starts after the
 * ref was resolved sees all of them. A concurrent `git gc` can still delete what the session listed:
 * the caller retries the read with a fresh session when an object is not found.
 * Read-only: the session is never used to write.
 */
import fs from 'node:fs';
import { normalize, join } from 'node:path';
import type { PromiseFsClient } from 'isomorphic-git';

export function readSessionFs(gitdir: string): PromiseFsClient {
  const base = fs.promises;
  const objects = normalize(join(gitdir, 'objects'));
  const packDir = join(objects, 'pack');
  let fanout: Promise<Set<string>> | undefined;
  let packs: Promise<string[]> | undefined;
  const loose = /^([0-9a-f]{2})\/[0-9a-f]{38}$/;

  const notFound = (p: string): Error =>
    Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });

  const promises = {
    readFile: async (p: string, opts?: unknown) => {
      const n = normalize(p);
      if (n.startsWith(objects + '/')) {
        const m = loose.exec(n.slice(objects.length + 1));
        if (m) {
          fanout ??= base.readdir(objects).then(
            (xs) => new Set(xs),
            () => new Set<string>(),
          );
          if (!(await fanout).has(m[1]!)) throw notFound(p);
        }
      }
      return base.readFile(p, opts as never);
    },
    readdir: async (p: string, opts?: unknown) => {
      if (normalize(p) === packDir && opts === undefined) {
        packs ??= base.readdir(packDir);
        try {
          return [...(await packs)];
        } catch (e) {
          packs = undefined;
          throw e;
        }
      }
      return base.readdir(p, opts as never);
    },
    writeFile: () => Promise.reject(new Error('read-only git session')),
    unlink: () => Promise.reject(new Error('read-only git session')),
    mkdir: () => Promise.reject(new Error('read-only git session')),
    rmdir: () => Promise.reject(new Error('read-only git session')),
    symlink: () => Promise.reject(new Error('read-only git session')),
    stat: base.stat.bind(base),
    lstat: base.lstat.bind(base),
    readlink: base.readlink.bind(base),
  };
  return { promises };
}
