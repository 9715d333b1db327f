/**
 * A Store served over a unix socket, and the client that uses it: how other commands on the same
 * machine reach the embedded store of a running `gitfleet up` (its reads, watches, and the leased
 * writes `gitfleet journal` makes). Owner-only by where it lives: the socket is made inside a
 * directory of mode 0700 (the socket's own mode is not honoured everywhere), so only the user who
 * runs `up` (and root) can connect. Nothing listens on the network.
 *
 * The protocol is JSON, one message per line. Requests `{id, op, ...}` get `{id, result}` or
 * `{id, error: {name, message}}`; a watch pushes `{watch, events}` or `{watch, failed}`, a lease
 * `{lease, lost}`. A connection's leases are released (their keys expire after the TTL, as etcd
 * does for a client that went away) and its watches closed when it ends.
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import {
  StoreAccessError,
  StoreClosedError,
  StoreRequestError,
  StoreUnavailableError,
  type Compare,
  type KeyValue,
  type Lease,
  type LeaseOptions,
  type Op,
  type RangeResult,
  type Store,
  type StoreStats,
  type TxnResult,
  type Watch,
  type WatchEvent,
  type WatchHandler,
} from './store.js';

/** Longest message accepted (a txn of 128 puts of unit bodies fits). */
const MAX_LINE = 8 * 1024 * 1024;
const CALL_TIMEOUT_MS = 10_000;
/** Unix socket paths are limited to 108 bytes (sun_path), the terminating NUL included. */
export const MAX_SOCKET_PATH = 107;

// biome-ignore lint/suspicious/noExplicitAny: messages are JSON, checked field by field where read
type Msg = Record<string, any>;

/** Split a stream into JSON lines; a line over MAX_LINE ends the connection. */
function onLines(sock: Socket, handle: (m: Msg) => void): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > MAX_LINE && !buf.includes('\n')) return void sock.destroy(new Error('message too large'));
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line) continue;
      let m: Msg;
      try {
        m = JSON.parse(line) as Msg;
      } catch {
        return void sock.destroy(new Error('not JSON'));
      }
      handle(m);
    }
  });
}

const send = (sock: Socket, m: Msg) => {
  if (!sock.destroyed) sock.write(JSON.stringify(m) + '\n');
};

// ---- the server ------------------------------------------------------------------------------

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
      case 'range':
        return s.range(String(m.prefix), { keysOnly: Boolean(m.keysOnly) });
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

// ---- the client ------------------------------------------------------------------------------

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** A Store whose calls go to serveStore() on the other end of a unix socket. */
export class SocketStore implements Store {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly watchHandlers = new Map<number, WatchHandler>();
  private readonly leaseHandlers = new Map<string, LeaseOptions>();
  private readonly counters: StoreStats = { puts: 0, deletes: 0, txns: 0, ranges: 0 };
  private closed = false;
  /** close() was called (a fatal StoreClosedError from then on), as against the connection lost. */
  private closedByUs = false;

  private constructor(
    private readonly sock: Socket,
    readonly path: string,
    private readonly log: (message: string) => void,
  ) {
    onLines(sock, (m) => this.receive(m));
    sock.on('error', () => {});
    sock.on('close', () => this.lost(new StoreUnavailableError(`the connection to ${path} closed`)));
  }

