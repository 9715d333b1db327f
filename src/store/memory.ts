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
  MAX_REQUEST_BYTES,
  StoreClosedError,
  StoreRequestError,
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

/** Per-operation overhead counted against MAX_REQUEST_BYTES (protobuf framing, roughly). */
const OP_OVERHEAD_BYTES = 16;

interface Entry {
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: string;
}

/** One revision of the history: the events it made, with full (backend) keys. */
interface HistoryRecord {
  revision: number;
  events: WatchEvent[];
}

interface LeaseRecord {
  id: string;
  ttlSeconds: number;
  expiresAt: number;
  keys: Set<string>;
  timer: NodeJS.Timeout | undefined;
  /** Called when the lease expires while its holder still keeps it alive (or thinks it does). */
  onExpire?: () => void;
}

interface BackendWatcher {
  start: string;
  end: string | null;
  deliver(record: HistoryRecord): void;
}

export interface MemoryBackendOptions {
  /** Revisions of history kept for watches from the past; older ones are compacted. Default 10,000. */
  historyRevisions?: number;
  /** Largest request (put or txn), in bytes of keys and values. Default 1.5 MiB, like etcd. */
  maxRequestBytes?: number;
}

/**
 * Compare two strings in UTF-8 byte order (etcd's key order). JavaScript compares UTF-16 code
 * units, which differs for characters above U+FFFF against U+E000-U+FFFF; remap the code units so
 * surrogates sort last, which gives code point order, which is UTF-8 byte order.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 || y >= 0xd800) {
        x = x >= 0xe000 ? x - 0x800 : x >= 0xd800 ? x + 0x2000 : x;
        y = y >= 0xe000 ? y - 0x800 : y >= 0xd800 ? y + 0x2000 : y;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

/** Index of the first key >= `key` in a sorted array. */
function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function inPrefix(key: string, prefix: string): boolean {
  return key.startsWith(prefix);
}

/** The shared state: what one etcd server holds. */
export class MemoryBackend {
  revision = 1;
  compactRevision = 0;
  private readonly data = new Map<string, Entry>();
  /** Keys of `data`, sorted in etcd's order. */
  private readonly sorted: string[] = [];
  private readonly history: HistoryRecord[] = [];
  private readonly leases = new Map<string, LeaseRecord>();
  private readonly watchers = new Set<BackendWatcher>();
  private nextLease = 0x1000;
  readonly historyRevisions: number;
  readonly maxRequestBytes: number;

  constructor(opts: MemoryBackendOptions = {}) {
    this.historyRevisions = opts.historyRevisions ?? 10_000;
    this.maxRequestBytes = opts.maxRequestBytes ?? MAX_REQUEST_BYTES;
  }

  get(key: string): KeyValue | null {
    const e = this.data.get(key);
    return e ? { key, ...e } : null;
  }

  range(prefix: string): KeyValue[] {
    const out: KeyValue[] = [];
    for (let i = lowerBound(this.sorted, prefix); i < this.sorted.length; i++) {
      const key = this.sorted[i]!;
      if (!inPrefix(key, prefix)) break;
      out.push({ key, ...this.data.get(key)! });
    }
    return out;
  }

  private checkSize(what: string, ops: Op[]): void {
    let bytes = 0;
    for (const o of ops) {
      bytes += OP_OVERHEAD_BYTES + Buffer.byteLength(o.op === 'deletePrefix' ? o.prefix : o.key);
      if (o.op === 'put') bytes += Buffer.byteLength(o.value);
    }
    if (bytes > this.maxRequestBytes) {
      throw new StoreRequestError(
        `${what}: request of ${bytes} bytes is too large (the store takes at most ${this.maxRequestBytes}, like ` +
          `etcd's --max-request-bytes): write less per request`,
      );
    }
  }

  private compare(c: Compare): boolean {
    const e = this.data.get(c.key);
    if (c.target === 'value') {
      // etcd: a value compare on a missing key is false whatever the operator.
      if (!e) return false;
      return c.op === '==' ? e.value === c.value : e.value !== c.value;
    }
    if (c.target === 'lease') {
      const lease = e ? e.lease : '0';
      return c.op === '==' ? lease === c.value : lease !== c.value;
    }
    const actual = e ? e[c.target] : 0;
    switch (c.op) {
      case '==':
        return actual === c.value;
      case '!=':
        return actual !== c.value;
      case '<':
        return actual < c.value;
      case '>':
        return actual > c.value;
    }
  }

  /** etcd refuses a txn that puts one key twice, or puts a key that one of its deletes covers. */
  private checkDuplicates(ops: Op[]): void {
    const puts = new Set<string>();
    for (const o of ops) {
      if (o.op !== 'put') continue;
      if (puts.has(o.key))
        throw new StoreRequestError(
          `txn: key "${o.key}" is put twice in one transaction (etcd refuses duplicate keys)`,
        );
      puts.add(o.key);
    }
    for (const o of ops) {
      if (o.op === 'delete' && puts.has(o.key)) {
        throw new StoreRequestError(
          `txn: key "${o.key}" is both put and deleted in one transaction (etcd refuses duplicate keys)`,
        );
      }
      if (o.op === 'deletePrefix') {
        for (const k of puts) {
          if (inPrefix(k, o.prefix)) {
            throw new StoreRequestError(
              `txn: key "${k}" is put and also deleted by prefix "${o.prefix}" in one transaction (etcd refuses ` +
                `duplicate keys)`,
            );
          }
        }
      }
    }
  }

