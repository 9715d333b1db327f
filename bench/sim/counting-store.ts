/**
 * Benchmark measurement: a Store that passes every call through to another and counts the keys it
 * writes. Store.stats() counts requests (a txn of 128 puts is 1 txn and 0 puts); the benchmarks'
 * "etcd writes" figures want both: keys put and deleted (alone or inside a transaction, counting
 * the branch the transaction took) and the number of write requests.
 */
import type {
  Compare,
  KeyValue,
  Lease,
  LeaseOptions,
  Op,
  RangeResult,
  Store,
  StoreStats,
  TxnResult,
  Watch,
  WatchHandler,
  RangeOptions,
} from '../../src/store/store.js';

export interface WriteCounts {
  /** Keys put (by put() or inside transactions). */
  puts: number;
  /** Keys deleted (by delete() or inside transactions). */
  deletes: number;
  /** Transactions sent. */
  txns: number;
  /** Reads sent (get and range pages), as the inner store counts them. */
  ranges: number;
  /** Bytes of values put (optional: older reports lack it), and by the key's first segment. */
  bytes?: number;
  bytesBy?: Record<string, number>;
}

export class CountingStore implements Store {
  private readonly counts = { puts: 0, deletes: 0, txns: 0, bytes: 0 };
  private readonly bytesBy: Record<string, number> = {};

  private putBytes(key: string, value: string): void {
    this.counts.bytes += value.length;
    const seg = key.slice(0, key.indexOf('/') + 1) || key;
    this.bytesBy[seg] = (this.bytesBy[seg] ?? 0) + value.length;
  }

  constructor(readonly inner: Store) {}

  /** What was written so far. */
  writes(): WriteCounts {
    return { ...this.counts, bytesBy: { ...this.bytesBy }, ranges: this.inner.stats().ranges };
  }

  getMany(keys: readonly string[]): Promise<Array<KeyValue | null>> {
    return this.inner.getMany(keys);
  }

  get(key: string): Promise<KeyValue | null> {
    return this.inner.get(key);
  }

  range(prefix: string, opts?: RangeOptions): Promise<RangeResult> {
    return this.inner.range(prefix, opts);
  }

  async put(key: string, value: string, opts?: { lease?: string }): Promise<number> {
    const r = await this.inner.put(key, value, opts);
    this.counts.puts++;
    this.putBytes(key, value);
    return r;
  }

  async delete(key: string): Promise<number> {
    const r = await this.inner.delete(key);
    this.counts.deletes++;
    return r;
  }

  async txn(compares: Compare[], success: Op[], failure?: Op[]): Promise<TxnResult> {
    const r = await this.inner.txn(compares, success, failure);
    this.counts.txns++;
    for (const op of r.succeeded ? success : (failure ?? [])) {
      this.counts[op.op === 'put' ? 'puts' : 'deletes']++;
      if (op.op === 'put') this.putBytes(op.key, op.value);
    }
    return r;
  }

  grantLease(ttlSeconds: number, opts?: LeaseOptions): Promise<Lease> {
    return this.inner.grantLease(ttlSeconds, opts);
  }

  watch(prefix: string, fromRevision: number | undefined, handler: WatchHandler): Promise<Watch> {
    return this.inner.watch(prefix, fromRevision, handler);
  }

  stats(): StoreStats {
    return this.inner.stats();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** b - a, field by field. */
export function delta(a: WriteCounts, b: WriteCounts): WriteCounts {
  const bytes = (b.bytes ?? 0) - (a.bytes ?? 0);
  const bytesBy: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.bytesBy ?? {})) bytesBy[k] = v - (a.bytesBy?.[k] ?? 0);
  return {
    puts: b.puts - a.puts,
    deletes: b.deletes - a.deletes,
    txns: b.txns - a.txns,
    ranges: b.ranges - a.ranges,
    bytes,
    bytesBy,
  };
}

export function fmtWrites(d: WriteCounts): string {
  const by = Object.entries(d.bytesBy ?? {})
    .filter(([, v]) => v >= 50_000)
    .sort((x, y) => y[1] - x[1])
    .map(([k, v]) => `${k} ${(v / 1e6).toFixed(1)}`);
  const mb = d.bytes ? `, ${(d.bytes / 1e6).toFixed(1)} MB of values${by.length ? ` (${by.join(', ')})` : ''}` : '';
  return `${d.puts} puts + ${d.deletes} deletes in ${d.txns} txns${mb} (${d.ranges} reads)`;
}
