/**
 * Open the store the CLI's flags describe (docs/cli.md): etcd at `--etcd` (default env
 * GITFLEET_ETCD, else http://127.0.0.1:2379) under `--prefix`, with `--etcd-ca/--etcd-cert/--etcd-key`
 * and `--etcd-user` (password from GITFLEET_ETCD_PASSWORD); or the in-process memory store.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_PREFIX, normalizePrefix } from './checks.js';
import { EtcdStore } from './etcd.js';
import { MemoryStore, type MemoryBackend } from './memory.js';
import type { Store } from './store.js';

export const DEFAULT_ETCD = 'http://127.0.0.1:2379';

export interface EtcdOpenOptions {
  /** Comma-separated client URLs. Default: env GITFLEET_ETCD, else http://127.0.0.1:2379. */
  etcd?: string;
  /** Key prefix. Default /gitfleet/ ('/' appended when missing). */
  prefix?: string;
  /** PEM file paths. */
  ca?: string;
  cert?: string;
  key?: string;
  user?: string;
  /** Default: env GITFLEET_ETCD_PASSWORD (when a user is given). */
  password?: string;
  /** Deadline of each unary etcd call; see EtcdStoreOptions. */
  callTimeoutMs?: number;
}

export interface MemoryOpenOptions {
  memory: true;
  prefix?: string;
  /** Share state with other stores opened on the same backend. */
  backend?: MemoryBackend;
}

/** Wrong store flags: the CLI reports the message and exits with status 2 (usage). */
export class StoreConfigError extends Error {
  override name = 'StoreConfigError';
}

/** Parse `--etcd`: comma-separated http(s) URLs, all of one scheme. */
export function parseEndpoints(raw: string): string[] {
  const urls = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (urls.length === 0) throw new StoreConfigError('--etcd: no endpoint given (expected e.g. http://127.0.0.1:2379)');
  for (const u of urls) {
    if (!u.includes('://')) throw new StoreConfigError(`--etcd: "${u}" needs a scheme, e.g. http://${u}`);
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new StoreConfigError(`--etcd: "${u}" is not a URL (expected e.g. http://127.0.0.1:2379)`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new StoreConfigError(`--etcd: "${u}" must be an http:// or https:// URL`);
    }
    if (!parsed.port) throw new StoreConfigError(`--etcd: "${u}" has no port (etcd's client port is usually 2379)`);
  }
  const schemes = new Set(urls.map((u) => new URL(u).protocol));
  if (schemes.size > 1) throw new StoreConfigError(`--etcd: mixes http:// and https:// endpoints (${urls.join(',')})`);
  return urls;
}

export function readPem(flag: string, file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new StoreConfigError(
      `${flag}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

/**
 * The store the options describe. Throws StoreConfigError (naming the flag) for bad options; does
 * not contact etcd (the first call does, and fails with StoreUnavailableError if it cannot).
 */
export function openStore(opts: EtcdOpenOptions | MemoryOpenOptions = {}): Store {
  let prefix: string;
  try {
    prefix = normalizePrefix(opts.prefix ?? DEFAULT_PREFIX);
  } catch (e) {
    throw new StoreConfigError(`--prefix: ${(e as Error).message}`);
  }
  if ('memory' in opts) return new MemoryStore({ prefix, ...(opts.backend ? { backend: opts.backend } : {}) });

  const endpoints = parseEndpoints(opts.etcd ?? (process.env.GITFLEET_ETCD || DEFAULT_ETCD));
  const ca = readPem('--etcd-ca', opts.ca);
  const cert = readPem('--etcd-cert', opts.cert);
  const key = readPem('--etcd-key', opts.key);
  if ((cert === undefined) !== (key === undefined)) {
    throw new StoreConfigError('--etcd-cert and --etcd-key go together: give both or neither');
  }
  if ((ca || cert) && !endpoints[0]!.startsWith('https://')) {
    throw new StoreConfigError('--etcd-ca/--etcd-cert/--etcd-key need https:// endpoints in --etcd');
  }
  let password: string | undefined;
  if (opts.user !== undefined) {
    password = opts.password ?? process.env.GITFLEET_ETCD_PASSWORD;
    if (password === undefined)
      throw new StoreConfigError(`--etcd-user ${opts.user}: set the password in GITFLEET_ETCD_PASSWORD`);
  }
  return new EtcdStore({
    endpoints,
    prefix,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(opts.user !== undefined ? { user: opts.user, password } : {}),
    ...(opts.callTimeoutMs !== undefined ? { callTimeoutMs: opts.callTimeoutMs } : {}),
  });
}
