/**
 * Engine leadership through one lease-bound key (ENGINE_LEADER). Whoever creates the key leads
 * until its lease ends; every write the leader makes carries `fence()`, a compare on the key's
 * createRevision, so a deposed or paused (SIGSTOP) leader's writes are refused by the store even
 * before it notices it lost.
 *
 * Life cycle: campaign (grant a lease, create the key if absent in one txn) -> leader, or follower
 * watching the key -> on deletion, campaign again. A leader steps down when its lease is lost, when
 * the key is deleted or re-created by someone else, or when a fenced write fails; then it
 * campaigns again with a fresh lease.
 */
import { StalledError, retryKind } from '../errors.js';
import type { Logger } from '../log.js';
import { ENGINE_LEADER } from '../store/keys.js';
import type { Compare, Lease, Store, Watch } from '../store/store.js';
import { Backoff } from '../util/backoff.js';

/** A write was attempted without leadership (or leadership was lost): do nothing more. */
export class NotLeaderError extends StalledError {
  override name = 'NotLeaderError';
}

export interface LeaderElectionOptions {
  store: Store;
  /** This engine's id, the value of the leader key. */
  id: string;
  ttlSeconds: number;
  log: Logger;
  /** Called when this engine becomes leader (fence() is valid from then on). */
  onElected(): void;
  /** Called when this engine stops being leader (lost lease, key gone, failed fence, stop()). */
  onDeposed(reason: string): void;
  /** A fatal error (src/errors.ts) ended the campaign: it is not retried. */
  onFatal?: (e: Error) => void;
}

export class LeaderElection {
  private lease: Lease | null = null;
  /**
   * A lease this engine gave up while etcd did not answer its revoke. etcd may still hold it (an
   * etcd restarted on its data restores leases with a fresh TTL), and with it the leader key: it
   * is revoked as soon as etcd answers, so no election waits a whole TTL for a key nobody keeps.
   */
  private abandoned: Lease | null = null;
  private myCreateRevision = 0;
  private leader = false;
  private stopped = true;
  private watch: Watch | null = null;
  /** Serialises campaigns and step-downs, which events can request at any time. */
  private chain: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | null = null;
  /**
   * Delay before retrying a failed step (store unreachable): doubles up to 1 s, resets on success.
   * A campaign is one small request; after an etcd outage the cluster has no leader until one
   * succeeds, so the engine asks again soon, as agents re-register soon.
   */
  private readonly retry = new Backoff({ minMs: 250, maxMs: 1000 });
  /** Set when a fatal error ended the campaign; stop() still resigns and drops the lease. */
  private fatal: Error | null = null;
  /** Who leads, as last seen (this engine's id when it leads). */
  leaderId: string | null = null;

  constructor(private readonly opts: LeaderElectionOptions) {}

  isLeader(): boolean {
    return this.leader;
  }

  /** The compare every leader write must carry. Throws NotLeaderError when not leading. */
  fence(): Compare {
    if (!this.leader) throw new NotLeaderError(`engine ${this.opts.id} is not the leader`);
    return { key: ENGINE_LEADER, target: 'createRevision', op: '==', value: this.myCreateRevision };
  }

