/**
 * The Store in-process, with etcd's semantics: one global revision counter, per-key create/mod
 * revisions and versions, transactions with compares, leases that expire unless kept alive,
 * watches that replay history from a past revision, compaction, and the same limits (128 ops per
 * transaction, 1.5 MiB per request). Used by `gitfleet up` (one machine) and by fast tests; the
 * contract tests (test/store/contract.ts) hold it to the same behaviour as etcd.
 *
 * Several MemoryStore objects can share one MemoryBackend, each under its own prefix, the way
 * several etcd clients share one etcd.
 */
import { checkTtl, checkTxnSize, defaultLog, normalizePrefix, DEFAULT_PREFIX } from './checks.js';
import {
  StoreClosedError,
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
  type WatchHandler,
  type RangeOptions,
} from './store.js';
import {
  MemoryBackend,
  inPrefix,
  type BackendWatcher,
  type HistoryRecord,
  type MemoryBackendOptions,
} from './memory-backend.js';

export { MemoryBackend, compareKeys, type MemoryBackendOptions } from './memory-backend.js';

export interface MemoryStoreOptions {
  /** Share a backend between several stores (e.g. two prefixes, or an engine and an agent). */
  backend?: MemoryBackend;
  /** Namespace, like etcd's prefix; '/' appended when missing. Default '/gitfleet/'. */
  prefix?: string;
  /** Options for the backend this store creates when none is given. */
  backendOptions?: MemoryBackendOptions;
  /** Where handler exceptions are reported. Default: the project logger (warn). */
  log?: (message: string) => void;
}

/**
 * A Store over a MemoryBackend. Results are copies; watch events are delivered asynchronously
 * (setImmediate), one call per revision, in revision order, like etcd's.
 */
export class MemoryStore implements Store {
  readonly backend: MemoryBackend;
  readonly prefix: string;
  private readonly ownsBackend: boolean;
  private readonly log: (message: string) => void;
  private readonly counters: StoreStats = { puts: 0, deletes: 0, txns: 0, ranges: 0 };
  private readonly leases = new Set<MemoryLease>();
  private readonly watches = new Set<MemoryWatch>();
  private closed = false;

  constructor(opts: MemoryStoreOptions = {}) {
    this.ownsBackend = opts.backend === undefined;
    this.backend = opts.backend ?? new MemoryBackend(opts.backendOptions);
    this.prefix = normalizePrefix(opts.prefix ?? DEFAULT_PREFIX);
    this.log = opts.log ?? defaultLog();
  }

  private full(key: string): string {
    return this.prefix + key;
  }

  private rel(kv: KeyValue): KeyValue {
    return { ...kv, key: kv.key.slice(this.prefix.length) };
  }

  private mapOps(ops: Op[]): Op[] {
    return ops.map((o) =>
      o.op === 'deletePrefix' ? { op: 'deletePrefix', prefix: this.full(o.prefix) } : { ...o, key: this.full(o.key) },
    );
  }

  private checkOpen(what: string): void {
    if (this.closed) throw new StoreClosedError(what);
  }

  async get(key: string): Promise<KeyValue | null> {
    this.checkOpen(`get ${key}`);
    this.counters.ranges++;
    const kv = this.backend.get(this.full(key));
    return kv ? this.rel(kv) : null;
  }

  async getMany(keys: readonly string[]): Promise<Array<KeyValue | null>> {
    this.checkOpen(`get ${keys.length} keys`);
    this.counters.ranges += keys.length;
    return keys.map((key) => {
      const kv = this.backend.get(this.full(key));
      return kv ? this.rel(kv) : null;
    });
  }

  async range(prefix: string, opts: RangeOptions = {}): Promise<RangeResult> {
    this.checkOpen(`range ${prefix}*`);
    this.counters.ranges++;
    const kvs = this.backend.range(this.full(prefix)).map((kv) => {
      const r = this.rel(kv);
      if (opts.keysOnly) r.value = '';
      return r;
    });
    return { kvs, revision: this.backend.revision };
  }

  async put(key: string, value: string, opts: { lease?: string } = {}): Promise<number> {
    this.checkOpen(`put ${key}`);
    this.counters.puts++;
    const op: Op = { op: 'put', key: this.full(key), value, ...(opts.lease ? { lease: opts.lease } : {}) };
    return this.backend.apply([op], `put ${key}`);
  }

  async delete(key: string): Promise<number> {
    this.checkOpen(`delete ${key}`);
    this.counters.deletes++;
    return this.backend.apply([{ op: 'delete', key: this.full(key) }], `delete ${key}`);
  }

