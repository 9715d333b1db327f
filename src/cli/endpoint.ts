/**
 * How other terminals reach a running `gitfleet up`: up serves its embedded store on a unix socket
 * in its state directory (src/store/socket-server.ts), `<state dir>/endpoint/store.sock`, in a directory
 * only its user can enter. Commands that read the cluster (status, list-*, cat, journal) look for
 * it when no --etcd and no $GITFLEET_ETCD is given: in the default state dir of the current
 * directory's repository, or of any directory above it (a command run in a subdirectory finds the
 * up of the repository it is in).
 *
 * An up given its own --state-dir also links `endpoint` of the default state dir to its own, so
 * the same search finds it.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Store } from '../store/store.js';
import { defaultStateDir } from './state-dir.js';

/** up's default state directory for a repository: ~/.local/state/gitfleet/up-<hash of its path>. */
export function upStateDirFor(repo: string): string {
  const id = createHash('sha256').update(resolve(repo)).digest('hex').slice(0, 10);
  return join(defaultStateDir(), `up-${id}`);
}

export const endpointSocket = (stateDir: string) => join(stateDir, 'endpoint', 'store.sock');

/** The socket of the up running for `cwd`'s repository (or one above it), or null. */
export async function findRunningUp(cwd: string = process.cwd()): Promise<string | null> {
  const { answers } = await import('../store/socket-server.js');
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const sock = endpointSocket(upStateDirFor(dir));
    if (await answers(sock)) return sock;
    if (dirname(dir) === dir) return null;
  }
}

/** Serve up's store for other terminals; close() takes the socket (and any link to it) away. */
export async function publishUp(
  store: Store,
  stateDir: string,
  repo: string,
): Promise<{ path: string; close(): Promise<void> }> {
  const { serveStore } = await import('../store/socket-server.js');
  const server = await serveStore(store, endpointSocket(stateDir));
  const home = upStateDirFor(repo);
  let link: string | null = null;
  if (resolve(home) !== resolve(stateDir)) {
    link = join(home, 'endpoint');
    mkdirSync(home, { recursive: true, mode: 0o700 });
    try {
      if (isLink(link)) rmSync(link);
      symlinkSync(dirname(server.path), link);
    } catch {
      link = null; // another up of this repository uses the default state dir: it is the one found
    }
  }
  return {
    path: server.path,
    close: async () => {
      await server.close();
      if (link && isLink(link) && readlinkSync(link) === dirname(server.path)) rmSync(link);
    },
  };
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
