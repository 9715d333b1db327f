/** EtcdStore's leases: etcd3's, kept alive, with loss reported once and early (see below). */
import { isRecoverableError, type Lease as EtcdLease } from 'etcd3';
import { StoreClosedError, StoreUnavailableError, type Lease, type LeaseOptions } from './store.js';

/**
 * A lease kept alive by etcd3 (a keep-alive every TTL/3). Loss is reported once, on the first of:
 * etcd says the lease is gone (TTL 0, not found), or no keep-alive has succeeded for a whole TTL
 * (etcd may well have expired it by then; etcd3 would only say so after 2 x TTL). After a loss the
 * keep-alives stop: the owner grants a new lease and rewrites its keys.
 */
export class EtcdStoreLease implements Lease {
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
    if (this.storeClosed()) throw new StoreClosedError(`revoke lease ${this.id} (its keys expire after the TTL)`);
    if (this.timer) clearInterval(this.timer);
    this.done = true;
    this.forget();
    try {
      await this.inner.revoke();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw isRecoverableError(e as Error)
        ? new StoreUnavailableError(`revoke lease ${this.id}: etcd is unavailable (${msg})`, { cause: e })
        : new Error(`revoke lease ${this.id}: ${msg}`, { cause: e });
    }
  }

  release(): void {
    if (!this.done) this.stop();
  }
}
