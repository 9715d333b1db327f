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

/** Open the store, run `fn`, always close; an unreachable etcd becomes one clear line (exit 1). */
export async function withStore<T>(flags: StoreFlags, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openEtcdStore(flags);
  try {
    return await fn(store);
  } catch (e) {
    const { StoreUnavailableError } = await import('../store/store.js');
    if (e instanceof StoreUnavailableError) {
      const { CliError } = await import('./errors.js');
      throw new CliError(`cannot reach etcd at ${etcdDisplay(flags)}: ${e.message}`);
    }
    throw e;
  } finally {
    await store.close();
  }
}

export function writeOut(text: string): void {
  process.stdout.write(text);
}
