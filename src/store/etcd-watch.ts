/** EtcdStore's watches: one etcd3 watcher each, made safe (see below). */
import { castGrpcError, type IResponseHeader, type IWatchResponse, type Watcher } from 'etcd3';
import { retryKind } from '../errors.js';
import { StoreUnavailableError, type Watch, type WatchEvent, type WatchHandler } from './store.js';

/**
 * One etcd3 watcher, made safe: resumes from the last revision delivered (not from etcd3's idea,
 * which can skip history that was still being replayed), drops duplicates, calls the handler once
 * per revision, and turns a cancellation (compaction) into onError.
 */
export class EtcdWatch implements Watch {
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
    /** The store's classification of an etcd3 error (EtcdStore.fail). */
    private readonly classify: (e: unknown) => Error,
  ) {
    this.seen = fromRevision !== undefined ? fromRevision - 1 : -1;
    // etcd3 emits these from inside grpc stream callbacks: nothing may throw out of them.
    watcher.on('connected', (res: IWatchResponse) => {
      if (this.seen < 0) this.seen = Number(res.header.revision);
      this.isConnected = true;
      for (const w of this.connectedWaiters.splice(0)) w();
    });
    watcher.on('disconnected', (err: Error) => {
      // A watch etcd will never accept (credentials refused): etcd3 would retry it forever, so
      // the caller waiting for it to start learns why now, as the fatal error it is.
      const e = this.isConnected ? null : this.classify(castGrpcError(err));
      if (e && retryKind(e) === 'fatal') {
        for (const w of this.connectedWaiters.splice(0)) w(e);
        return;
      }
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
