import { readFileSync } from 'node:fs';
import type { Store } from '../store/store.js';
import { UsageError } from './errors.js';

/** Flags every cluster command shares (shared/CLI.md). */
export interface StoreFlags {
  etcd?: string;
  prefix?: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
}

export const DEFAULT_ETCD = 'http://127.0.0.1:2379';

export function etcdEndpoints(flags: StoreFlags): string[] {
  const raw = flags.etcd ?? process.env.GITFLEET_ETCD ?? DEFAULT_ETCD;
  const urls = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (urls.length === 0) throw new UsageError('--etcd: no endpoint given');
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new UsageError(`--etcd: "${u}" is not a URL (expected e.g. http://127.0.0.1:2379)`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new UsageError(`--etcd: "${u}" must be an http:// or https:// URL`);
    }
  }
  return urls;
}

export function normalizePrefix(prefix: string | undefined): string {
  let p = prefix ?? '/gitfleet';
  if (!p.startsWith('/')) throw new UsageError(`--prefix: "${p}" must start with "/"`);
  if (!p.endsWith('/')) p += '/';
  return p;
}

function readPem(flag: string, path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Open the cluster's etcd as the flags say. */
export async function openEtcdStore(flags: StoreFlags): Promise<Store> {
  const endpoints = etcdEndpoints(flags);
  const prefix = normalizePrefix(flags.prefix);
  const { EtcdStore } = await import('../store/etcd.js');
  return new EtcdStore({
    endpoints,
    prefix,
    ca: readPem('--etcd-ca', flags.etcdCa),
    cert: readPem('--etcd-cert', flags.etcdCert),
    key: readPem('--etcd-key', flags.etcdKey),
    user: flags.etcdUser,
    password: flags.etcdUser !== undefined ? process.env.GITFLEET_ETCD_PASSWORD : undefined,
  });
}

export type Format = 'text' | 'json';

export function parseFormat<T extends string>(value: string | undefined, allowed: readonly T[], dflt: T): T {
  const v = (value ?? dflt) as T;
  if (!allowed.includes(v)) throw new UsageError(`--format: "${value}" is not one of ${allowed.join(', ')}`);
  return v;
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
      throw new CliError(`cannot reach etcd at ${etcdEndpoints(flags).join(',')}: ${e.message}`);
    }
    throw e;
  } finally {
    await store.close();
  }
}

export function writeOut(text: string): void {
  process.stdout.write(text);
}
