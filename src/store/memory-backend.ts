/**
 * The in-process store's data: one global revision counter, per-key create/mod revisions and
 * versions, history for watches from a past revision, compaction, leases that expire unless kept
 * alive. MemoryStore (memory.ts) is the Store API over it; several stores may share one backend.
 */
import {
  MAX_REQUEST_BYTES,
  StoreRequestError,
  type Compare,
  type KeyValue,
  type Op,
  type TxnResult,
  type WatchEvent,
} from './store.js';
import { steadyNow } from '../util/clock.js';

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
export interface HistoryRecord {
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

export interface BackendWatcher {
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

export function inPrefix(key: string, prefix: string): boolean {
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
    if (rec.expiresAt !== 0 && steadyNow() >= rec.expiresAt) {
      this.expire(rec);
      return false;
    }
    rec.expiresAt = steadyNow() + rec.ttlSeconds * 1000;
    if (!rec.timer) this.armExpiry(rec);
    return true;
  }

  private armExpiry(rec: LeaseRecord): void {
    rec.timer = setTimeout(
      () => {
        rec.timer = undefined;
        if (!this.leases.has(rec.id)) return;
        if (steadyNow() < rec.expiresAt) this.armExpiry(rec);
        else this.expire(rec);
      },
      Math.max(0, rec.expiresAt - steadyNow()) + 1,
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
