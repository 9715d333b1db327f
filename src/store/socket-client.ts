/**
 * The client side of the store socket (protocol in socket-wire.ts): a Store whose calls go to the
 * store a running `gitfleet up` serves, with its errors rebuilt as the same kinds so callers retry
 * (or not) as they would against etcd.
 */
import { createConnection, type Socket } from 'node:net';
import { onLines, send, type Msg } from './socket-wire.js';
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
  type RangeOptions,
} from './store.js';

const CALL_TIMEOUT_MS = 10_000;

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

  getMany(keys: readonly string[]): Promise<Array<KeyValue | null>> {
    this.counters.ranges += keys.length;
    return this.call('getMany', { keys: [...keys] });
  }

  range(prefix: string, opts: RangeOptions = {}): Promise<RangeResult> {
    this.counters.ranges++;
    return this.call('range', {
      prefix,
      keysOnly: Boolean(opts.keysOnly),
      ...(opts.pageSize !== undefined ? { pageSize: opts.pageSize } : {}),
    });
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
