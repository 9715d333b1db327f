/**
 * A key prefix kept in memory: read once with range(), then kept up to date by a watch from the
 * range's revision and by the owner's own writes (written through as soon as etcd accepts them,
 * since their watch events may come later). Each key remembers the revision it was last changed
 * at, deletions included, so an event older than what is known (our write-through came first)
 * changes nothing. The engine reads what it plans on from these instead of ranging over every
 * machine, schedule entry and report on every pass.
 *
 * Values are decoded once, when they change, by the decoder the owner gives (records.ts); a
 * malformed value is kept as `null` and handed to onBad, like the readers do.
 */
import { MalformedRecordError } from './records.js';
import type { KeyValue, Op, Store, Watch, WatchEvent } from './store.js';

export interface MirrorHooks<T> {
  /** Decode one stored value; throw MalformedRecordError for a bad one. */
  decode(kv: KeyValue): T;
  /** A key's value became `value` (null: malformed). */
  set?(key: string, value: T | null): void;
  /** A key was deleted. */
  deleted?(key: string): void;
  onBad?(e: MalformedRecordError): void;
}

export class PrefixMirror<T> {
  readonly values = new Map<string, { rev: number; value: T | null }>();
  /** Deleted keys -> the revision they were deleted at, until the watch has passed it. */
  private readonly tombstones = new Map<string, number>();
  /** The newest revision the watch delivered. */
  private delivered = 0;
  private watch: Watch | null = null;

  constructor(
    readonly prefix: string,
    private readonly hooks: MirrorHooks<T>,
  ) {}

  /**
   * Read the prefix and follow it. `onEvents` is told after each batch of watch events has been
   * applied; `onError` when the watch ended (the owner loads again).
   */
  async load(
    store: Store,
    onEvents: (events: WatchEvent[]) => void,
    onError: (err: Error) => void,
  ): Promise<{ revision: number }> {
    await this.close();
    const { kvs, revision } = await store.range(this.prefix);
    for (const key of this.values.keys()) this.hooks.deleted?.(key);
    this.values.clear();
    this.tombstones.clear();
    this.delivered = revision;
    for (const kv of kvs) this.setKv(kv.key, kv.modRevision, kv);
    this.watch = await store.watch(this.prefix, revision + 1, {
      onEvents: (events) => {
        this.apply(events);
        onEvents(events);
      },
      onError,
    });
    return { revision };
  }

  /** Apply watch events (in revision order). */
  apply(events: readonly WatchEvent[]): void {
    for (const ev of events) {
      const rev = ev.kv.modRevision;
      if (rev > this.delivered) this.delivered = rev;
      if (rev <= this.known(ev.kv.key)) continue;
      if (ev.type === 'put') this.setKv(ev.kv.key, rev, ev.kv);
      else this.remove(ev.kv.key, rev);
    }
    if (this.tombstones.size > 1024) {
      for (const [k, r] of this.tombstones) if (r <= this.delivered) this.tombstones.delete(k);
    }
  }

  /** The owner's transaction of `ops` succeeded at `revision`: what it wrote is what is stored. */
  written(ops: readonly Op[], revision: number): void {
    for (const op of ops) {
      if (op.op === 'deletePrefix') {
        for (const key of [...this.values.keys()]) if (key.startsWith(op.prefix)) this.remove(key, revision);
        continue;
      }
      if (!op.key.startsWith(this.prefix) || revision <= this.known(op.key)) continue;
      if (op.op === 'put') {
        const kv: KeyValue = {
          key: op.key,
          value: op.value,
          createRevision: revision,
          modRevision: revision,
          version: 1,
          lease: op.lease ?? '0',
        };
        this.setKv(op.key, revision, kv);
      } else this.remove(op.key, revision);
    }
  }

  async close(): Promise<void> {
    const w = this.watch;
    this.watch = null;
    await w?.close().catch(() => {});
  }

  private known(key: string): number {
    return this.values.get(key)?.rev ?? this.tombstones.get(key) ?? 0;
  }

  private setKv(key: string, rev: number, kv: KeyValue): void {
    let value: T | null = null;
    try {
      value = this.hooks.decode(kv);
    } catch (e) {
      if (!(e instanceof MalformedRecordError)) throw e;
      this.hooks.onBad?.(e);
    }
    this.tombstones.delete(key);
    this.values.set(key, { rev, value });
    this.hooks.set?.(key, value);
  }

  private remove(key: string, rev: number): void {
    this.tombstones.set(key, rev);
    if (this.values.delete(key)) this.hooks.deleted?.(key);
  }
}
