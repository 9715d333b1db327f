/**
 * The Store over a real etcd (v3 API), through the etcd3 package.
 *
 * What this adds to etcd3 (each answers a pitfall of etcd3 or grpc):
 * - Deadlines on every unary call and none on streams, and fault handling of our own
 *   (etcd-faults.ts), so a dead or hung etcd fails a call with StoreUnavailableError within
 *   about one deadline; every other error classified by kind (fatal: auth, too large, closed).
 * - grpc keepalive pings, so a half-open TCP connection is noticed.
 * - Paged ranges pinned to one revision, so 10,000+ keys or more than 4 MiB read in one consistent view.
 * - The 128-operation limit checked before sending, with an error that says what to do.
 * - Leases that report loss when no keep-alive has succeeded for a whole TTL (etcd3 says so late).
 * - Watches that resume from the last revision actually delivered, deliver one call per revision,
 *   and report compaction to the caller instead of dying.
 * - Exceptions thrown by handlers are caught and logged, never allowed to crash the process.
 *
 * The client's settings are in etcd-client.ts, the translation of compares and operations into
 * etcd's messages in etcd-requests.ts, fault handling in etcd-faults.ts, leases and watches in
 * etcd-lease.ts and etcd-watch.ts; this file is the Store itself.
 */
import { EtcdLeaseInvalidError, Etcd3, GRPCResourceExhastedError, type IKeyValue } from 'etcd3';
import { checkTtl, checkTxnSize, DEFAULT_PREFIX, defaultLog, normalizePrefix } from './checks.js';
import { etcdClientOptions, type EtcdStoreOptions } from './etcd-client.js';
import { classifyEtcdError } from './etcd-faults.js';
import { EtcdStoreLease } from './etcd-lease.js';
import { etcdCompare, etcdOp, prefixEnd } from './etcd-requests.js';
import { EtcdWatch } from './etcd-watch.js';
import { mapLimit } from '../util/pool.js';
import {
  GET_MANY_BATCH,
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

const DEFAULT_CALL_TIMEOUT_MS = 1500;
/**
 * A transaction gets one call deadline per this many operations (at least one): etcd's work for a
 * transaction grows with what it holds, and a deadline sized for one key made a loaded etcd's answer
 * to a 128-operation write come too late. The call is then given up, though etcd still applies it,
 * and the caller's retry asks for the same work again (the engine's schedule passes at 10,000 units).
 */
const TXN_OPS_PER_DEADLINE = 32;
/** getMany's transactions in flight at once. */
const GET_MANY_LANES = 4;
const DEFAULT_WATCH_CREATE_TIMEOUT_MS = 3000;
const DEFAULT_PAGE_SIZE = 1000;

// ---- the store ---------------------------------------------------------------------------------

export class EtcdStore implements Store {
  readonly prefix: string;
  private readonly ns: Buffer;
  private readonly client: Etcd3;
  private readonly callTimeoutMs: number;
  private readonly watchCreateTimeoutMs: number;
  private pageSize: number;
  private readonly log: (message: string) => void;
  private readonly endpoints: string[];
  private readonly counters: StoreStats = { puts: 0, deletes: 0, txns: 0, ranges: 0 };
  private readonly leases = new Set<EtcdStoreLease>();
  private readonly watches = new Set<EtcdWatch>();
  private closed = false;

  constructor(opts: EtcdStoreOptions) {
    if (opts.endpoints.length === 0) throw new Error('etcd store: no endpoints given');
    this.endpoints = opts.endpoints;
    this.prefix = normalizePrefix(opts.prefix ?? DEFAULT_PREFIX);
    this.ns = Buffer.from(this.prefix);
    this.callTimeoutMs = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.watchCreateTimeoutMs = opts.watchCreateTimeoutMs ?? DEFAULT_WATCH_CREATE_TIMEOUT_MS;
    this.pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
    this.log = opts.log ?? defaultLog();
    this.client = new Etcd3(etcdClientOptions(opts, this.callTimeoutMs));
  }

  // ---- key mapping ----

  private full(key: string): Buffer {
    return Buffer.concat([this.ns, Buffer.from(key)]);
  }

  private rel(key: Buffer): string {
    return key.subarray(this.ns.length).toString();
  }

  private kv(kv: IKeyValue, keysOnly = false): KeyValue {
    return {
      key: this.rel(kv.key),
      value: keysOnly ? '' : kv.value.toString(),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
      lease: String(kv.lease ?? '0'),
    };
  }

  /** An etcd3/grpc error as one of ours, classified by kind (etcd-faults.ts). */
  private fail(e: unknown, what: string, timeoutMs = this.callTimeoutMs): Error {
    return classifyEtcdError(e, what, {
      endpoints: this.endpoints,
      prefix: this.prefix,
      callTimeoutMs: timeoutMs,
      closed: this.closed,
    });
  }

  private checkOpen(what: string): void {
    if (this.closed) throw new StoreClosedError(what);
  }

  // ---- KV ----

  async get(key: string): Promise<KeyValue | null> {
    this.checkOpen(`get ${key}`);
    this.counters.ranges++;
    try {
      const res = await this.client.kv.range({ key: this.full(key) });
      const kv = res.kvs[0];
      return kv ? this.kv(kv) : null;
    } catch (e) {
      throw this.fail(e, `get ${key}`);
    }
  }

  /**
   * Read-only transactions of GET_MANY_BATCH ranges each, GET_MANY_LANES at once. A batch whose answer
   * is over the receive limit (large values) is split in two and read again.
   */
  async getMany(keys: readonly string[]): Promise<Array<KeyValue | null>> {
    const what = `get ${keys.length} keys`;
    this.checkOpen(what);
    const out: Array<KeyValue | null> = new Array(keys.length).fill(null);
    const read = async (from: number, to: number): Promise<void> => {
      this.counters.ranges += to - from;
      let res: Awaited<ReturnType<typeof this.client.kv.txn>>;
      try {
        res = await this.client.kv.txn({
          compare: [],
          success: keys.slice(from, to).map((k) => ({ request_range: { key: this.full(k) } })),
          failure: [],
        });
      } catch (e) {
        if (e instanceof GRPCResourceExhastedError && to - from > 1) {
          const mid = from + Math.floor((to - from) / 2);
          await Promise.all([read(from, mid), read(mid, to)]);
          return;
        }
        throw e;
      }
      res.responses.forEach((r, i) => {
        const kv = r.response_range?.kvs[0];
        if (kv) out[from + i] = this.kv(kv);
      });
    };
    const starts: number[] = [];
    for (let i = 0; i < keys.length; i += GET_MANY_BATCH) starts.push(i);
    try {
      // A few batches in flight: a hundred large answers at once would outrun the call deadline.
      await mapLimit(starts, GET_MANY_LANES, (i) => read(i, Math.min(keys.length, i + GET_MANY_BATCH)));
    } catch (e) {
      throw this.fail(e, what);
    }
    return out;
  }

  /**
   * Reads the prefix in pages of `pageSize` keys. Every page after the first is read at the first
   * page's revision, so the result is one consistent snapshot whatever its size.
   */
  async range(prefix: string, opts: RangeOptions = {}): Promise<RangeResult> {
    const what = `range ${prefix}*`;
    this.checkOpen(what);
    const start = this.full(prefix);
    const end = prefixEnd(start);
    const keysOnly = opts.keysOnly === true;
    for (let attempt = 0; ; attempt++) {
      const kvs: KeyValue[] = [];
      let revision = 0;
      let from = start;
      try {
        for (;;) {
          this.counters.ranges++;
          let res: Awaited<ReturnType<typeof this.client.kv.range>>;
          try {
            res = await this.client.kv.range({
              key: from,
              range_end: end,
              limit: Math.min(this.pageSize, opts.pageSize ?? this.pageSize),
              revision: revision || undefined,
              keys_only: keysOnly,
            });
          } catch (e) {
            // A page bigger than the receive limit: smaller pages, same position.
            if (e instanceof GRPCResourceExhastedError && this.pageSize > 1) {
              this.pageSize = Math.max(1, Math.floor(this.pageSize / 2));
              continue;
            }
            throw e;
          }
          if (revision === 0) revision = Number(res.header.revision);
          for (const kv of res.kvs) kvs.push(this.kv(kv, keysOnly));
          const last = res.kvs[res.kvs.length - 1];
          if (!res.more || !last) break;
          from = Buffer.concat([last.key, Buffer.from([0])]);
        }
        return { kvs, revision };
      } catch (e) {
        // The pinned revision was compacted between pages: start over at the newest revision.
        if (attempt === 0 && e instanceof Error && /compacted/.test(e.message)) continue;
        throw this.fail(e, what);
      }
    }
  }

  async put(key: string, value: string, opts: { lease?: string } = {}): Promise<number> {
    this.checkOpen(`put ${key}`);
    this.counters.puts++;
    try {
      const res = await this.client.kv.put({
        key: this.full(key),
        value: Buffer.from(value),
        ...(opts.lease && opts.lease !== '0' ? { lease: opts.lease } : {}),
      });
      return Number(res.header.revision);
    } catch (e) {
      if (e instanceof EtcdLeaseInvalidError)
        throw new Error(`put ${key}: lease ${opts.lease} does not exist (expired or revoked)`, { cause: e });
      throw this.fail(e, `put ${key}`);
    }
  }

  async delete(key: string): Promise<number> {
    this.checkOpen(`delete ${key}`);
    this.counters.deletes++;
    try {
      const res = await this.client.kv.deleteRange({ key: this.full(key) });
      return Number(res.header.revision);
    } catch (e) {
      throw this.fail(e, `delete ${key}`);
    }
  }

  async txn(compares: Compare[], success: Op[], failure: Op[] = []): Promise<TxnResult> {
    checkTxnSize(compares, success, failure);
    this.checkOpen('txn');
    this.counters.txns++;
    const full = (key: string) => this.full(key);
    const ops = compares.length + success.length + failure.length;
    const timeoutMs = this.callTimeoutMs * Math.max(1, Math.ceil(ops / TXN_OPS_PER_DEADLINE));
    try {
      const res = await this.client.kv.txn(
        {
          compare: compares.map((c) => etcdCompare(c, full)),
          success: success.map((o) => etcdOp(o, full)),
          failure: failure.map((o) => etcdOp(o, full)),
        },
        timeoutMs > this.callTimeoutMs ? { deadline: Date.now() + timeoutMs } : undefined,
      );
      return { succeeded: res.succeeded, revision: Number(res.header.revision) };
    } catch (e) {
      if (e instanceof EtcdLeaseInvalidError)
        throw new Error('txn: a put names a lease that does not exist (expired or revoked)', { cause: e });
      const what = `txn (${success.length} ops${failure.length ? ` / ${failure.length} on failure` : ''})`;
      throw this.fail(e, what, timeoutMs);
    }
  }

  // ---- leases ----

  async grantLease(ttlSeconds: number, opts: LeaseOptions = {}): Promise<Lease> {
    checkTtl(ttlSeconds);
    this.checkOpen('grant lease');
    const inner = this.client.lease(ttlSeconds);
    // etcd3 emits 'lost' (not 'error') on failure; a listener is attached before anything can fire.
    const lease = new EtcdStoreLease(
      inner,
      ttlSeconds,
      opts,
      this.log,
      () => this.leases.delete(lease),
      () => this.closed,
    );
    try {
      lease.id = await inner.grant();
    } catch (e) {
      lease.release();
      throw this.fail(e, `grant lease (TTL ${ttlSeconds} s)`);
    }
    lease.start();
    this.leases.add(lease);
    return lease;
  }

  // ---- watches ----

  async watch(prefix: string, fromRevision: number | undefined, handler: WatchHandler): Promise<Watch> {
    const what = `watch ${prefix}*`;
    this.checkOpen(what);
    const start = this.full(prefix);
    let builder = this.client.watch().inRange({ start, end: prefixEnd(start) });
    if (fromRevision !== undefined) builder = builder.startRevision(String(fromRevision));
    const watch = new EtcdWatch(
      builder.watcher(),
      fromRevision,
      handler,
      (k) => this.rel(k),
      this.log,
      this.callTimeoutMs,
      () => this.watches.delete(watch),
      (e) => this.fail(e, what),
    );
    this.watches.add(watch);
    try {
      await watch.connected(this.watchCreateTimeoutMs);
    } catch (e) {
      await watch.close();
      throw this.fail(e, what);
    }
    return watch;
  }

  stats(): StoreStats {
    return { ...this.counters };
  }

  /** Stops every watch and lease keep-alive of this client (keys bound to its leases expire by TTL). */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.watches].map((w) => w.close()));
    for (const l of [...this.leases]) l.release();
    this.closed = true;
    this.client.close();
  }
}
