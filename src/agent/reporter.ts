/**
 * The reporter: state/<machine>/<unit> for each unit gitfleet owns here, bound to the machine's
 * lease (a machine that dies takes its reports with it). A report says what systemd says (load,
 * active, sub), the hash of the file on disk, the drift repairs made and how healthy it is.
 *
 * Units are marked dirty (a systemd signal, a pass, a resync) and written in batches: only reports
 * that changed since the last write, in transactions of at most MAX_TXN_OPS; a unit whose file is
 * gone has its report deleted. A failed write keeps the units dirty and retries a second later.
 * Nothing is written without a lease; when the lease is lost, every report vanished with it, so
 * all are written again after registering.
 */
import type { Logger } from '../log.js';
import { Backoff } from '../util/backoff.js';
import { unitStateKey, type UnitStateReport } from '../store/keys.js';
import { MAX_TXN_OPS, type Lease, type Op, type Store } from '../store/store.js';
import type { UnitState } from '../systemd/manager.js';
import type { DriftRepair } from './drift.js';
import type { HealthTracker } from './health-tracker.js';
import type { UnitDir } from './unit-dir.js';

export interface ReporterOptions {
  store: Store;
  machineId: string;
  log: Logger;
  /** The machine's lease while it is registered, else null. */
  lease(): Lease | null;
  /** The units gitfleet owns here, and the hash of each file (none: its report is deleted). */
  unitDir: Pick<UnitDir, 'names' | 'hashOf'>;
  /** The drift repairs made to each unit. */
  drift: Pick<DriftRepair, 'repairs'>;
  /** How healthy each unit's content is (src/agent/health-tracker.ts); told what systemd says too. */
  health?: Pick<HealthTracker, 'verdict' | 'observe'>;
}

const UNKNOWN = { load: 'unknown', active: 'unknown', sub: 'unknown' };

/** A signal's report is written this soon: the signals of one burst go out together. */
const SIGNAL_FLUSH_MS = 5;
/** ... or this soon while a pass runs, whose own flush at its end usually comes first. */
const PASS_FLUSH_MS = 200;

export class Reporter {
  private readonly states = new Map<string, UnitState>();
  /** What is in the store now: unit -> the report's JSON. */
  private readonly reported = new Map<string, string>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private stopped = false;
  /** Agent passes running (signals meanwhile are flushed at PASS_FLUSH_MS, or by the pass). */
  private passes = 0;
  /** A failed write is retried after 1 s, then longer, spread so that agents do not retry in step. */
  private readonly retry = new Backoff({ minMs: 1_000, maxMs: 10_000, jitter: 0.5 });

  constructor(private readonly o: ReporterOptions) {}

  /** What systemd last said of every unit the agent owns (for the units-by-state metric). */
  unitStates(): Iterable<UnitState> {
    return this.states.values();
  }

  /** What systemd last said of `unit`. */
  state(unit: string): UnitState | undefined {
    return this.states.get(unit);
  }

  /** systemd said this about a unit (a signal, or a listing). */
  observe(s: UnitState): void {
    this.states.set(s.name, s);
    this.o.health?.observe(s);
  }

  /** systemd signalled a change of a unit gitfleet owns: report it soon. */
  signal(s: UnitState): void {
    this.observe(s);
    this.mark(s.name);
    // During a pass its own flush at the end writes what its jobs did: a unit's way through
    // "activating" to "active" is then one report, not two (half of 1,000 agents' report writes
    // on a 10,000-unit commit). A pass that runs long still reports at this pace meanwhile.
    this.flushSoon(this.passes > 0 ? PASS_FLUSH_MS : SIGNAL_FLUSH_MS);
  }

  /** Run `pass` (an agent pass, which ends with a flush) with signals' reports held back a little. */
  async during<T>(pass: () => Promise<T>): Promise<T> {
    this.passes++;
    try {
      return await pass();
    } finally {
      this.passes--;
    }
  }

  /** The unit's report may have changed: write it with the next flush. */
  mark(unit: string): void {
    this.dirty.add(unit);
  }

  /** Every unit's report may have changed (systemd resynced). */
  markAll(): void {
    for (const u of this.o.unitDir.names()) this.dirty.add(u);
  }

  /** The unit was unloaded: forget its state; the next flush deletes its report. */
  forget(unit: string): void {
    this.states.delete(unit);
    this.dirty.add(unit);
  }

  /** The lease is gone and every report with it: all are written again once there is a lease. */
  leaseLost(): void {
    this.reported.clear();
    this.markAll();
  }

  /** Units marked and not yet written. */
  get pending(): number {
    return this.dirty.size;
  }

  /** Flush after `delayMs` (signals of one burst go out together). */
  flushSoon(delayMs = SIGNAL_FLUSH_MS): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush().catch(() => {});
    }, delayMs);
    this.timer.unref();
  }

  /** Write every marked report; one write at a time, and one more if units were marked meanwhile. */
  flush(): Promise<void> {
    // This flush writes every marked report: a timed one still pending (a signal during a pass
    // waits PASS_FLUSH_MS) would only hold back the next signal's.
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.writing) return this.writing.then(() => (this.dirty.size > 0 ? this.flush() : undefined));
    this.writing = this.write().finally(() => {
      this.writing = null;
    });
    return this.writing;
  }

  /** No more timed flushes; resolves when the write in flight (if any) has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.writing) await this.writing.catch(() => {});
  }

  private async write(): Promise<void> {
    const lease = this.o.lease();
    if (!lease || this.dirty.size === 0) return;
    const units = [...this.dirty];
    this.dirty.clear();
    const ops: Op[] = [];
    const next = new Map<string, string | null>();
    for (const unit of units) {
      const key = unitStateKey(this.o.machineId, unit);
      const hash = this.o.unitDir.hashOf(unit);
      if (hash === undefined) {
        if (this.reported.has(unit)) {
          ops.push({ op: 'delete', key });
          next.set(unit, null);
        }
        continue;
      }
      const s = this.states.get(unit) ?? UNKNOWN;
      const report: UnitStateReport = { load: s.load, active: s.active, sub: s.sub, hash };
      const repairs = this.o.drift.repairs(unit);
      if (repairs) report.driftRepairs = repairs;
      const health = this.o.health?.verdict(unit, hash);
      if (health) report.health = health;
      const json = JSON.stringify(report);
      if (this.reported.get(unit) === json) continue;
      ops.push({ op: 'put', key, value: json, lease: lease.id });
      next.set(unit, json);
    }
    try {
      for (let i = 0; i < ops.length; i += MAX_TXN_OPS) await this.o.store.txn([], ops.slice(i, i + MAX_TXN_OPS));
      for (const [unit, json] of next) {
        if (json === null) this.reported.delete(unit);
        else this.reported.set(unit, json);
      }
      this.retry.reset();
    } catch (e) {
      for (const u of units) this.dirty.add(u);
      const retryInMs = Math.round(this.retry.next());
      this.o.log.warn('could not write unit state reports; retrying', { error: e as Error, retryInMs });
      if (!this.stopped) this.flushSoon(retryInMs);
    }
  }
}
