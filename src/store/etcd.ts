/**
 * The Store over a real etcd (v3 API), through the etcd3 package.
 *
 * What this adds to etcd3 (shared/RECIPES.md lists the pitfalls it answers):
 * - Deadlines on every unary call and none on streams, and fault handling of our own (below), so a
 *   dead or hung etcd fails a call with StoreUnavailableError within about one deadline.
 * - grpc keepalive pings, so a half-open TCP connection is noticed.
 * - Paged ranges pinned to one revision, so 10,000+ keys or more than 4 MiB read in one consistent view.
 * - The 128-operation limit checked before sending, with an error that says what to do.
 * - Leases that report loss when no keep-alive has succeeded for a whole TTL (etcd3 says so late).
 * - Watches that resume from the last revision actually delivered, deliver one call per revision,
 *   and report compaction to the caller instead of dying.
 * - Exceptions thrown by handlers are caught and logged, never allowed to crash the process.
 */
import { grpcMessage } from './grpcmessage.js';
import {
  EtcdAuthenticationFailedError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  Etcd3,
  GRPCDeadlineExceededError,
  GRPCResourceExhastedError,
  GRPCUnavailableError,
  isRecoverableError,
  ClientClosedError,
  type IOptions,
  type Lease as EtcdLease,
  type Watcher,
  type IKeyValue,
  type IRequestOp,
  type ICompare,
  type IWatchResponse,
  type IResponseHeader,
} from 'etcd3';
import { checkTtl, checkTxnSize, DEFAULT_PREFIX, defaultLog, normalizePrefix } from './checks.js';
import {
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

export interface EtcdStoreOptions {
  /** Client URLs, http:// or https:// (not mixed). */
  endpoints: string[];
  /** Namespace every key lives under; '/' is appended when missing. Default '/gitfleet/'. */
  prefix?: string;
  /** PEM contents (openStore reads the files). ca verifies the server; cert + key authenticate this client. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** etcd user/password authentication (both or neither). */
  user?: string;
  password?: string;
  /** Deadline of each unary call (get, range page, put, delete, txn, lease grant/revoke). Default 1500 ms. */
  callTimeoutMs?: number;
  /** How long watch() waits for etcd to accept a new watch. Default 3000 ms. */
  watchCreateTimeoutMs?: number;
  /** Keys per range page. Default 1000 (halved automatically when a page exceeds the receive limit). */
  pageSize?: number;
  /** Where handler exceptions and other non-fatal problems are reported. Default: the project logger (warn). */
  log?: (message: string) => void;
}

const DEFAULT_CALL_TIMEOUT_MS = 1500;
const DEFAULT_WATCH_CREATE_TIMEOUT_MS = 3000;
const DEFAULT_PAGE_SIZE = 1000;
/** A page of 1,000 unit bodies easily passes grpc's default 4 MiB; paging keeps pages bounded. */
const MAX_RECEIVE_BYTES = 64 * 1024 * 1024;
/** A host that timed out this many times in a row is skipped for BREAKER_OPEN_MS. */
const BREAKER_THRESHOLD = 2;
const BREAKER_OPEN_MS = 1000;

/** The smallest key greater than every key starting with `prefix` (etcd's range_end for a prefix). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** A call blocked because its host recently timed out repeatedly (our circuit breaker). */
class HostSkippedError extends Error {
  override name = 'HostSkippedError';
}

// ---- fault handling ----------------------------------------------------------------------------
// etcd3 takes cockatiel policies (structurally typed); the two below are what we need and nothing
// more, written here rather than importing cockatiel, which is only a transitive dependency.
//  - global: try the call on each endpoint at most once, and only after fast failures (so a dead
//    member is stepped over, a single dead etcd costs one attempt, not etcd3's default three, and
//    no call takes much longer than one deadline).
//  - host: after BREAKER_THRESHOLD consecutive deadline expiries, skip the host for BREAKER_OPEN_MS
//    (etcd3 then tries the next host, or fails at once when none is left). Connection refusals are
//    fast already and do not trip it, so a restarted etcd is used again immediately.

const noEvent = () => ({ dispose() {} });

/**
 * Worth another host: the call failed fast (connection refused, member without a leader, host
 * skipped). A deadline expiry is not retried: it spent the caller's time budget already, and a
 * retry would turn one deadline into several.
 */
function retryableElsewhere(e: unknown): boolean {
  return e instanceof GRPCUnavailableError || e instanceof HostSkippedError;
}

function retryOnOtherHosts(attempts: number) {
  return {
    onSuccess: noEvent,
    onFailure: noEvent,
    async execute<T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> {
      const signal = new AbortController().signal;
      for (let i = 1; ; i++) {
        try {
          return await fn({ signal });
        } catch (e) {
          if (i >= attempts || !retryableElsewhere(e)) throw e;
        }
      }
    },
  };
}

function hostBreaker(host: string) {
  let timeouts = 0;
  let openUntil = 0;
  return {
    onSuccess: noEvent,
    onFailure: noEvent,
    async execute<T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> {
      if (Date.now() < openUntil) {
        throw new HostSkippedError(
          `etcd at ${host} timed out ${BREAKER_THRESHOLD} times in a row; skipped for ${BREAKER_OPEN_MS} ms`,
        );
      }
      try {
        const r = await fn({ signal: new AbortController().signal });
        timeouts = 0;
        return r;
      } catch (e) {
        if (e instanceof GRPCDeadlineExceededError) {
          // Stays at the threshold after opening: the first call after the pause that also times
          // out re-opens at once (half-open).
          timeouts = Math.min(timeouts + 1, BREAKER_THRESHOLD);
          if (timeouts >= BREAKER_THRESHOLD) openUntil = Date.now() + BREAKER_OPEN_MS;
        }
        throw e;
      }
    },
  };
}

/** Watch reconnect delays: 100 ms doubling to 1 s (etcd3's default grows to 30 s). */
function cappedBackoff(duration = 100): { duration: number; next(): ReturnType<typeof cappedBackoff> } {
  return { duration, next: () => cappedBackoff(Math.min(duration * 2, 1000)) };
}

export { DEFAULT_PREFIX, normalizePrefix };

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

    const timeout = this.callTimeoutMs;
    const options: IOptions = {
      hosts: opts.endpoints,
      // Streams (watch, lease keep-alive) must get no deadline or they die when it passes (etcd3 #137).
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      dialTimeout: timeout,
      grpcOptions: {
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
      },
      faultHandling: {
        global: retryOnOtherHosts(opts.endpoints.length) as unknown as NonNullable<IOptions['faultHandling']>['global'],
        host: ((h: string) => hostBreaker(h)) as unknown as NonNullable<IOptions['faultHandling']>['host'],
        watchBackoff: cappedBackoff() as unknown as NonNullable<IOptions['faultHandling']>['watchBackoff'],
      },
    };
    if ((opts.cert === undefined) !== (opts.key === undefined)) {
      throw new Error('etcd store: a client certificate and its key go together (give both or neither)');
    }
    if (opts.ca || opts.cert) {
      if (!opts.endpoints.every((u) => u.startsWith('https://'))) {
        throw new Error(
          `etcd store: TLS certificates were given but not every endpoint is https:// (${opts.endpoints.join(',')})`,
        );
      }
      options.credentials = {
        // grpc accepts null for "the system's roots"; etcd3's type says Buffer.
        rootCertificate: (opts.ca ?? null) as Buffer,
        ...(opts.cert ? { certChain: opts.cert } : {}),
        ...(opts.key ? { privateKey: opts.key } : {}),
      };
    }
    if (opts.user !== undefined) {
      if (opts.password === undefined) throw new Error(`etcd store: user "${opts.user}" given without a password`);
      options.auth = { username: opts.user, password: opts.password };
    }
    this.client = new Etcd3(options);
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

  /** Turn an etcd3/grpc error into ours: StoreUnavailableError when retrying later may help. */
  private fail(e: unknown, what: string): Error {
    if (e instanceof StoreUnavailableError) return e;
    if (e instanceof ClientClosedError || this.closed) return new Error(`${what}: the store is closed`);
    const msg = grpcMessage(e instanceof Error ? e.message : String(e));
    const where = `etcd ${this.endpoints.join(',')}`;
    if (
      e instanceof HostSkippedError ||
      (e instanceof Error && isRecoverableError(e) && !(e instanceof GRPCResourceExhastedError))
    ) {
      const why = e instanceof GRPCDeadlineExceededError ? `no answer within ${this.callTimeoutMs} ms` : msg;
      return new StoreUnavailableError(`${what}: ${where} is unavailable (${why})`, { cause: e });
    }
    if (e instanceof EtcdAuthenticationFailedError) {
      return new Error(`${what}: ${where} refused the user name or password (authentication failed)`, { cause: e });
    }
    if (e instanceof EtcdPermissionDeniedError) {
      return new Error(`${what}: ${where} denied permission under "${this.prefix}"`, { cause: e });
    }
    // etcd says "request is too large" past --max-request-bytes, and its grpc layer refuses a
    // message more than 0.5 MiB beyond that before etcd sees it.
    if (/request is too large|received message larger than max/i.test(msg)) {
      return new Error(
        `${what}: ${where} refused the request as too large (etcd's --max-request-bytes, default 1.5 MiB): write ` +
          `less per request`,
        { cause: e },
      );
    }
    return new Error(`${what}: ${where} failed: ${msg}`, { cause: e });
  }

  private checkOpen(what: string): void {
    if (this.closed) throw new Error(`${what}: the store is closed`);
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
   * Reads the prefix in pages of `pageSize` keys. Every page after the first is read at the first
   * page's revision, so the result is one consistent snapshot whatever its size.
   */
  async range(prefix: string, opts: { keysOnly?: boolean } = {}): Promise<RangeResult> {
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
              limit: this.pageSize,
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
    try {
      const res = await this.client.kv.txn({
        compare: compares.map((c) => this.compare(c)),
        success: success.map((o) => this.op(o)),
        failure: failure.map((o) => this.op(o)),
      });
      return { succeeded: res.succeeded, revision: Number(res.header.revision) };
    } catch (e) {
      if (e instanceof EtcdLeaseInvalidError)
        throw new Error('txn: a put names a lease that does not exist (expired or revoked)', { cause: e });
      throw this.fail(e, `txn (${success.length} ops${failure.length ? ` / ${failure.length} on failure` : ''})`);
    }
  }

  private compare(c: Compare): ICompare {
    const result = ({ '==': 'Equal', '!=': 'NotEqual', '<': 'Less', '>': 'Greater' } as const)[c.op];
    const key = this.full(c.key);
    switch (c.target) {
      case 'modRevision':
        return { key, result, target: 'Mod', mod_revision: c.value };
      case 'createRevision':
        return { key, result, target: 'Create', create_revision: c.value };
      case 'version':
        return { key, result, target: 'Version', version: c.value };
      case 'value':
        return { key, result, target: 'Value', value: Buffer.from(c.value) };
      case 'lease':
        return { key, result, target: 'Lease', lease: c.value };
    }
  }

  private op(o: Op): IRequestOp {
    switch (o.op) {
      case 'put':
        return {
          request_put: {
            key: this.full(o.key),
            value: Buffer.from(o.value),
            ...(o.lease && o.lease !== '0' ? { lease: o.lease } : {}),
          },
        };
      case 'delete':
        return { request_delete_range: { key: this.full(o.key) } };
      case 'deletePrefix': {
        const key = this.full(o.prefix);
        return { request_delete_range: { key, range_end: prefixEnd(key) } };
      }
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

/**
 * A lease kept alive by etcd3 (a keep-alive every TTL/3). Loss is reported once, on the first of:
 * etcd says the lease is gone (TTL 0, not found), or no keep-alive has succeeded for a whole TTL
 * (etcd may well have expired it by then; etcd3 would only say so after 2 x TTL). After a loss the
 * keep-alives stop: the owner grants a new lease and rewrites its keys.
 */
class EtcdStoreLease implements Lease {
  id = '0';
  private lastAlive = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private granted = false;
  private done = false;

  constructor(
    private readonly inner: EtcdLease,
    readonly ttlSeconds: number,
    private readonly opts: LeaseOptions,
    private readonly log: (m: string) => void,
    private readonly forget: () => void,
    private readonly storeClosed: () => boolean,
  ) {
    inner.on('lost', (err) => this.lost(new Error(`lease ${this.id} lost: ${err.message}`, { cause: err })));
    inner.on('keepaliveSucceeded', () => (this.lastAlive = Date.now()));
  }

  /** Called once granted: start watching for silence. */
  start(): void {
    this.granted = true;
    this.lastAlive = Date.now();
    const every = Math.min(1000, Math.max(100, (this.ttlSeconds * 1000) / 10));
    this.timer = setInterval(() => {
      const silent = Date.now() - this.lastAlive;
      if (silent >= this.ttlSeconds * 1000) {
        this.lost(
          new Error(
            `lease ${this.id} presumed lost: no keep-alive succeeded for ${silent} ms (TTL ${this.ttlSeconds} s)`,
          ),
        );
      }
    }, every);
    this.timer.unref();
  }

  private lost(err: Error): void {
    // A failed grant also emits 'lost' in etcd3: grantLease() reports that one by throwing.
    if (this.done || !this.granted) return;
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
    this.inner.release();
    this.forget();
  }

  async revoke(): Promise<void> {
    if (this.storeClosed())
      throw new Error(`revoke lease ${this.id}: the store is closed (its keys expire after the TTL)`);
    if (this.timer) clearInterval(this.timer);
    this.done = true;
    this.forget();
    try {
      await this.inner.revoke();
    } catch (e) {
      const msg = grpcMessage(e instanceof Error ? e.message : String(e));
      throw isRecoverableError(e as Error)
        ? new StoreUnavailableError(`revoke lease ${this.id}: etcd is unavailable (${msg})`, { cause: e })
        : new Error(`revoke lease ${this.id}: ${msg}`, { cause: e });
    }
  }

  release(): void {
    if (!this.done) this.stop();
  }
}

/**
 * One etcd3 watcher, made safe: resumes from the last revision delivered (not from etcd3's idea,
 * which can skip history that was still being replayed), drops duplicates, calls the handler once
 * per revision, and turns a cancellation (compaction) into onError.
 */
class EtcdWatch implements Watch {
  /** Every event at or below this revision has been delivered (or did not exist for this prefix). */
  private seen: number;
  /** No more events or errors go to the handler (closed by the caller, or ended by etcd). */
  private closed = false;
  /** etcd cancelled the watch: nothing left to cancel. */
  private ended = false;
  private isConnected = false;
  private readonly connectedWaiters: Array<(e?: Error) => void> = [];

  constructor(
    private readonly watcher: Watcher,
    fromRevision: number | undefined,
    private readonly handler: WatchHandler,
    private readonly rel: (key: Buffer) => string,
    private readonly log: (m: string) => void,
    private readonly cancelTimeoutMs: number,
    private readonly forget: () => void,
  ) {
    this.seen = fromRevision !== undefined ? fromRevision - 1 : -1;
    // etcd3 emits these from inside grpc stream callbacks: nothing may throw out of them.
    watcher.on('connected', (res: IWatchResponse) => {
      if (this.seen < 0) this.seen = Number(res.header.revision);
      this.isConnected = true;
      for (const w of this.connectedWaiters.splice(0)) w();
    });
    watcher.on('disconnected', () => {
      // Resume exactly after what was delivered.
      if (this.seen >= 0)
        (watcher.request as { start_revision?: number | string }).start_revision = String(this.seen + 1);
    });
    watcher.on('data', (res: IWatchResponse) => this.onData(res));
    watcher.on('error', (err: Error) => this.onError(err));
  }

  connected(timeoutMs: number): Promise<void> {
    if (this.isConnected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        reject(new StoreUnavailableError(`etcd did not accept the watch within ${timeoutMs} ms`));
      }, timeoutMs);
      this.connectedWaiters.push((e) => {
        clearTimeout(t);
        if (e) reject(e);
        else resolve();
      });
    });
  }

  private onData(res: IWatchResponse): void {
    if (this.closed) return;
    try {
      const byRev = new Map<number, WatchEvent[]>();
      for (const ev of res.events) {
        const rev = Number(ev.kv.mod_revision);
        if (rev <= this.seen) continue; // replayed after a reconnect
        const kv: WatchEvent['kv'] =
          ev.type === 'Delete'
            ? { key: this.rel(ev.kv.key), value: '', createRevision: 0, modRevision: rev, version: 0, lease: '0' }
            : {
                key: this.rel(ev.kv.key),
                value: ev.kv.value.toString(),
                createRevision: Number(ev.kv.create_revision),
                modRevision: rev,
                version: Number(ev.kv.version),
                lease: String(ev.kv.lease ?? '0'),
              };
        let batch = byRev.get(rev);
        if (!batch) byRev.set(rev, (batch = []));
        batch.push({ type: ev.type === 'Delete' ? 'delete' : 'put', kv });
      }
      for (const [rev, events] of byRev) {
        this.seen = rev;
        if (this.closed) return;
        try {
          this.handler.onEvents(events);
        } catch (e) {
          this.log(
            `watch handler threw at revision ${rev}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
          );
        }
      }
      // A response without events is a progress notification, sent only to watchers that have
      // caught up: everything up to its header revision has been seen.
      if (res.events.length === 0) this.seen = Math.max(this.seen, Number((res.header as IResponseHeader).revision));
    } catch (e) {
      this.log(`watch: could not handle a response: ${String(e)}`);
    }
  }

  private onError(err: Error): void {
    if (this.closed) return;
    // etcd cancels a watch whose start was compacted with compact_revision set and NO reason
    // (etcd3 passes on only the reason); every other cancellation names its reason.
    const compacted = /compacted/.test(err.message) || /^Watcher canceled: *$/.test(err.message);
    const e = compacted
      ? new Error(
          `watch from revision ${this.seen + 1}: that revision has been compacted; re-read with range() and watch ` +
            `again`,
          { cause: err },
        )
      : new Error(`watch stopped by etcd: ${err.message}`, { cause: err });
    this.closed = true;
    this.ended = true;
    this.forget();
    // Before connecting, a compaction still counts as a watch that started and then failed: the
    // caller learns it the same way in both stores (onError, asynchronously).
    for (const w of this.connectedWaiters.splice(0)) w();
    setImmediate(() => {
      try {
        this.handler.onError?.(e);
      } catch (x) {
        this.log(`watch onError handler threw: ${String(x)}`);
      }
      if (!this.handler.onError) this.log(`${e.message} (no onError handler)`);
    });
  }

  async close(): Promise<void> {
    if (this.closed && (this.ended || !this.isConnected)) return;
    this.closed = true;
    this.ended = true;
    this.forget();
    for (const w of this.connectedWaiters.splice(0)) w(new Error('watch closed'));
    // etcd3 waits for etcd to confirm the cancel; a hung etcd must not hang close().
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      this.watcher.cancel().catch(() => undefined),
      new Promise<void>((r) => {
        t = setTimeout(r, this.cancelTimeoutMs);
        t.unref();
      }),
    ]);
    if (t) clearTimeout(t);
  }
}