  /**
   * Join the election. Resolves after the first attempt; when the store cannot be reached the
   * engine keeps retrying (with backoff) rather than failing.
   */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.enqueue(() => this.campaign());
    await this.chain;
  }

  /** Resign: delete the key if it is still ours and revoke the lease, so a follower takes over at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await this.chain;
    await this.watch?.close().catch(() => {});
    this.watch = null;
    const wasLeader = this.leader;
    if (wasLeader) {
      this.setFollower('engine stopping');
      await this.opts.store
        .txn(
          [{ key: ENGINE_LEADER, target: 'createRevision', op: '==', value: this.myCreateRevision }],
          [{ op: 'delete', key: ENGINE_LEADER }],
        )
        .catch((e) => this.opts.log.warn('could not delete the leader key on stop', { error: e as Error }));
    }
    await this.dropLease();
    await this.revokeAbandoned().catch(() => {});
  }

  /**
   * A fenced write failed, or the engine otherwise learnt it lost: step down now and campaign again.
   * Safe to call repeatedly.
   */
  lost(reason: string): void {
    if (this.stopped || this.fatal) return;
    this.enqueue(async () => {
      if (this.leader) this.setFollower(reason);
      await this.dropLease();
      await this.campaign();
    });
  }

  private enqueue(fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).then(
      () => this.retry.reset(),
      (e) => {
        if (this.stopped || this.fatal) return;
        if (retryKind(e) === 'fatal') {
          // Retrying cannot help (credentials refused, the store closed): campaign no more.
          this.fatal = e as Error;
          if (this.leader) this.setFollower(`fatal: ${(e as Error).message}`);
          this.opts.log.error('leader election stopped by a fatal error', { error: e as Error });
          this.opts.onFatal?.(e as Error);
          return;
        }
        this.opts.log.warn('leader election step failed; retrying', {
          error: e as Error,
          retryInMs: this.retry.peek(),
        });
        this.scheduleRetry();
      },
    );
  }

  private scheduleRetry(): void {
    if (this.stopped || this.fatal || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.enqueue(() => this.campaign());
    }, this.retry.next());
    this.retryTimer.unref?.();
  }

  private setFollower(reason: string): void {
    if (!this.leader) return;
    this.leader = false;
    this.opts.log.info('engine leadership lost', { id: this.opts.id, reason });
    this.opts.onDeposed(reason);
  }

  private async dropLease(): Promise<void> {
    const l = this.lease;
    this.lease = null;
    if (!l) return;
    try {
      await l.revoke();
    } catch {
      l.release();
      this.abandoned = l;
    }
  }

  /** Revoke a lease given up while etcd was away (see `abandoned`); throws while it still does not answer. */
  private async revokeAbandoned(): Promise<void> {
    const l = this.abandoned;
    if (!l) return;
    await l.revoke();
    this.abandoned = null;
    this.opts.log.info('revoked the lease given up while etcd did not answer', { lease: l.id });
  }

  /** Try to become leader; on success call onElected, else stay a follower watching the key. */
  private async campaign(): Promise<void> {
    if (this.stopped || this.fatal) return;
    const store = this.opts.store;
    await this.revokeAbandoned();
    // Watch first: a deletion after our failed attempt must not go unseen.
    if (!this.watch) await this.watchKey();
    if (this.leader) return;
    if (!this.lease) {
      const lease = await store.grantLease(this.opts.ttlSeconds, {
        onLost: (err) => {
          if (this.lease !== lease) return;
          this.lost(`lease lost: ${err.message}`);
        },
      });
      if (this.stopped) {
        await lease.revoke().catch(() => lease.release());
        return;
      }
      this.lease = lease;
    }
    const r = await store.txn(
      [{ key: ENGINE_LEADER, target: 'createRevision', op: '==', value: 0 }],
      [{ op: 'put', key: ENGINE_LEADER, value: this.opts.id, lease: this.lease.id }],
    );
    if (r.succeeded) {
      // The key was created by this txn, so its createRevision is the txn's revision.
      this.myCreateRevision = r.revision;
      this.leader = true;
      this.leaderId = this.opts.id;
      this.opts.log.info('engine leadership acquired', { id: this.opts.id, revision: r.revision });
      this.opts.onElected();
      return;
    }
    const kv = await store.get(ENGINE_LEADER);
    if (!kv) {
      // Deleted between our txn and the read: try again at once.
      this.enqueue(() => this.campaign());
      return;
    }
    if (kv.value !== this.leaderId) this.opts.log.info('engine leader is another engine', { leader: kv.value });
    this.leaderId = kv.value;
  }

  /**
   * Watch the leader key: its deletion starts a campaign at once (that is how a follower takes over
   * within the TTL); a change of its createRevision while leading means someone else leads.
   */
  private async watchKey(): Promise<void> {
    const store = this.opts.store;
    this.watch = await store.watch(ENGINE_LEADER, undefined, {
      onEvents: (events) => {
        for (const ev of events) {
          if (ev.kv.key !== ENGINE_LEADER) continue;
          if (ev.type === 'delete') {
            this.leaderId = null;
            if (this.leader) this.lost('leader key deleted');
            else if (!this.stopped) this.enqueue(() => this.campaign());
          } else if (ev.kv.createRevision !== this.myCreateRevision || !this.leader) {
            this.leaderId = ev.kv.value;
            if (this.leader) this.lost(`leader key now held by ${ev.kv.value}`);
          }
        }
      },
      onError: (err) => {
        if (this.stopped) return;
        this.opts.log.warn('leader key watch failed; watching again', { error: err });
        this.watch = null;
        const again = async () => {
          if (this.stopped) return;
          await this.watchKey();
          // Anything may have happened while not watching: re-check.
          const kv = await store.get(ENGINE_LEADER);
          if (this.leader && (!kv || kv.createRevision !== this.myCreateRevision))
            this.lost('leader key changed while unwatched');
          else if (!kv) await this.campaign();
        };
        // campaign() re-creates the watch too, should this attempt fail.
        this.enqueue(again);
      },
    });
  }
}