  /** Apply ops as one revision (or none when nothing changes). Returns the store revision after. */
  apply(ops: Op[], what: string): number {
    this.checkSize(what, ops);
    this.checkDuplicates(ops);
    for (const o of ops) {
      if (o.op === 'put' && o.lease && o.lease !== '0' && !this.leases.has(o.lease)) {
        throw new Error(`${what}: lease ${o.lease} does not exist (expired or revoked)`);
      }
    }
    const rev = this.revision + 1;
    const events: WatchEvent[] = [];
    for (const o of ops) {
      if (o.op === 'put') events.push(this.putAt(o.key, o.value, o.lease ?? '0', rev));
      else if (o.op === 'delete') {
        const ev = this.deleteAt(o.key, rev);
        if (ev) events.push(ev);
      } else {
        for (const kv of this.range(o.prefix)) events.push(this.deleteAt(kv.key, rev)!);
      }
    }
    if (events.length > 0) this.commit(rev, events);
    return this.revision;
  }

  txn(compares: Compare[], success: Op[], failure: Op[]): TxnResult {
    const ok = compares.every((c) => this.compare(c));
    const revision = this.apply(ok ? success : failure, 'txn');
    return { succeeded: ok, revision };
  }

  private putAt(key: string, value: string, lease: string, rev: number): WatchEvent {
    const old = this.data.get(key);
    if (old && old.lease !== '0') this.leases.get(old.lease)?.keys.delete(key);
    const e: Entry = old
      ? { value, createRevision: old.createRevision, modRevision: rev, version: old.version + 1, lease }
      : { value, createRevision: rev, modRevision: rev, version: 1, lease };
    if (!old) this.sorted.splice(lowerBound(this.sorted, key), 0, key);
    this.data.set(key, e);
    if (lease !== '0') this.leases.get(lease)?.keys.add(key);
    return { type: 'put', kv: { key, ...e } };
  }

  private deleteAt(key: string, rev: number): WatchEvent | null {
    const old = this.data.get(key);
    if (!old) return null;
    if (old.lease !== '0') this.leases.get(old.lease)?.keys.delete(key);
    this.data.delete(key);
    this.sorted.splice(lowerBound(this.sorted, key), 1);
    return { type: 'delete', kv: { key, value: '', createRevision: 0, modRevision: rev, version: 0, lease: '0' } };
  }

  private commit(rev: number, events: WatchEvent[]): void {
    this.revision = rev;
    const record = { revision: rev, events };
    this.history.push(record);
    if (this.history.length > this.historyRevisions) {
      this.compact(this.history[this.history.length - this.historyRevisions - 1]!.revision);
    }
    for (const w of this.watchers) w.deliver(record);
  }

  /** Forget history up to and including `revision`: watches from there on fail as compacted. */
  compact(revision: number): void {
    if (revision > this.revision)
      throw new Error(`compact: revision ${revision} is in the future (current ${this.revision})`);
    if (revision <= this.compactRevision) return;
    this.compactRevision = revision;
    let drop = 0;
    while (drop < this.history.length && this.history[drop]!.revision <= revision) drop++;
    this.history.splice(0, drop);
  }

  /** History from `from` on, or null when part of it has been compacted. */
  historyFrom(from: number): HistoryRecord[] | null {
    if (from <= this.compactRevision) return null;
    return this.history.filter((r) => r.revision >= from);
  }

  addWatcher(w: BackendWatcher): void {
    this.watchers.add(w);
  }

  removeWatcher(w: BackendWatcher): void {
    this.watchers.delete(w);
  }

  grant(ttlSeconds: number, onExpire: () => void): LeaseRecord {
    const id = String(this.nextLease++);
    const rec: LeaseRecord = { id, ttlSeconds, expiresAt: 0, keys: new Set(), timer: undefined, onExpire };
    this.leases.set(id, rec);
    this.keepAlive(id);
    return rec;
  }

  /** Push a lease's expiry out by its TTL; false when the lease no longer exists. */
  keepAlive(id: string): boolean {
    const rec = this.leases.get(id);
    if (!rec) return false;
    // Too late (the event loop was blocked past the TTL): etcd would have expired it already.
    if (rec.expiresAt !== 0 && Date.now() >= rec.expiresAt) {
      this.expire(rec);
      return false;
    }
    rec.expiresAt = Date.now() + rec.ttlSeconds * 1000;
    if (!rec.timer) this.armExpiry(rec);
    return true;
  }

  private armExpiry(rec: LeaseRecord): void {
    rec.timer = setTimeout(
      () => {
        rec.timer = undefined;
        if (!this.leases.has(rec.id)) return;
        if (Date.now() < rec.expiresAt) this.armExpiry(rec);
        else this.expire(rec);
      },
      Math.max(0, rec.expiresAt - Date.now()) + 1,
    );
    rec.timer.unref();
  }

  private expire(rec: LeaseRecord): void {
    this.revoke(rec.id);
    rec.onExpire?.();
  }

  /** Revoke a lease: its keys go in one revision. False when it did not exist. */
  revoke(id: string): boolean {
    const rec = this.leases.get(id);
    if (!rec) return false;
    if (rec.timer) clearTimeout(rec.timer);
    this.leases.delete(id);
    const keys = [...rec.keys].sort(compareKeys);
    if (keys.length > 0) {
      const rev = this.revision + 1;
      const events = keys.map((k) => this.deleteAt(k, rev)!);
      this.commit(rev, events);
    }
    return true;
  }

  hasLease(id: string): boolean {
    return this.leases.has(id);
  }

  /** Stop every lease timer (the backend is being thrown away). */
  dispose(): void {
    for (const rec of this.leases.values()) if (rec.timer) clearTimeout(rec.timer);
    this.leases.clear();
    this.watchers.clear();
  }
}

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

  async range(prefix: string, opts: { keysOnly?: boolean } = {}): Promise<RangeResult> {
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
