/**
 * The server side of the store socket (protocol in socket-wire.ts): `gitfleet up` serves its
 * embedded store to the other commands of its user, one Connection per client, each holding the
 * leases and watches that client asked for.
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { onLines, send, type Msg } from './socket-wire.js';
import type { Compare, Lease, Op, Store, Watch } from './store.js';

/** Unix socket paths are limited to 108 bytes (sun_path), the terminating NUL included. */
export const MAX_SOCKET_PATH = 107;

export interface StoreServer {
  path: string;
  close(): Promise<void>;
}

/**
 * Serve `store` on the unix socket `path`, making its directory (mode 0700). A socket left by a
 * process that died is replaced; one that answers is another server's, and refused.
 */
export async function serveStore(store: Store, path: string): Promise<StoreServer> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH)
    throw new Error(`socket path ${path} is longer than ${MAX_SOCKET_PATH} bytes (a unix socket limit)`);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  chmodSync(dirname(path), 0o700);
  if (exists(path)) {
    if (await answers(path)) throw new Error(`${path} is served by another running process`);
    unlinkSync(path);
  }
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    const conn = new Connection(store, sock);
    sock.on('error', () => {});
    sock.on('close', () => {
      sockets.delete(sock);
      void conn.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  return {
    path,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    },
  };
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Does something accept connections on `path`? */
export function answers(path: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const done = (ok: boolean) => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** One client: its requests, and the leases and watches it holds. */
class Connection {
  private readonly leases = new Map<string, Lease>();
  private readonly watches = new Map<number, Watch>();

  constructor(
    private readonly store: Store,
    private readonly sock: Socket,
  ) {
    onLines(sock, (m) => {
      this.handle(m).then(
        (result) => send(sock, { id: m.id, result: result ?? null }),
        (e: Error) => send(sock, { id: m.id, error: { name: e?.name ?? 'Error', message: e?.message ?? String(e) } }),
      );
    });
  }

  private async handle(m: Msg): Promise<unknown> {
    const s = this.store;
    switch (m.op) {
      case 'get':
        return s.get(String(m.key));
      case 'getMany':
        if (!Array.isArray(m.keys) || !m.keys.every((k) => typeof k === 'string'))
          throw new Error('getMany: keys must be a list of strings');
        return s.getMany(m.keys as string[]);
      case 'range':
        if (m.pageSize !== undefined && !(Number.isInteger(m.pageSize) && (m.pageSize as number) > 0))
          throw new Error('range: pageSize must be a positive whole number');
        return s.range(String(m.prefix), {
          keysOnly: Boolean(m.keysOnly),
          ...(m.pageSize !== undefined ? { pageSize: m.pageSize as number } : {}),
        });
      case 'put':
        return s.put(String(m.key), String(m.value), m.lease ? { lease: String(m.lease) } : {});
      case 'delete':
        return s.delete(String(m.key));
      case 'txn':
        return s.txn(m.compares as Compare[], m.success as Op[], (m.failure ?? []) as Op[]);
      case 'grantLease': {
        const lease: Lease = await s.grantLease(Number(m.ttl), {
          onLost: (e) => {
            this.leases.delete(lease.id);
            send(this.sock, { lease: lease.id, lost: e.message });
          },
        });
        this.leases.set(lease.id, lease);
        return { id: lease.id, ttlSeconds: lease.ttlSeconds };
      }
      case 'revoke':
      case 'release': {
        const lease = this.leases.get(String(m.lease));
        this.leases.delete(String(m.lease));
        if (m.op === 'revoke') await lease?.revoke();
        else lease?.release();
        return null;
      }
      case 'watch': {
        const id = Number(m.id);
        const w = await s.watch(String(m.prefix), m.from === null ? undefined : Number(m.from), {
          onEvents: (events) => send(this.sock, { watch: id, events }),
          onError: (e) => {
            this.watches.delete(id);
            send(this.sock, { watch: id, failed: e.message });
          },
        });
        this.watches.set(id, w);
        return null;
      }
      case 'unwatch': {
        const w = this.watches.get(Number(m.watch));
        this.watches.delete(Number(m.watch));
        await w?.close();
        return null;
      }
      default:
        throw new Error(`unknown operation ${JSON.stringify(m.op)}`);
    }
  }

  /** The client went away: its watches end, its leases run out by TTL. */
  async end(): Promise<void> {
    for (const w of this.watches.values()) await w.close().catch(() => {});
    this.watches.clear();
    for (const l of this.leases.values()) l.release();
    this.leases.clear();
  }
}