  /**
   * Connect; rejects with StoreUnavailableError when nothing answers on `path`. `log` gets what has
   * no caller to go to (an exception a watch handler threw).
   */
  static connect(
    path: string,
    opts: { timeoutMs?: number; log?: (message: string) => void } = {},
  ): Promise<SocketStore> {
    const timeoutMs = opts.timeoutMs ?? 2_000;
    const log = opts.log ?? ((m: string) => process.stderr.write(`gitfleet: ${m}\n`));
    return new Promise((resolve, reject) => {
      const sock = createConnection(path);
      const t = setTimeout(() => {
        sock.destroy();
        reject(new StoreUnavailableError(`nothing answered on ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(t);
        resolve(new SocketStore(sock, path, log));
      });
      sock.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(t);
        reject(new StoreUnavailableError(`cannot connect to ${path}: ${e.code ?? e.message}`));
      });
    });
  }

  private receive(m: Msg): void {
    if (typeof m.watch === 'number') {
      const h = this.watchHandlers.get(m.watch);
      if (!h) return;
      if (typeof m.failed === 'string') {
        this.watchHandlers.delete(m.watch);
        h.onError?.(new Error(m.failed));
      } else {
        try {
          h.onEvents(m.events as WatchEvent[]);
        } catch (e) {
          // As the Store contract says: logged, and the watch goes on.
          this.log(`watch handler threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        }
      }
      return;
    }
    if (typeof m.lease === 'string') {
      const h = this.leaseHandlers.get(m.lease);
      this.leaseHandlers.delete(m.lease);
      h?.onLost?.(new Error(String(m.lost)));
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.error) {
      // The served store's error, rebuilt as its own kind so the caller retries (or not) the same way.
      const kinds: Record<string, new (message: string) => Error> = {
        StoreUnavailableError,
        StoreAccessError,
        StoreRequestError,
        StoreClosedError,
      };
      const Kind = kinds[String(m.error.name)];
      const message = String(m.error.message);
      p.reject(Kind ? new Kind(message) : Object.assign(new Error(message), { name: String(m.error.name) }));
    } else p.resolve(m.result);
  }

  private lost(e: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.pending.clear();
    if (this.closed) return;
    this.closed = true;
    for (const h of this.watchHandlers.values()) h.onError?.(e);
    this.watchHandlers.clear();
    for (const h of this.leaseHandlers.values()) h.onLost?.(e);
    this.leaseHandlers.clear();
  }

  private call<T>(op: string, args: Msg = {}, id = this.nextId++): Promise<T> {
    if (this.closedByUs) return Promise.reject(new StoreClosedError(`${op}: the store is closed`));
    if (this.closed)
      return Promise.reject(new StoreUnavailableError(`${op}: the connection to ${this.path} is closed`));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new StoreUnavailableError(`${op}: no answer from ${this.path} within ${CALL_TIMEOUT_MS} ms`));
      }, CALL_TIMEOUT_MS);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      send(this.sock, { ...args, id, op });
    });
  }

  get(key: string): Promise<KeyValue | null> {
    this.counters.ranges++;
    return this.call('get', { key });
  }

  range(prefix: string, opts: { keysOnly?: boolean } = {}): Promise<RangeResult> {
    this.counters.ranges++;
    return this.call('range', { prefix, keysOnly: Boolean(opts.keysOnly) });
  }

  put(key: string, value: string, opts: { lease?: string } = {}): Promise<number> {
    this.counters.puts++;
    return this.call('put', { key, value, ...(opts.lease ? { lease: opts.lease } : {}) });
  }

  delete(key: string): Promise<number> {
    this.counters.deletes++;
    return this.call('delete', { key });
  }

  txn(compares: Compare[], success: Op[], failure: Op[] = []): Promise<TxnResult> {
    this.counters.txns++;
    return this.call('txn', { compares, success, failure });
  }

  async grantLease(ttlSeconds: number, opts: LeaseOptions = {}): Promise<Lease> {
    const r = await this.call<{ id: string; ttlSeconds: number }>('grantLease', { ttl: ttlSeconds });
    this.leaseHandlers.set(r.id, opts);
    return {
      id: r.id,
      ttlSeconds: r.ttlSeconds,
      revoke: async () => {
        this.leaseHandlers.delete(r.id);
        await this.call('revoke', { lease: r.id });
      },
      release: () => {
        this.leaseHandlers.delete(r.id);
        void this.call('release', { lease: r.id }).catch(() => {});
      },
    };
  }

  async watch(prefix: string, fromRevision: number | undefined, handler: WatchHandler): Promise<Watch> {
    const id = this.nextId++;
    // Registered before the call: events may arrive before its answer.
    this.watchHandlers.set(id, handler);
    try {
      await this.call('watch', { prefix, from: fromRevision ?? null }, id);
    } catch (e) {
      this.watchHandlers.delete(id);
      throw e;
    }
    return {
      close: async () => {
        if (!this.watchHandlers.delete(id)) return;
        await this.call('unwatch', { watch: id }).catch(() => {});
      },
    };
  }

  stats(): StoreStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    this.closedByUs = true;
    if (this.closed) return;
    this.closed = true;
    this.watchHandlers.clear();
    this.leaseHandlers.clear();
    this.sock.end();
    this.sock.destroy();
  }
}
