import { readFileSync } from 'node:fs';
import type { Store } from '../store/store.js';
import { UsageError } from './errors.js';

/** Flags every cluster command shares (docs/cli.md). */
export interface StoreFlags {
  etcd?: string;
  prefix?: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPasswordFile?: string;
}

/** The password `--etcd-password-file` names (one line; surrounding whitespace dropped). */
function readPasswordFile(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  let s: string;
  try {
    s = readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new UsageError(`--etcd-password-file: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  if (!s) throw new UsageError(`--etcd-password-file: ${file} is empty`);
  return s;
}

/** Open the cluster's etcd as the flags say (bad flags: exit 2, naming the flag). */
export async function openEtcdStore(flags: StoreFlags): Promise<Store> {
  const { openStore, StoreConfigError } = await import('../store/open.js');
  if (flags.etcdPasswordFile !== undefined && flags.etcdUser === undefined)
    throw new UsageError('--etcd-password-file needs --etcd-user (the user whose password it holds)');
  const password = readPasswordFile(flags.etcdPasswordFile);
  try {
    return openStore({
      etcd: flags.etcd,
      prefix: flags.prefix,
      ca: flags.etcdCa,
      cert: flags.etcdCert,
      key: flags.etcdKey,
      user: flags.etcdUser,
      ...(password !== undefined ? { password } : {}),
    });
  } catch (e) {
    if (e instanceof StoreConfigError) throw new UsageError(e.message);
    throw e;
  }
}

export function etcdDisplay(flags: StoreFlags): string {
  return flags.etcd ?? (process.env.GITFLEET_ETCD || 'http://127.0.0.1:2379');
}

/** Neither --etcd nor $GITFLEET_ETCD: the default endpoint, or a running `gitfleet up`, is meant. */
function noEtcdGiven(flags: StoreFlags): boolean {
  return flags.etcd === undefined && !process.env.GITFLEET_ETCD;
}

/**
 * Open the store, run `fn`, always close; an unreachable etcd becomes one clear line (exit 1).
 * With `up` (the commands that read the cluster), and neither --etcd nor $GITFLEET_ETCD given, a
 * `gitfleet up` running for this directory's repository is used when there is one (endpoint.ts).
 */
export async function withStore<T>(
  flags: StoreFlags,
  fn: (store: Store) => Promise<T>,
  opts: { up?: boolean } = {},
): Promise<T> {
  let store: Store | null = null;
  let where = `etcd at ${etcdDisplay(flags)}`;
  if (opts.up && noEtcdGiven(flags)) {
    const { findRunningUp } = await import('./endpoint.js');
    const sock = await findRunningUp();
    if (sock) {
      const { SocketStore } = await import('../store/socket-client.js');
      store = await SocketStore.connect(sock).catch(() => null);
      where = `the gitfleet up at ${sock}`;
    }
  }
  store ??= await openEtcdStore(flags);
  try {
    return await fn(store);
  } catch (e) {
    const { StoreUnavailableError } = await import('../store/store.js');
    if (e instanceof StoreUnavailableError) {
      const { CliError } = await import('./errors.js');
      if (opts.up && noEtcdGiven(flags) && !where.startsWith('the gitfleet up'))
        throw new CliError(
          'no gitfleet up is running for this repository, and no --etcd given ' +
            `(nor $GITFLEET_ETCD; nothing answers at ${etcdDisplay(flags)} either)`,
        );
      throw new CliError(`cannot reach ${where}: ${e.message}`);
    }
    throw e;
  } finally {
    await store.close();
  }
}

export function writeOut(text: string): void {
  process.stdout.write(text);
}