  async txn(compares: Compare[], success: Op[], failure: Op[] = []): Promise<TxnResult> {
    checkTxnSize(compares, success, failure);
    this.checkOpen('txn');
    this.counters.txns++;
    return this.backend.txn(
      compares.map((c) => ({ ...c, key: this.full(c.key) })),
      this.mapOps(success),
      this.mapOps(failure),
    );
  }

  async grantLease(ttlSeconds: number, opts: LeaseOptions = {}): Promise<Lease> {
    checkTtl(ttlSeconds);
    this.checkOpen('grant lease');
    const lease: MemoryLease = new MemoryLease(this.backend, ttlSeconds, opts, this.log, () =>
      this.leases.delete(lease),
    );
    this.leases.add(lease);
    return lease;
  }

  async watch(prefix: string, fromRevision: number | undefined, handler: WatchHandler): Promise<Watch> {
    this.checkOpen(`watch ${prefix}*`);
    const w: MemoryWatch = new MemoryWatch(
      this.backend,
      this.full(prefix),
      this.prefix.length,
      fromRevision,
      handler,
      this.log,
      () => this.watches.delete(w),
    );
    this.watches.add(w);
    return w;
  }

  stats(): StoreStats {
    return { ...this.counters };
  }

  /** Stops this store's watches and keep-alives (its leases then expire by TTL, as with etcd). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watches]) await w.close();
    for (const l of [...this.leases]) l.release();
    if (this.ownsBackend) this.backend.dispose();
  }
}

/** A lease kept alive every TTL/3 (like etcd3's client) until released or revoked. */
class MemoryLease implements Lease {
  readonly id: string;
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly backend: MemoryBackend,
    readonly ttlSeconds: number,
    private readonly opts: LeaseOptions,
    private readonly log: (m: string) => void,
    private readonly forget: () => void,
  ) {
    this.id = backend.grant(ttlSeconds, () =>
      this.lost(new Error(`lease ${this.id} expired (TTL ${ttlSeconds} s)`)),
    ).id;
    this.timer = setInterval(
      () => {
        if (!this.backend.keepAlive(this.id)) this.lost(new Error(`lease ${this.id} no longer exists`));
      },
      (ttlSeconds * 1000) / 3,
    );
    this.timer.unref();
  }

  private lost(err: Error): void {
    if (this.done) return;
    this.stop();
    try {
      this.opts.onLost?.(err);
    } catch (e) {
      this.log(`lease ${this.id}: onLost handler threw: ${String(e)}`);
    }
  }

  private stop(): void {
    this.done = true;
    if (this.timer) clearInterval(this.timer);
    this.forget();
  }

  async revoke(): Promise<void> {
    this.stop();
    this.backend.revoke(this.id);
  }

  release(): void {
    if (!this.done) this.stop();
  }
}

class MemoryWatch implements Watch {
  private readonly queue: HistoryRecord[] = [];
  private scheduled = false;
  private closed = false;
  private minRevision = 0;
  private readonly watcher: BackendWatcher;

  constructor(
    private readonly backend: MemoryBackend,
    prefix: string,
    private readonly nsLength: number,
    fromRevision: number | undefined,
    private readonly handler: WatchHandler,
    private readonly log: (m: string) => void,
    private readonly forget: () => void,
  ) {
    this.watcher = { start: prefix, end: null, deliver: (r) => this.push(r) };
    const from = fromRevision ?? backend.revision + 1;
    const past = backend.historyFrom(from);
    if (past === null) {
      const err = new Error(
        `watch from revision ${from}: that revision has been compacted (up to ${backend.compactRevision}); re-read ` +
          `with range() and watch again`,
      );
      this.closed = true;
      setImmediate(() => {
        forget();
        try {
          if (handler.onError) handler.onError(err);
          else log(`${err.message} (no onError handler)`);
        } catch (e) {
          log(`watch onError handler threw: ${String(e)}`);
        }
      });
      return;
    }
    // A start in the future is allowed (as in etcd): push() skips revisions before it.
    this.minRevision = from;
    for (const r of past) this.push(r);
    backend.addWatcher(this.watcher);
  }

  private push(record: HistoryRecord): void {
    if (this.closed || record.revision < this.minRevision) return;
    const prefix = this.watcher.start;
    const events = record.events.filter((e) => inPrefix(e.kv.key, prefix));
    if (events.length === 0) return;
    this.queue.push({ revision: record.revision, events });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0 && !this.closed) {
      const r = this.queue.shift()!;
      const events = r.events.map((e) => ({ type: e.type, kv: { ...e.kv, key: e.kv.key.slice(this.nsLength) } }));
      try {
        this.handler.onEvents(events);
      } catch (e) {
        this.log(
          `watch handler threw at revision ${r.revision}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
        );
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.backend.removeWatcher(this.watcher);
    this.forget();
  }
}
